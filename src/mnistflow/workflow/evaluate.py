"""Stage evaluate@<model>: test-set metrics, per-class rows, ROC points and confusion data.

It scores the test answers the training stage saved (``mnistflow.outputs``) against the test
labels, and its answers on the perturbed test split against theirs (accuracy and the drop):
NumPy only, no network, no torch, no MLflow (the ``track`` stage adds the results to the
model's MLflow run), so it takes well under a second.
"""

from __future__ import annotations

from typing import Any

from mnistflow import outputs, paths
from mnistflow.data.prepare import load_split
from mnistflow.errors import UserError
from mnistflow.evaluation import binary_metrics, classification_metrics, confusion_rows, roc_rows
from mnistflow.files import staged, write_csv, write_json


def perturbed_metrics(name: str, answers: outputs.Answers, accuracy: float) -> dict[str, float]:
    """Accuracy on the perturbed test split (decided as on the test: argmax, or the binary
    task's threshold) and its drop from the clean ``accuracy``, in percentage points."""
    perturbed = outputs.load_perturbed(name, answers)
    y_true = answers.task.labels(load_split(paths.PERTURBED).y)
    if len(y_true) != len(perturbed.logits):
        raise UserError(
            f"{paths.perturbed_logits(name)} answers {len(perturbed.logits)} perturbed test images but "
            f"{paths.split_file(paths.PERTURBED)} has {len(y_true)}; the data changed since training: rerun "
            f"`dvc repro train@{name}`"
        )
    correct = answers.task.decide(perturbed.proba()) == y_true
    perturbed_accuracy = float(correct.mean())
    # Both accuracies are counts over the same n, so 6 decimals keep the drop exact and leave
    # out the float noise of the subtraction (0.43, not 0.42999999999999705).
    return {
        "perturbed_accuracy": perturbed_accuracy,
        "perturbed_drop": round(100.0 * (accuracy - perturbed_accuracy), 6),
    }


def evaluate(name: str) -> dict[str, Any]:
    """Score model ``name``'s saved test answers, and those on the perturbed test split; write
    its metrics, per-class, ROC and confusion files."""
    answers = outputs.load(name)
    task = answers.task
    y_true = task.labels(load_split("test").y)
    if len(y_true) != len(answers.logits):
        raise UserError(
            f"{paths.test_logits(name)} answers {len(answers.logits)} test images but the test split has "
            f"{len(y_true)}; the data changed since training: rerun `dvc repro train@{name}`"
        )
    proba = answers.proba()
    if task.binary:
        metrics, per_class = binary_metrics(y_true, proba, task.threshold, task.names)
    else:
        metrics, per_class = classification_metrics(y_true, proba)
    metrics.update(perturbed_metrics(name, answers, metrics["accuracy"]))
    with staged() as stage_file:
        write_json(stage_file(paths.eval_metrics(name)), metrics)
        write_csv(stage_file(paths.per_class(name)), per_class)
        write_csv(stage_file(paths.roc(name)), roc_rows(y_true, proba))
        write_csv(
            stage_file(paths.confusion(name)),
            confusion_rows(y_true, task.decide(proba)),
            columns=("actual", "predicted"),
        )
    print(
        f"evaluate {name}: test accuracy {metrics['accuracy']:.2%} (perturbed {metrics['perturbed_accuracy']:.2%}, "
        f"{metrics['perturbed_drop']:.2f} points less), F1 {metrics['f1']:.4f}, ROC-AUC {metrics['roc_auc']:.5f}"
    )
    return metrics
