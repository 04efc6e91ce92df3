"""Print README's architecture-sweep table (markdown) from `dvc exp show --json`.

    python scripts/sweep_table.py [--prefix arch-]

Lists every experiment whose name starts with the prefix (the sweep README describes), with
the hidden layers, activation and backend it ran with and the test metrics of `ann`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any


def experiments(show: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten `dvc exp show --json` into one dict per experiment: name, params, metrics."""
    rows = []
    for baseline in show:
        for group in baseline.get("experiments") or []:
            for rev in group.get("revs") or []:
                data = rev.get("data") or {}
                params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
                metrics = {path: (m or {}).get("data") or {} for path, m in (data.get("metrics") or {}).items()}
                rows.append({"name": rev.get("name") or rev["rev"][:7], "params": params, "metrics": metrics})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| experiment | hidden layers | activation | backend | epochs | test accuracy | F1 | log-loss |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda r: (len(r["params"]["ann"]["model"]["hidden"]), r["params"]["ann"]["model"]["hidden"])):
        ann = row["params"]["ann"]
        m = row["metrics"].get("metrics/ann.json", {})
        acc = f"{m['accuracy']:.2%}" if "accuracy" in m else "—"
        lines.append(
            f"| `{row['name']}` | {ann['model']['hidden']} | {ann['model']['activation']} | {ann['train'].get('backend', 'torch')} | "
            f"{ann['train']['epochs']} | {acc} | {m.get('f1', float('nan')):.4f} | {m.get('log_loss', float('nan')):.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="arch-", help="experiment names to list (default: arch-)")
    args = parser.parse_args()
    out = subprocess.run(["dvc", "exp", "show", "--json"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"dvc exp show failed: {out.stderr.strip()}")
    rows = [r for r in experiments(json.loads(out.stdout)) if r["name"].startswith(args.prefix)]
    if not rows:
        sys.exit(f"no experiment named {args.prefix}*; run the sweep in README first")
    print(table(rows))


if __name__ == "__main__":
    main()
