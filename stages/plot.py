"""Stage plot@<model>: the model's PNGs (curves, confusion matrix, ROC, misclassified digits).

Usage: python -m stages.plot MODEL
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import load_params
    from mnistflow.workflow.plot import plot

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.plot MODEL")
    plot(sys.argv[1], load_params(paths.PARAMS).plot.gallery_size)


if __name__ == "__main__":
    run(main)
