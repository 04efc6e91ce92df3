"""Stage report: reports/index.html, one self-contained page with every model's results,
figures and params.

Usage: python -m stages.report   (the models are dvc.yaml's `vars: models`)
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.report import write_report

    if len(sys.argv) != 1:
        sys.exit("usage: python -m stages.report")
    write_report(paths.pipeline_models())


if __name__ == "__main__":
    run(main)
