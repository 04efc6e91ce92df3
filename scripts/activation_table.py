"""Print docs/activations.md's sweep table (markdown): the learnable activation families against
ReLU on ann's 256-128 network, best validation accuracy first.

    python scripts/activation_table.py [--prefix act-]

Reads `dvc exp show --json --all-commits` (params, metrics/ann-train.json) and, for the time per epoch, each
experiment's queue log (`dvc queue logs NAME`: the median of its epochs' seconds, evaluation
included; "—" once the log is gone). Choose on the validation column; the test column is
there to be read beside it, never to choose by.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mnistflow.activations import FAMILIES  # noqa: E402
from mnistflow.experiments import exp_show  # noqa: E402

EPOCH_SECONDS = re.compile(r"^epoch\s+\d+/\d+ .*\((\d+(?:\.\d+)?) s\)$", re.MULTILINE)


def load(prefix: str) -> list[dict[str, Any]]:
    """The experiments named ``prefix``*, or exit with the line that says how to make them."""
    # --all-commits: the sweep's experiments hang off the commit they ran from, which later
    # commits leave behind.
    try:
        shown = exp_show(all_commits=True)
    except RuntimeError as exc:
        sys.exit(str(exc))
    rows = [
        {**r, "metrics": r["metrics"].get("metrics/ann-train.json", {})} for r in shown if r["name"].startswith(prefix)
    ]
    rows = [r for r in rows if r["metrics"]]
    if not rows:
        sys.exit(f"no finished experiment named {prefix}*; run the sweep in docs/activations.md first")
    return rows


def family(model: dict[str, Any]) -> str:
    """``ann.model``'s activation with its degrees: relu, affine, polynomial 3, rational 3/2."""
    activation = model["activation"]
    if activation == "polynomial":
        return f"polynomial {model['degree']}"
    if activation == "rational":
        return f"rational {model['degree']}/{model['denominator']}"
    return "affine (learnable)" if activation == "learnable" else activation


def n_coefficients(model: dict[str, Any]) -> int:
    """The activation's learned numbers: per set (network: 1, layer: one per hidden layer)."""
    names = FAMILIES[model["activation"]].coefficient_names(model.get("degree", 1), model.get("denominator", 0))
    return len(names) * (1 if model.get("share_k", "network") == "network" else len(model["hidden"]))


def epoch_seconds(name: str) -> float | None:
    """The median epoch time in the experiment's queue log, or None without one."""
    out = subprocess.run(["dvc", "queue", "logs", name], capture_output=True, text=True, check=False)
    times = [float(t) for t in EPOCH_SECONDS.findall(out.stdout)]
    return statistics.median(times) if out.returncode == 0 and times else None


def table(rows: list[dict[str, Any]], seconds: dict[str, float | None]) -> str:
    lines = [
        "| experiment | activation | span | activation parameters | validation accuracy | test accuracy | s / epoch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda r: -r["metrics"]["val_acc"]):
        model, m = row["params"]["ann"]["model"], row["metrics"]
        span = model.get("span", 0.0) if model["activation"] in ("polynomial", "rational") else None
        time = seconds.get(row["name"])
        lines.append(
            f"| `{row['name']}` | {family(model)} | {'—' if span is None else (span or 'none')} | "
            f"{n_coefficients(model)} | "
            f"{m['val_acc']:.2%} | {m['test_acc']:.2%} | {'—' if time is None else f'{time:.1f}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="act-", help="experiment names to list (default: act-)")
    args = parser.parse_args()
    rows = load(args.prefix)
    print(table(rows, {row["name"]: epoch_seconds(row["name"]) for row in rows}))


if __name__ == "__main__":
    main()
