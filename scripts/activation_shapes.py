"""Draw the sweep's learned activations side by side (docs/activations.png).

    python scripts/activation_shapes.py [--prefix act-] [--out docs/activations.png]

One panel per learnable experiment of the sweep (scripts/activation_table.py lists them), in
the table's order (best validation accuracy first): g(x) before training (dashed) and after the
last epoch, each over the middle 99% of the pre-activations its layers saw (the history's
x_lo/x_hi columns), from the experiment's committed plots/ann/history.csv.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "src")]

from activation_table import family, load  # noqa: E402
from mnistflow.files import _parse_number  # noqa: E402
from mnistflow.activations import FAMILIES  # noqa: E402
from mnistflow.plotting import _save, _seen_range, plt  # noqa: E402

import numpy as np  # noqa: E402


def history(rev: str) -> list[dict]:
    """The experiment's per-epoch history, as committed in its git ref."""
    text = subprocess.run(
        ["git", "show", f"{rev}:plots/ann/history.csv"], capture_output=True, text=True, check=True
    ).stdout
    return [{k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def panel(ax, rows: list[dict], activation: str, span: float, title: str) -> None:
    first, last = rows[0], rows[-1]
    layers = [i for i in (1, 2, 3, 4, 5, 6) if f"x_lo_l{i}" in first] or [1]
    for row, style, name in ((first, "--", "start"), (last, "-", f"epoch {int(last['epoch'])}")):
        row = {"span": span, **row}  # histories from before the span column: the experiment's param
        x = np.linspace(*_seen_range(row, layers), 201)
        ax.plot(
            x, FAMILIES[activation].values(row, x), ls=style, color="tab:blue" if style == "-" else "grey", label=name
        )
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="act-")
    parser.add_argument("--out", default="docs/activations.png")
    args = parser.parse_args()
    rows = [r for r in load(args.prefix) if r["params"]["ann"]["model"]["activation"] != "relu"]
    rows.sort(key=lambda r: -r["metrics"]["val_acc"])
    cols = 4
    fig, axes = plt.subplots(
        math.ceil(len(rows) / cols), cols, figsize=(3.4 * cols, 2.9 * math.ceil(len(rows) / cols)), squeeze=False
    )
    for ax, row in zip(axes.flat, rows):
        model = row["params"]["ann"]["model"]
        title = (
            f"{row['name']}: {family(model)}\nval {row['metrics']['val_acc']:.2%}, test "
            f"{row['metrics']['test_acc']:.2%}"
        )
        panel(ax, history(row["rev"]), model["activation"], float(model.get("span", 0.0)), title)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle(
        "ann 256-128, 10 epochs: the learned g(x) over the pre-activations its layers saw (middle 99%)", fontsize=11
    )
    fig.tight_layout()
    print(_save(fig, Path(args.out)))


if __name__ == "__main__":
    main()
