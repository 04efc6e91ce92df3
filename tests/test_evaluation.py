"""Evaluation metrics against hand-computed values, and the threshold choice."""

from __future__ import annotations

import numpy as np
import pytest

from mnistflow.evaluation import (
    binary_metrics,
    choose_threshold,
    classification_metrics,
    confusion_matrix,
    confusion_rows,
    roc_rows,
)


def test_multiclass_metrics_on_a_hand_checked_example():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    # Predictions: 0, 0, 1 | 1, 2 | 2
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.5, 0.4],
            [0.1, 0.2, 0.7],
            [0.3, 0.3, 0.4],
        ]
    )
    m, per_class = classification_metrics(y_true, proba)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class 0: P = 2/2, R = 2/3; class 1: P = 1/2, R = 1/2; class 2: P = 1/2, R = 1/1
    assert per_class[0] == pytest.approx({"class": "0", "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert per_class[1] == pytest.approx({"class": "1", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert per_class[2] == pytest.approx({"class": "2", "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.6, 0.2, 0.5, 0.2, 0.4])))

    # One-vs-rest AUCs by hand: class 0 scores (0.8, 0.6, 0.2 | 0.1, 0.1, 0.3) -> 8/9;
    # the expected value counts, for each class, positives scoring above negatives.
    def auc(pos, neg):
        return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])

    expected = np.mean([auc(proba[y_true == c, c], proba[y_true != c, c]) for c in range(3)])
    assert m["roc_auc"] == pytest.approx(expected)


def test_binary_metrics_at_a_threshold():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.4, 0.7, 0.3, 0.6, 0.8, 0.9])
    m, per_class = binary_metrics(y, p, threshold=0.5, names=("not square", "square"))
    # predictions 0 0 1 | 0 1 1 1 -> tn 2, fp 1, fn 1, tp 3
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (2, 1, 1, 3)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert (
        m["precision"] == pytest.approx(3 / 4)
        and m["recall"] == pytest.approx(3 / 4)
        and m["f1"] == pytest.approx(3 / 4)
    )
    assert m["roc_auc"] == pytest.approx(9 / 12)  # a positive outscores a negative in 9 of 12 pairs
    assert [row["class"] for row in per_class] == ["not square", "square"]
    assert per_class[0]["recall"] == pytest.approx(2 / 3)
    strict = binary_metrics(y, p, threshold=0.65)[0]
    assert (strict["fp"], strict["fn"]) == (1, 2)


def test_choose_threshold_maximises_accuracy_and_prefers_one_near_half():
    y = np.array([0, 0, 0, 1, 1, 1])
    # Separable: any threshold in (0.35, 0.8] is perfect; the one nearest 0.5 is chosen.
    assert choose_threshold(y, np.array([0.1, 0.2, 0.35, 0.8, 0.85, 0.9])) == pytest.approx(0.575)
    # Overlapping: best cut leaves one error.
    y2 = np.array([0, 0, 1, 0, 1, 1])
    p2 = np.array([0.1, 0.2, 0.3, 0.4, 0.7, 0.9])
    t = choose_threshold(y2, p2)
    assert ((p2 >= t) != y2).sum() == 1
    # All positive: predict positive for everything.
    assert choose_threshold(np.ones(3, int), np.array([0.2, 0.3, 0.9])) <= 0.2
    # Against brute force on random data.
    rng = np.random.default_rng(0)
    y3 = rng.integers(0, 2, 300)
    p3 = np.clip(y3 * 0.3 + rng.random(300) * 0.7, 0, 1)
    t3 = choose_threshold(y3, p3)
    brute = max(((p3 >= c) == y3).mean() for c in np.linspace(0, 1, 2001))
    assert ((p3 >= t3) == y3).mean() == pytest.approx(brute)


def test_roc_rows_binary_and_micro_average():
    rows = roc_rows(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert rows[0]["fpr"] == 0 and rows[-1] == {"fpr": 1.0, "tpr": 1.0, "threshold": pytest.approx(0.1)}
    assert all(0 <= r["threshold"] <= 1 for r in rows)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    micro = roc_rows(np.array([0, 1, 1]), proba)
    assert micro[-1]["fpr"] == 1.0 and micro[-1]["tpr"] == 1.0
    fpr = [r["fpr"] for r in micro]
    assert fpr == sorted(fpr)


def test_confusion_rows_and_matrix():
    rows = confusion_rows(np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]))
    assert rows == [
        {"actual": 0, "predicted": 0},
        {"actual": 1, "predicted": 2},
        {"actual": 1, "predicted": 1},
        {"actual": 2, "predicted": 2},
    ]
    assert confusion_matrix(rows, n_classes=3).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize("seed", [0, 1])
def test_every_metric_equals_scikit_learns(seed):
    """The NumPy metrics are scikit-learn's definitions: the same numbers on random data with
    ties (scores rounded to 2 decimals), an empty class and a class never predicted."""
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 9, 3000)  # class 9 has no samples
    logits = rng.normal(size=(3000, 10)) + 2.5 * np.eye(10)[y]
    logits[:, 8] -= 4  # class 8 is (almost) never predicted
    proba = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
    proba /= proba.sum(axis=1, keepdims=True)
    m, per_class = classification_metrics(y, proba)
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, y_pred, labels=list(range(10)), zero_division=0
    )
    assert [r["precision"] for r in per_class] == pytest.approx(precision, abs=1e-12)
    assert [r["recall"] for r in per_class] == pytest.approx(recall, abs=1e-12)
    assert [r["f1"] for r in per_class] == pytest.approx(f1, abs=1e-12)
    assert [r["support"] for r in per_class] == list(support)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, y_pred), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, y_proba=proba, labels=list(range(10))), abs=1e-12)
    present = proba[:, :9] / proba[:, :9].sum(axis=1, keepdims=True)  # sklearn's ovr needs every class present
    m9, _ = classification_metrics(y, present)
    assert m9["roc_auc"] == pytest.approx(skm.roc_auc_score(y, present, multi_class="ovr", average="macro"), abs=1e-12)

    scores = np.round(rng.random(3000), 2)
    yb = (rng.random(3000) < 0.3 + 0.4 * scores).astype(int)
    b, _ = binary_metrics(yb, scores, threshold=0.55)
    assert (b["tn"], b["fp"], b["fn"], b["tp"]) == tuple(skm.confusion_matrix(yb, scores >= 0.55).ravel())
    assert b["f1"] == pytest.approx(skm.f1_score(yb, scores >= 0.55), abs=1e-12)
    assert b["roc_auc"] == pytest.approx(skm.roc_auc_score(yb, scores), abs=1e-12)
    assert b["log_loss"] == pytest.approx(skm.log_loss(yb, y_proba=scores), abs=1e-12)
    fpr, tpr, thresholds = skm.roc_curve(yb, scores)
    rows = roc_rows(yb, scores)
    assert [r["fpr"] for r in rows] == pytest.approx(fpr, abs=1e-12) and [r["tpr"] for r in rows] == pytest.approx(
        tpr, abs=1e-12
    )
    assert [r["threshold"] for r in rows] == pytest.approx(np.minimum(thresholds, 1.0), abs=1e-12)
    micro = skm.roc_curve(np.eye(10, dtype=int)[y].ravel(), proba.ravel())
    assert [r["tpr"] for r in roc_rows(y, proba)] == pytest.approx(micro[1], abs=1e-12)
