"""Stage plot@<model>: the model's PNGs (curves, confusion matrix, ROC, misclassified digits).

Usage: python -m stages.plot MODEL
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.activations import family
    from mnistflow.config import load_params
    from mnistflow.workflow.plot import plot

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.plot MODEL")
    params = load_params(paths.PARAMS)
    section = params.section(sys.argv[1])
    # Every network's family: a learned one (fully connected or convolutional) gets its figures.
    plot(sys.argv[1], params.plot.gallery_size, family(section.model.activation))


if __name__ == "__main__":
    run(main)
