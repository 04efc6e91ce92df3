"""Stage evaluate@<model>: test metrics, per-class rows, ROC and confusion rows, from the saved test answers.

Usage: python -m stages.evaluate MODEL
"""

import sys

from stages import run


def main() -> None:
    from mnistflow.workflow.evaluate import evaluate

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.evaluate MODEL")
    evaluate(sys.argv[1])


if __name__ == "__main__":
    run(main)
