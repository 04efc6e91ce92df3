"""Stage evaluate@<model>: test-set metrics, per-class rows, ROC points and confusion data."""
from __future__ import annotations

from typing import Any

import torch

from mnistflow import checkpoint, paths, tracking
from mnistflow.data.prepare import load_split
from mnistflow.evaluation import binary_metrics, classification_metrics, confusion_rows, roc_rows
from mnistflow.files import staged, write_csv, write_json
from mnistflow.inference import predict_logits


def evaluate(name: str, batch_size: int) -> dict[str, Any]:
    """Score model ``name``'s checkpoint on the test split; add the results to its MLflow run.

    The files move into place only once MLflow has them too (or the store has no run for this
    checkpoint, which is reported)."""
    tracking.check_store()  # before any work: the MLflow store answers, or one line says why not
    path = paths.checkpoint(name)
    model, task, payload = checkpoint.load(path)
    test = load_split("test")
    logits = predict_logits(model, torch.from_numpy(test.x), batch_size, amp=payload.get("amp", "none"))
    proba = task.proba(logits).numpy()
    y_true = task.labels(test.y)
    if task.binary:
        metrics, per_class = binary_metrics(y_true, proba, task.threshold, task.names)
    else:
        metrics, per_class = classification_metrics(y_true, proba)
    outputs = (paths.eval_metrics(name), paths.per_class(name), paths.roc(name), paths.confusion(name))
    with staged() as stage_file, tracking.attach(path) as run:
        write_json(stage_file(paths.eval_metrics(name)), metrics)
        write_csv(stage_file(paths.per_class(name)), per_class)
        write_csv(stage_file(paths.roc(name)), roc_rows(y_true, proba))
        write_csv(stage_file(paths.confusion(name)), confusion_rows(y_true, task.decide(proba)), columns=("actual", "predicted"))
        if run is not None:
            for output in outputs:
                run.log_artifact(stage_file(output), "evaluation")
            run.log_dataset("test", paths.split_file("test"), test.x, y_true)
            run.log_metrics({f"test/{k}": v for k, v in metrics.items()}, dataset="test", for_model=True)  # charted as one group
    print(f"evaluate {name}: test accuracy {metrics['accuracy']:.2%}, F1 {metrics['f1']:.4f}, ROC-AUC {metrics['roc_auc']:.5f}")
    return metrics
