"""Test-set metrics with scikit-learn, from predicted class probabilities."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1, log-loss and per-class precision/recall/F1 (for ``dvc metrics``).

    ``proba`` is ``(N, n_classes)`` softmax probabilities; the prediction is their argmax.
    """
    n_classes = proba.shape[1]
    labels = list(range(n_classes))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "log_loss": float(skm.log_loss(y_true, proba, labels=labels)),
        "per_class": {
            str(c): {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]), "support": int(support[c])}
            for c in labels
        },
    }


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, int]]:
    """One ``{"actual", "predicted"}`` row per sample: the data DVC's confusion template reads."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, y_pred)]


def confusion_matrix(rows: list[dict[str, int]], n_classes: int = 10) -> np.ndarray:
    """Counts ``[actual, predicted]`` from :func:`confusion_rows` output."""
    actual = [r["actual"] for r in rows]
    predicted = [r["predicted"] for r in rows]
    return skm.confusion_matrix(actual, predicted, labels=list(range(n_classes)))
