"""Stage evaluate: scikit-learn metrics and confusion rows on the test set, per model.

Usage: python -m stages.evaluate MODEL [MODEL ...]
"""
import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import load_params
    from mnistflow.workflow import evaluate_model

    cfg = load_params(paths.PARAMS).evaluate
    for model in sys.argv[1:] or ["ann"]:
        evaluate_model(model, cfg.batch_size)


if __name__ == "__main__":
    run(main)
