"""Matplotlib figures from the files the pipeline writes: one plotting path for every model.

``render_all`` draws every figure a model's data supports (k0/k1 only for the learnable
activation) into a folder and returns the files; each figure function takes plain rows.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnistflow.evaluation import confusion_matrix  # noqa: E402
from mnistflow.files import atomic_path  # noqa: E402

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


def k_per_epoch(history: Rows, title: str) -> plt.Figure:
    """k0 and k1 after every epoch (epoch 0 = initial values); per layer when there are several."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    epochs = _column(history, "epoch")
    layer_keys = sorted(k for k in history[0] if k.startswith(("k0_l", "k1_l")))
    for key in ("k0", "k1"):
        ax.plot(epochs, _column(history, key), marker="o", ms=3, lw=2, label=key + (" (mean)" if layer_keys else ""))
    for key in layer_keys:
        ax.plot(epochs, _column(history, key), lw=1, alpha=0.7, label=key)
    ax.set(xlabel="epoch", ylabel="value", title=f"{title}\nlearned activation parameters per epoch")
    _epoch_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend()
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


def confusion_heatmap(matrix: np.ndarray, title: str) -> plt.Figure:
    """Counts per (actual, predicted), with row-normalised colour so errors stand out."""
    fig, ax = plt.subplots(figsize=(6, 5.4))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    n = matrix.shape[0]
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color="white" if share[i, j] > 0.5 else "black")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="actual", title=f"{title}\nconfusion matrix (test set)")
    fig.colorbar(image, ax=ax, label="share of the actual class", fraction=0.046, pad=0.04)
    return fig


def activation_shapes(history: Rows, title: str) -> plt.Figure:
    """g(x) = k0 + k1*x with the k values before training and after the last epoch."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    x = np.linspace(-3, 3, 121)
    for row, style, name in ((history[0], "--", "first"), (history[-1], "-", "last")):
        k0, k1 = float(row["k0"]), float(row["k1"])
        ax.plot(x, k0 + k1 * x, ls=style, label=f"{name} (epoch {int(row['epoch'])}): g(x) = {k0:+.3f} {k1:+.3f}·x")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(xlabel="x (pre-activation)", ylabel="g(x)", title=f"{title}\nlearned activation, first and last epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def render_all(history: Rows, steps: Rows, confusion: Sequence[dict[str, int]], out_dir: Path, title: str) -> list[Path]:
    """Draw every figure the data supports into ``out_dir``; return the PNG paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [
        _save(split_curves(history, "loss", title), out_dir / "loss_train_vs_test.png"),
        _save(split_curves(history, "acc", title), out_dir / "accuracy_train_vs_test.png"),
        _save(loss_curve(steps, history, title), out_dir / "loss_curve.png"),
        _save(confusion_heatmap(confusion_matrix(list(confusion)), title), out_dir / "confusion_matrix.png"),
    ]
    if "k0" in history[0]:
        files.append(_save(k_per_epoch(history, title), out_dir / "k_per_epoch.png"))
        files.append(_save(activation_shapes(history, title), out_dir / "activation_first_last.png"))
    return files
