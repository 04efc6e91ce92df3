"""Matplotlib figures from the files the pipeline writes: one plotting path for every model.

``render_all`` draws every figure a model's data supports (the coefficients and g only for a
learned activation, whose family the caller reads from the params) into a folder and returns
the files; each figure function takes plain rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnistflow.activations import LAYER_COEFFICIENT, NETWORK_COEFFICIENT, Family  # noqa: E402
from mnistflow.evaluation import confusion_matrix  # noqa: E402
from mnistflow.files import atomic_path  # noqa: E402
from mnistflow.parallel import run_forked  # noqa: E402

Rows = Sequence[dict[str, float]]
SPLIT_STYLE = {"train": ("tab:blue", "-"), "val": ("tab:orange", ":"), "test": ("tab:red", "--")}


def _column(rows: Rows, key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


def _epoch_axis(ax: plt.Axes) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def coefficient_keys(row: dict[str, float]) -> list[str]:
    """The learned activation's coefficients in a history row, in order: k0, k1, ... then the
    rational's b1, ... (the means, when each layer has its own)."""
    return [key for key in row if NETWORK_COEFFICIENT.fullmatch(key)]


def k_per_epoch(history: Rows, title: str) -> plt.Figure:
    """Every activation coefficient after every epoch (epoch 0 = initial values); per layer when there are several."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    epochs = _column(history, "epoch")
    layer_keys = sorted(k for k in history[0] if LAYER_COEFFICIENT.fullmatch(k))
    for key in coefficient_keys(history[0]):
        ax.plot(epochs, _column(history, key), marker="o", ms=3, lw=2, label=key + (" (mean)" if layer_keys else ""))
    for key in layer_keys:
        ax.plot(epochs, _column(history, key), lw=1, alpha=0.7, label=key)
    ax.set(xlabel="epoch", ylabel="value", title=f"{title}\nlearned activation parameters per epoch")
    _epoch_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8 if len(layer_keys) > 6 else None)
    return fig


def split_curves(history: Rows, metric: str, title: str) -> plt.Figure:
    """``metric`` ('loss' or 'acc') on train, validation and test after every epoch."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    epochs = _column(history, "epoch")
    for split, (color, style) in SPLIT_STYLE.items():
        values = _column(history, f"{split}_{metric}")
        ax.plot(epochs, values * (100 if metric == "acc" else 1), color=color, ls=style, marker="o", ms=3, label=split)
    label = "accuracy (%)" if metric == "acc" else "cross-entropy loss"
    ax.set(xlabel="epoch", ylabel=label, title=f"{title}\ntrain vs test {label.split(' (')[0]}")
    _epoch_axis(ax)
    if metric == "acc":
        ax.set_ylim(max(0.0, float(np.min(_column(history, "test_acc")[1:] if len(history) > 1 else 0)) * 100 - 3), 100)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def loss_curve(steps: Rows, history: Rows, title: str) -> plt.Figure:
    """Mini-batch training loss against (fractional) epoch, with the per-epoch train loss."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    if steps:
        ax.plot(_column(steps, "epoch"), _column(steps, "loss"), lw=0.8, alpha=0.6, label="mini-batch loss")
    ax.plot(_column(history, "epoch"), _column(history, "train_loss"), marker="o", ms=3, label="train loss (full pass)")
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{title}\nloss curve", yscale="log")
    _epoch_axis(ax)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def confusion_heatmap(matrix: np.ndarray, class_names: Sequence[str], title: str) -> plt.Figure:
    """Counts per (actual, predicted), with row-normalised colour so errors stand out."""
    fig, ax = plt.subplots(figsize=(6, 5.4))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    n = matrix.shape[0]
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7 if n > 2 else 12,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set(xlabel="predicted", ylabel="actual", title=f"{title}\nconfusion matrix (test set)")
    ax.set_xticks(range(n), class_names)
    ax.set_yticks(range(n), class_names, rotation=90 if n == 2 else 0, va="center")
    fig.colorbar(image, ax=ax, label="share of the actual class", fraction=0.046, pad=0.04)
    return fig


def _seen_range(row: dict[str, float], layers: Sequence[int]) -> tuple[float, float]:
    """The pre-activations ``layers`` saw in this row's epoch (its probe), or [-3, 3] for a
    model that records none (the affine g: a line looks the same everywhere)."""
    if "x_lo_l1" not in row:
        return -3.0, 3.0
    return min(float(row[f"x_lo_l{i}"]) for i in layers), max(float(row[f"x_hi_l{i}"]) for i in layers)


def activation_shapes(history: Rows, title: str, g: Family) -> plt.Figure:
    """The learned g(x) of family ``g`` before training and after the last epoch: a curved
    family's drawn over the inputs its layers saw then (the middle 99% of their
    pre-activations), one colour per layer when each layer learns its own; a line with its
    formula in the legend."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    first, last = history[0], history[-1]
    n_layers = len([k for k in first if k.startswith("x_lo_l")])
    per_layer = "k0_l1" in first
    groups = (
        [(f"_l{i}", [i], f"layer {i} ") for i in range(1, n_layers + 1)]
        if per_layer and n_layers
        else [("", list(range(1, n_layers + 1)) or [1], "")]
    )
    if not g.curved:  # the seed's affine g: its formula in the legend, as ever
        for row, style, name in ((first, "--", "first"), (last, "-", "last")):
            k0, k1 = float(row["k0"]), float(row["k1"])
            x = np.linspace(-3, 3, 121)
            ax.plot(x, k0 + k1 * x, ls=style, label=f"{name} (epoch {int(row['epoch'])}): g(x) = {k0:+.3f} {k1:+.3f}·x")
    else:
        for n, (suffix, layers, label) in enumerate(groups):
            for row, style, name in ((first, "--", "first"), (last, "-", "last")):
                x = np.linspace(*_seen_range(row, layers), 201)
                ax.plot(
                    x,
                    g.values(row, x, suffix),
                    ls=style,
                    color=f"C{n}",
                    label=f"{label}{name} (epoch {int(row['epoch'])})",
                )
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(
        xlabel="x (pre-activation; drawn over the middle 99% the layers saw)" if n_layers else "x (pre-activation)",
        ylabel="g(x)",
        title=f"{title}\nlearned activation, first and last epoch",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def roc_curve(roc: Rows, title: str, micro: bool = False) -> plt.Figure:
    """ROC curve points (from ``evaluation.roc_rows``) with the area under them; ``micro``
    says the points are micro-averaged over one-vs-rest classes."""
    fpr, tpr = _column(roc, "fpr"), _column(roc, "tpr")
    auc = float(np.trapezoid(tpr, fpr))
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    ax.plot(fpr, tpr, lw=2, label=f"{'micro-averaged ' if micro else ''}ROC (area {auc:.5f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="chance")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"{title}\nROC curve (test set)",
        xlim=(-0.01, 1),
        ylim=(0, 1.01),
    )
    inset = ax.inset_axes([0.45, 0.12, 0.5, 0.45])
    inset.plot(fpr, tpr, lw=1.5)
    inset.set(xlim=(0, 0.05), ylim=(0.9, 1.0), title="zoom: FPR <= 5%")
    inset.tick_params(labelsize=7)
    inset.title.set_fontsize(8)
    ax.grid(alpha=0.3)
    ax.legend(loc="center", bbox_to_anchor=(0.68, 0.75), fontsize=8)
    return fig


def misclassified_gallery(
    images: np.ndarray,
    confusion: Sequence[dict[str, int]],
    digits: np.ndarray,
    class_names: Sequence[str],
    size: int,
    title: str,
) -> plt.Figure:
    """The first ``size`` misclassified test images, each with its true and predicted label."""
    wrong = [i for i, row in enumerate(confusion) if row["actual"] != row["predicted"]][:size]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    # One image of all the digits (a tile per digit, a band above it for its label) on one
    # axes: an axes with a title per digit costs matplotlib far more than drawing the image.
    show_digit = list(class_names) != [str(d) for d in range(len(class_names))]  # named classes: also the digit
    height, width = images.shape[1:3]
    band = 3 * height // 4 if show_digit else height // 2  # three label lines, or two
    cell_h, cell_w = height + band, width + width // 4
    mosaic = np.full((rows * cell_h, cols * cell_w), np.nan)
    fig, ax = plt.subplots(figsize=(cols * 1.5, rows * 1.75 + 0.6))
    for n, i in enumerate(wrong):
        top, left = (n // cols) * cell_h + band, (n % cols) * cell_w
        mosaic[top : top + height, left : left + width] = images[i]
        true, pred = class_names[confusion[i]["actual"]], class_names[confusion[i]["predicted"]]
        label = f"#{i} ({digits[i]})\ntrue {true}\npred {pred}" if show_digit else f"#{i}\ntrue {true}  pred {pred}"
        ax.text(left + width / 2, top - 1, label, ha="center", va="bottom", fontsize=7, color="firebrick")
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, interpolation="nearest")
    ax.axis("off")
    total = sum(row["actual"] != row["predicted"] for row in confusion)
    fig.suptitle(f"{title}\nmisclassified test digits: first {len(wrong)} of {total}", fontsize=10)
    fig.tight_layout()
    return fig


def render_all(
    history: Rows,
    steps: Rows,
    confusion: Sequence[dict[str, int]],
    roc: Rows,
    images: np.ndarray,
    digits: np.ndarray,
    class_names: Sequence[str],
    gallery_size: int,
    out_dir: Path,
    title: str,
    activation: Family | None = None,
    workers: int = 1,
) -> list[Path]:
    """Draw every figure one model's data supports into ``out_dir``; return the PNG paths.
    ``activation``: the family of the network's learned g (from its params), whose
    coefficients and shape get figures of their own.

    The figures are independent: ``workers`` > 1 draws them in that many processes
    (``parallel.run_forked``), with the same files as one process draws."""
    out_dir.mkdir(parents=True, exist_ok=True)
    matrix = confusion_matrix(list(confusion), n_classes=len(class_names))
    figures: dict[str, Callable[[], plt.Figure]] = {
        "loss_train_vs_test.png": lambda: split_curves(history, "loss", title),
        "accuracy_train_vs_test.png": lambda: split_curves(history, "acc", title),
        "loss_curve.png": lambda: loss_curve(steps, history, title),
        "confusion_matrix.png": lambda: confusion_heatmap(matrix, class_names, title),
        "roc_curve.png": lambda: roc_curve(roc, title, micro=len(class_names) > 2),
        "misclassified.png": lambda: misclassified_gallery(images, confusion, digits, class_names, gallery_size, title),
    }
    if activation is not None and activation.learned:
        figures["k_per_epoch.png"] = lambda: k_per_epoch(history, title)
        figures["activation_first_last.png"] = lambda: activation_shapes(history, title, activation)
    run_forked([lambda draw=draw, name=name: _save(draw(), out_dir / name) for name, draw in figures.items()], workers)
    return [out_dir / name for name in figures]


def render_summary(rows: Rows, out_dir: Path) -> list[Path]:
    """One chart comparing every model's test accuracy and F1."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.7 * len(rows) + 1.6))
    y = np.arange(len(rows))
    acc = np.array([float(r["accuracy"]) for r in rows]) * 100
    f1 = np.array([float(r["f1"]) for r in rows]) * 100
    ax.barh(y - 0.2, acc, height=0.38, label="accuracy", color="tab:blue")
    ax.barh(y + 0.2, f1, height=0.38, label="F1 (macro; square: positive class)", color="tab:orange")
    for yi, a, f in zip(y, acc, f1):
        ax.text(a + 0.05, yi - 0.2, f"{a:.2f}%", va="center", fontsize=8)
        ax.text(f + 0.05, yi + 0.2, f"{f:.2f}", va="center", fontsize=8)
    ax.set_yticks(y, [f"{r['model']}\n{r['description']}" for r in rows], fontsize=8)
    ax.invert_yaxis()
    low = min(acc.min(), f1.min())
    ax.set(xlim=(max(0, low - 2), 100.6), xlabel="test set (%)", title="Models compared on the MNIST test set")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="upper right", fontsize=8)  # beside the top row's shorter bars
    return [_save(fig, out_dir / "comparison.png")]
