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
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


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


# The stage-cost limit each model's candidates must keep to (issue 27): the deep CNN and square
# may cost 1.5x their committed stage, the others 1.2x.
COST_LIMIT = {"deepcnn": 1.5, "square": 1.5}
DEFAULT_COST_LIMIT = 1.2


def frontier(points: dict[str, tuple[float, float]]) -> list[str]:
    """The candidates no cheaper one matches: by cost, each whose mean beats every cheaper one's."""
    best, kept = -1.0, []
    for name, (cost, mean) in sorted(points.items(), key=lambda item: (item[1][0], -item[1][1])):
        if mean > best:
            best, kept = mean, [*kept, name]
    return kept


def chart(found: dict[str, dict[int, float]], costs: dict[str, object], chosen: list[str], path: Path) -> None:
    """One panel per model with costed candidates: each candidate's mean (bars: min-max), the
    frontier a user picks from (labelled), the chosen ones starred, the model's bar and floor
    (dvc.yaml) and its cost limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(ROOT / "src"))
    from mnistflow import paths
    from mnistflow.columns import Bar

    entries = paths.pipeline_entries(ROOT / paths.DVC_YAML)
    runs = {name: seeds for name, seeds in found.items() if len(seeds) == 3 and name in costs}
    models = [m for m in entries if any(name.startswith(f"{m}/") for name in runs)]
    fig, axes = plt.subplots(-(-len(models) // 2), 2, figsize=(11, 4.2 * -(-len(models) // 2)), squeeze=False)
    for ax, model in zip(axes.flat, models):
        acc = {n: np.array(list(s.values())) * 100 for n, s in runs.items() if n.startswith(f"{model}/")}
        points = {n: (float(str(costs[n]).lstrip("~")), a.mean()) for n, a in acc.items()}
        labelled = set(frontier(points)) | set(chosen)
        for name, a in acc.items():
            (cost, mean), mark = points[name], name in chosen
            ax.errorbar(
                cost,
                mean,
                yerr=[[mean - a.min()], [a.max() - mean]],
                fmt="*" if mark else "o",
                ms=12 if mark else 5,
                color="C3" if mark else "C0" if name in labelled else "0.7",
                capsize=3,
                zorder=3 if mark else 2,
            )
            if name in labelled:
                ax.annotate(name.split("/", 1)[1], (cost, mean), fontsize=6, xytext=(4, 2), textcoords="offset points")
        bar = Bar.parse(model, entries[model].get("bar"))
        if bar is not None:
            label = f"bar: mean ≥ {bar.mean:.2%}" if bar.floor != bar.mean else f"bar: every seed ≥ {bar.floor:.2%}"
            ax.axhline(bar.mean * 100, color="C2", lw=1, ls="--", label=label)
            if bar.floor != bar.mean:
                ax.axhline(bar.floor * 100, color="C1", lw=1, ls=":", label=f"floor: every seed ≥ {bar.floor:.2%}")
        limit = COST_LIMIT.get(model, DEFAULT_COST_LIMIT)
        ax.axvline(limit, color="grey", lw=1, ls="-.", label=f"cost limit {limit}×")
        ax.set(title=model, xlabel="cost (reference-epoch ratio to the committed setting)", ylabel="validation %")
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.flat[len(models) :]:
        ax.remove()
    fig.suptitle(
        "Validation accuracy against cost, mean of seeds 0-2 (bars: min-max); labelled: the frontier; star: chosen",
        fontsize=9,
    )
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
