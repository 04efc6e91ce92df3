"""Validation table and accuracy-against-cost chart of the trials in a ``scripts/trial.py --log`` file.

Usage:
    python scripts/trial_table.py docs/trials-issue27.jsonl --costs docs/trials-issue27-costs.json
        [--chart docs/trials-issue27.png]

Each run of ``trial.py`` scores several candidates at its last epoch (``variants``: the last
step's weights and each weight average, each without and with test-time augmentation); a
candidate is (model, tag, variant). Prints one markdown row per candidate with its validation
accuracy on each seed, their mean, min and max, and the cost from the costs file
(``{"model/tag/variant": cost}``, the run's reference-epoch ratio to the committed setting; a
candidate not in it is left out of the chart). Validation only: the log has no test figure.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def candidates(log: Path) -> dict[str, dict[int, float]]:
    """``{"model/tag/variant": {seed: val_acc}}``; a run without variants is its ``val_acc``."""
    found: dict[str, dict[int, float]] = defaultdict(dict)
    for line in log.read_text().splitlines():
        run = json.loads(line)
        scores = run.get("variants") or {"raw/none": run["val_acc"]}
        for variant, acc in scores.items():
            found[f"{run['model']}/{run['tag']}/{variant}"][run["seed"]] = acc
    return found


def table(found: dict[str, dict[int, float]], costs: dict[str, object]) -> list[str]:
    rows = ["| candidate (model/setting/weights/tta) | val seed 0 / 1 / 2 | mean | min | max | cost |"]
    rows.append("| --- | --- | --- | --- | --- | --- |")
    for name, seeds in found.items():
        values = [seeds.get(s) for s in (0, 1, 2)]
        shown = " / ".join("–" if v is None else f"{v:.2%}" for v in values)
        got = [v for v in values if v is not None]
        stats = f"{np.mean(got):.2%} | {min(got):.2%} | {max(got):.2%}" if len(got) == 3 else "| |"
        rows.append(f"| {name} | {shown} | {stats} | {costs.get(name, '')} |")
    return rows


def chart(found: dict[str, dict[int, float]], costs: dict[str, object], chosen: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, model in zip(axes, ("deepcnn", "square")):
        for name, seeds in found.items():
            if not name.startswith(f"{model}/") or len(seeds) < 3 or name not in costs:
                continue
            cost, acc = float(str(costs[name]).lstrip("~")), np.array(list(seeds.values())) * 100
            mark = name in chosen
            ax.errorbar(
                cost,
                acc.mean(),
                yerr=[[acc.mean() - acc.min()], [acc.max() - acc.mean()]],
                fmt="*" if mark else "o",
                ms=12 if mark else 5,
                color="C3" if mark else "C0",
                capsize=3,
            )
            ax.annotate(
                name.split("/", 1)[1], (cost, acc.mean()), fontsize=6, xytext=(4, 2), textcoords="offset points"
            )
        bar, floor = {"deepcnn": (99.65, 99.55), "square": (99.75, 99.65)}[model]
        ax.axhline(bar, color="C2", lw=1, ls="--", label=f"bar: mean ≥ {bar}%")
        ax.axhline(floor, color="C1", lw=1, ls=":", label=f"floor: every seed ≥ {floor}%")
        ax.axvline(1.5, color="grey", lw=1, ls="-.", label="cost limit 1.5×")
        ax.set(title=model, xlabel="cost (reference-epoch ratio to the committed setting)", ylabel="validation %")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Validation accuracy against cost, mean of seeds 0-2 (bars: min-max); star: chosen", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log", type=Path)
    ap.add_argument("--costs", type=Path)
    ap.add_argument("--chosen", nargs="*", default=[])
    ap.add_argument("--chart", type=Path)
    args = ap.parse_args()
    found = candidates(args.log)
    costs = json.loads(args.costs.read_text()) if args.costs else {}
    print("\n".join(table(found, costs)))
    if args.chart:
        chart(found, costs, args.chosen, args.chart)


if __name__ == "__main__":
    main()
