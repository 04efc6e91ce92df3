"""Every figure is drawn from plain rows: learnable, ReLU and binary models, and the summary."""

from __future__ import annotations

import numpy as np

from mnistflow.activations import FAMILIES
from mnistflow.plotting import render_all, render_summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COMMON = [
    "loss_train_vs_test.png",
    "accuracy_train_vs_test.png",
    "loss_curve.png",
    "confusion_matrix.png",
    "roc_curve.png",
    "misclassified.png",
]


def history(with_k: bool):
    rows = []
    for epoch in range(4):
        row = {"epoch": epoch, "lr": 0.001}
        for split in ("train", "val", "test"):
            row[f"{split}_loss"] = 2.3 / (epoch + 1)
            row[f"{split}_acc"] = 0.1 + 0.2 * epoch
        if with_k:
            row.update(k0=0.05 * epoch, k1=1 - 0.05 * epoch)
        rows.append(row)
    return rows


def draw(tmp_path, name, with_k, n_classes, workers=1):
    rng = np.random.default_rng(0)
    actual = np.arange(200) % n_classes
    predicted = np.where(np.arange(200) % 7 == 0, (actual + 1) % n_classes, actual)
    confusion = [{"actual": int(a), "predicted": int(p)} for a, p in zip(actual, predicted)]
    steps = [{"step": s, "epoch": s / 10, "loss": 2.0 / s} for s in range(1, 31)]
    roc = [{"fpr": f, "tpr": min(1.0, f * 3), "threshold": 1 - f} for f in np.linspace(0, 1, 11)]
    names = [str(c) for c in range(n_classes)] if n_classes == 10 else ["not square", "square"]
    return render_all(
        history(with_k),
        steps,
        confusion,
        roc,
        rng.random((200, 28, 28)),
        np.arange(200) % 10,
        names,
        12,
        tmp_path / name,
        "test",
        FAMILIES["learnable"] if with_k else None,  # the family its params name (relu: no figures of g)
        workers,
    )


def test_render_all_writes_the_expected_pngs(tmp_path):
    learnable = draw(tmp_path, "a", True, 10)
    assert sorted(p.name for p in learnable) == sorted(COMMON + ["k_per_epoch.png", "activation_first_last.png"])
    relu = draw(tmp_path, "b", False, 10)
    binary = draw(tmp_path, "c", False, 2)
    assert sorted(p.name for p in relu) == sorted(COMMON) == sorted(p.name for p in binary)
    for path in learnable + relu + binary:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert sorted(f.name for f in (tmp_path / "a").iterdir()) == sorted(p.name for p in learnable)  # no temp files left


def test_figures_drawn_in_two_processes_are_the_same_files(tmp_path):
    alone = draw(tmp_path, "one", True, 10)
    shared = draw(tmp_path, "two", True, 10, workers=2)
    assert [p.name for p in shared] == [p.name for p in alone]
    for one, two in zip(alone, shared):
        assert two.read_bytes() == one.read_bytes(), two.name


def test_render_summary(tmp_path):
    rows = [
        {"model": "ann", "description": "MLP", "accuracy": 0.9265, "f1": 0.925},
        {"model": "lenet5", "description": "LeNet-5", "accuracy": 0.992, "f1": 0.9919},
    ]
    (path,) = render_summary(rows, tmp_path)
    assert path.name == "comparison.png" and path.read_bytes().startswith(PNG_MAGIC)
