"""Print README's architecture-sweep table (markdown) from `dvc exp show --json`.

    python scripts/sweep_table.py [--prefix arch-]

Lists every experiment whose name starts with the prefix (the sweep README describes), with
the hidden layers, activation and backend it ran with and the test metrics of `ann`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mnistflow.experiments import exp_show  # noqa: E402


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| experiment | hidden layers | activation | backend | epochs | test accuracy | F1 | log-loss |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(
        rows, key=lambda r: (len(r["params"]["ann"]["model"]["hidden"]), r["params"]["ann"]["model"]["hidden"])
    ):
        ann = row["params"]["ann"]
        m = row["metrics"].get("metrics/ann.json", {})
        acc = f"{m['accuracy']:.2%}" if "accuracy" in m else "—"
        lines.append(
            f"| `{row['name']}` | {ann['model']['hidden']} | {ann['model']['activation']} | "
            f"{ann['train'].get('backend', 'torch')} | "
            f"{ann['train']['epochs']} | {acc} | {m.get('f1', float('nan')):.4f} | "
            f"{m.get('log_loss', float('nan')):.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="arch-", help="experiment names to list (default: arch-)")
    args = parser.parse_args()
    try:
        rows = [r for r in exp_show() if r["name"].startswith(args.prefix)]
    except RuntimeError as exc:
        sys.exit(str(exc))
    if not rows:
        sys.exit(f"no experiment named {args.prefix}*; run the sweep in README first")
    print(table(rows))


if __name__ == "__main__":
    main()
