"""Print README's results table (markdown) from the committed metrics files.

    python scripts/results_table.py [--root PROJECT]

Reads reports/summary.json and metrics/<model>.json, metrics/<model>-train.json for the models
in dvc.yaml, so the table always shows what `dvc metrics show` shows; the seed figures and bars
are the project's targets (each model's entry in dvc.yaml's `vars: models`). The report stage's page
(reports/index.html) shows the same rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mnistflow.paths import DVC_YAML, pipeline_models  # noqa: E402
from mnistflow.report import load_results, results_markdown  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the project folder (default: this checkout)")
    root = parser.parse_args(argv).root
    print(results_markdown(load_results(pipeline_models(root / DVC_YAML), root)), end="")


if __name__ == "__main__":
    main()
