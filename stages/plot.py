"""Stage plot: matplotlib PNGs of each model's history, loss curve and confusion matrix.

Usage: python -m stages.plot MODEL [MODEL ...]
"""
import sys

from stages import run


def main() -> None:
    from mnistflow.workflow import plot_model

    for model in sys.argv[1:] or ["ann"]:
        plot_model(model)


if __name__ == "__main__":
    run(main)
