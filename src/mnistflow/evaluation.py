"""Test-set metrics with scikit-learn, from predicted probabilities.

Every model's metrics file has the same headline keys (``accuracy``, ``f1``, ``precision``,
``recall``, ``roc_auc``, ``log_loss``, ``n``), so ``dvc metrics show`` reads as one table:
macro averages over the ten digits for the classifiers, the positive class for the binary
perfect-square model (which adds its threshold and the 2x2 confusion counts).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Headline metrics and per-class rows for ``(N, n_classes)`` softmax probabilities.

    The prediction is the argmax. ROC-AUC is the macro one-vs-rest average.
    """
    n_classes = proba.shape[1]
    labels = list(range(n_classes))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    metrics = {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "roc_auc": float(skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)),
        "log_loss": float(skm.log_loss(y_true, proba, labels=labels)),
    }
    per_class = [
        {"class": str(c), "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]), "support": int(support[c])}
        for c in labels
    ]
    return metrics, per_class


def binary_metrics(y_true: np.ndarray, p: np.ndarray, threshold: float, names: tuple[str, str] = ("negative", "positive")) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Headline metrics at ``threshold`` (positive when p >= threshold) and per-class rows."""
    y_pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], zero_division=0)
    metrics = {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1": float(f1[1]),
        "precision": float(precision[1]),
        "recall": float(recall[1]),
        "roc_auc": float(skm.roc_auc_score(y_true, p)),
        "log_loss": float(skm.log_loss(y_true, p, labels=[0, 1])),
        "threshold": float(threshold),
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }
    per_class = [
        {"class": names[c], "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]), "support": int(support[c])}
        for c in (0, 1)
    ]
    return metrics, per_class


def choose_threshold(y_true: np.ndarray, p: np.ndarray) -> float:
    """The decision threshold with the highest accuracy on (validation) labels ``y_true``.

    Candidates are the midpoints between consecutive distinct probabilities (plus the ends);
    among equally accurate thresholds the one nearest 0.5 wins.
    """
    order = np.argsort(p, kind="stable")
    p_sorted, y_sorted = p[order], y_true[order].astype(np.int64)
    distinct = np.unique(p_sorted)
    candidates = np.concatenate(([0.0], (distinct[:-1] + distinct[1:]) / 2, [np.nextafter(distinct[-1], np.inf)]))
    # Predicting positive for p >= t: errors = positives below t + negatives at or above t.
    below = np.searchsorted(p_sorted, candidates, side="left")
    positives_below = np.concatenate(([0], np.cumsum(y_sorted)))[below]
    negatives_above = (len(y_sorted) - below) - (y_sorted.sum() - positives_below)
    errors = positives_below + negatives_above
    best = np.flatnonzero(errors == errors.min())
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def roc_rows(y_true: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """ROC curve points ``{fpr, tpr, threshold}``: of the positive class for a binary model,
    micro-averaged over one-vs-rest classes for (N, C) probabilities."""
    if scores.ndim == 2:
        onehot = np.eye(scores.shape[1], dtype=int)[y_true]
        y_true, scores = onehot.ravel(), scores.ravel()
    fpr, tpr, thresholds = skm.roc_curve(y_true, scores, drop_intermediate=True)
    thresholds = np.minimum(thresholds, 1.0)  # sklearn puts +inf first
    return [{"fpr": float(f), "tpr": float(t), "threshold": float(th)} for f, t, th in zip(fpr, tpr, thresholds)]


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, int]]:
    """One ``{"actual", "predicted"}`` row per sample: the data DVC's confusion template reads."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, y_pred)]


def confusion_matrix(rows: list[dict[str, int]], n_classes: int = 10) -> np.ndarray:
    """Counts ``[actual, predicted]`` from :func:`confusion_rows` output."""
    actual = [r["actual"] for r in rows]
    predicted = [r["predicted"] for r in rows]
    return skm.confusion_matrix(actual, predicted, labels=list(range(n_classes)))
