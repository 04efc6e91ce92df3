"""Print README's results table (markdown) from the committed metrics files.

    python scripts/results_table.py

Reads reports/summary.json and metrics/<model>-train.json, so the table always shows what
`dvc metrics show` shows; the seed figures and bars are the project's targets.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# model -> (seed figure, bar) for test accuracy, in percent
TARGETS = {
    "ann": ("—", "≥ 92.0%"),
    "mlp": ("97.71%", "≥ 98.5%"),
    "lenet5": ("98.27%", "≥ 99.1%"),
    "deepcnn": ("99.29%", "≥ 99.6%"),
    "square": ("98.17%", "≥ 99.7%"),
}


def main() -> None:
    summary = json.loads((ROOT / "reports" / "summary.json").read_text())
    print("| model | architecture | test accuracy | seed figure | bar | F1 | ROC-AUC | log-loss | epochs |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model, m in summary.items():
        train = json.loads((ROOT / "metrics" / f"{model}-train.json").read_text())
        seed, bar = TARGETS.get(model, ("—", "—"))
        extra = f" (k0 = {train['k0']:.3f}, k1 = {train['k1']:.3f})" if "k0" in train else ""
        print(
            f"| `{model}` | {m['description']}{extra} | **{m['accuracy']:.2%}** | {seed} | {bar} | {m['f1']:.4f} | "
            f"{m['roc_auc']:.5f} | {m['log_loss']:.4f} | {train['epochs']} |"
        )


if __name__ == "__main__":
    main()
