"""Every figure is drawn from plain rows, for the learnable and the ReLU network."""
from __future__ import annotations

from mnistflow.plotting import render_all

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


def test_render_all_writes_the_expected_pngs(tmp_path):
    steps = [{"step": s, "epoch": s / 10, "loss": 2.0 / s} for s in range(1, 31)]
    confusion = [{"actual": a, "predicted": (a + (i % 7 == 0)) % 10} for i, a in enumerate(list(range(10)) * 20)]
    learnable = render_all(history(True), steps, confusion, tmp_path / "a", "test")
    assert sorted(p.name for p in learnable) == sorted(
        ["loss_train_vs_test.png", "accuracy_train_vs_test.png", "loss_curve.png", "confusion_matrix.png", "k_per_epoch.png", "activation_first_last.png"]
    )
    relu = render_all(history(False), steps, confusion, tmp_path / "b", "test")
    assert len(relu) == 4 and "k_per_epoch.png" not in {p.name for p in relu}
    for path in learnable + relu:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert sorted(f.name for f in (tmp_path / "a").iterdir()) == sorted(p.name for p in learnable)  # no temp files left
