"""Stage track: add every model's test metrics, evaluation files and figures to its MLflow run.

Usage: python -m stages.track [MODEL ...]   (default: every model of dvc.yaml's `vars: models`)
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.workflow.track import track

    models = paths.pipeline_models()
    unknown = [name for name in sys.argv[1:] if name not in models]
    if unknown:
        sys.exit(f"usage: python -m stages.track [MODEL ...]; {unknown[0]} is not one of {', '.join(models)}")
    track(sys.argv[1:] or models)


if __name__ == "__main__":
    run(main)
