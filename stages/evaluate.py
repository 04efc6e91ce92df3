"""Stage evaluate@<model>: scikit-learn metrics, per-class rows, ROC and confusion rows.

Usage: python -m stages.evaluate MODEL
"""
import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import load_params
    from mnistflow.workflow.evaluate import evaluate

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.evaluate MODEL")
    evaluate(sys.argv[1], load_params(paths.PARAMS).evaluate.batch_size)


if __name__ == "__main__":
    run(main)
