"""What each stage does, one module per stage, so a stage imports (and dvc.yaml lists) only its own.

``train`` trains any model of the pipeline, ``evaluate`` computes its test metrics, ``plot``
draws its figures, ``summary`` compares them all. Each writes the outs dvc.yaml declares and
records the same in MLflow through ``tracking``; the stage scripts only parse arguments.
Nothing is imported here: importing one stage's module must not load the others.
"""
