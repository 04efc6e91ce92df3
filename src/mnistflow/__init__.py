"""mnistflow: a reproducible MNIST pipeline (DVC stages, PyTorch models, MLflow tracking).

Data flows one way: params.yaml -> stages/ (thin entry points) -> this package -> files DVC
tracks. Nothing here imports a stage, and nothing below the training loop knows about DVC or
MLflow (``tracking`` is the only module that imports mlflow).
"""
