"""Stage train@<model>: train one model of the pipeline from its params section.

Usage: python -m stages.train MODEL   (ann, mlp, lenet5, deepcnn or square)
"""
import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import load_params
    from mnistflow.workflow.train import train

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.train MODEL")
    train(sys.argv[1], load_params(paths.PARAMS))


if __name__ == "__main__":
    run(main)
