"""Stage summary: every model's test metrics side by side, and the comparison chart.

Usage: python -m stages.summary   (the models are dvc.yaml's `vars: models`)
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.workflow.summary import summarize

    if len(sys.argv) != 1:
        sys.exit("usage: python -m stages.summary")
    summarize(paths.pipeline_models())


if __name__ == "__main__":
    run(main)
