"""Evaluation metrics against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mnistflow.evaluation import classification_metrics, confusion_matrix, confusion_rows


def test_metrics_on_a_hand_checked_example():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    # Predictions: 0, 0, 1 | 1, 2 | 2
    proba = np.array([
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.5, 0.4],
        [0.1, 0.2, 0.7],
        [0.3, 0.3, 0.4],
    ])
    m = classification_metrics(y_true, proba)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class 0: P = 2/2, R = 2/3; class 1: P = 1/2, R = 1/2; class 2: P = 1/2, R = 1/1
    assert m["per_class"]["0"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert m["per_class"]["1"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"]["2"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["precision_macro"] == pytest.approx(2 / 3)
    expected_log_loss = -np.mean(np.log([0.8, 0.6, 0.2, 0.5, 0.2, 0.4]))
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    assert all(math.isfinite(v) for v in (m["accuracy"], m["f1_macro"], m["log_loss"]))


def test_confusion_rows_and_matrix():
    rows = confusion_rows(np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]))
    assert rows == [{"actual": 0, "predicted": 0}, {"actual": 1, "predicted": 2}, {"actual": 1, "predicted": 1}, {"actual": 2, "predicted": 2}]
    matrix = confusion_matrix(rows, n_classes=3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
