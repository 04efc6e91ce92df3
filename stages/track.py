"""Stage track: add every model's test metrics, evaluation files and figures to its MLflow run.

Usage: python -m stages.track   (the models are dvc.yaml's `vars: models`)
"""
import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.workflow.track import track

    if len(sys.argv) != 1:
        sys.exit("usage: python -m stages.track")
    track(paths.pipeline_models())


if __name__ == "__main__":
    run(main)
