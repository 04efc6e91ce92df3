"""What each model's train, evaluate and plot stages do, for any model, plus the summary.

These functions sit above the training loop: they call ``training``, ``evaluation`` and
``plotting``, write the files ``paths`` names (the outs dvc.yaml declares), and record the same
in MLflow through ``tracking``. The stage scripts only pick the model and its config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnistflow import paths, tracking
from mnistflow.config import TrainConfig
from mnistflow.data.prepare import load_split, load_splits, relabel
from mnistflow.evaluation import binary_metrics, choose_threshold, classification_metrics, confusion_rows, roc_rows
from mnistflow.files import read_csv, read_json, write_csv, write_json
from mnistflow.models import build_model, describe
from mnistflow.plotting import render_all, render_summary
from mnistflow.training import BINARY, MULTICLASS, NumpyEngine, fit, format_row, load_checkpoint, predict_logits, save_checkpoint, seed_everything

FINAL_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
SUMMARY_KEYS = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
SQUARE_NAMES = ("not square", "square")


def train_model(
    name: str,
    stage: str,
    arch: str,
    kwargs: dict[str, Any],
    cfg: TrainConfig,
    logged_params: dict[str, Any],
    positive: tuple[int, ...] | None = None,
) -> dict[str, float]:
    """Train model ``name`` and write its checkpoint, history, loss curve and train metrics.

    ``arch``/``kwargs`` build the model (and are saved to rebuild it); ``logged_params`` are the
    params.yaml keys the stage reads, flattened, for MLflow. With ``positive`` digits the task
    is binary (is the digit one of them?), and the decision threshold is chosen on the
    validation split and saved in the checkpoint. Returns the train metrics.
    """
    seed_everything(cfg.seed)
    model = build_model(arch, kwargs)
    splits = load_splits()
    task = MULTICLASS if positive is None else BINARY
    if positive is not None:
        splits = relabel(splits, positive)
    print(f"{stage}: {describe(arch, kwargs)} ({cfg.backend}) on {splits.info['sizes']} images, {cfg.epochs} epochs", flush=True)
    with tracking.training_run(stage, name, logged_params) as run:

        def on_epoch(row: dict[str, float], seconds: float) -> None:
            print(format_row(row, cfg.epochs, seconds), flush=True)
            run.log_metrics({**row, "epoch_seconds": seconds}, step=int(row["epoch"]))

        if cfg.backend == "numpy":  # the from-scratch engine trains; the same nn.Module keeps the result
            engine = NumpyEngine(kwargs, cfg)
            history = fit(engine, splits, cfg, task, on_epoch=on_epoch)
            model.load_state_dict(engine.torch_state_dict())
        else:
            history = fit(model, splits, cfg, task, on_epoch=on_epoch)
        model.cpu()
        task_info: dict[str, Any] = {"binary": task.binary}
        if positive is not None:
            val_logits = predict_logits(model, torch.from_numpy(splits.val.x), amp=cfg.amp)
            task_info["positive"] = list(positive)
            task_info["threshold"] = choose_threshold(splits.val.y, task.proba(val_logits).numpy())
        checkpoint = paths.checkpoint(name)
        extra = {"model": name, "task": task_info, "backend": cfg.backend, "amp": cfg.amp, "train": logged_params, "data": splits.info}
        save_checkpoint(checkpoint, model, arch, kwargs, extra)
        write_csv(paths.history(name), history.epochs)
        write_csv(paths.steps(name), history.steps, columns=("step", "epoch", "loss"))
        last = history.last
        metrics = {"epochs": int(last["epoch"]), **{k: last[k] for k in FINAL_KEYS}}
        metrics.update({k: v for k, v in last.items() if k.startswith(("k0", "k1"))})
        if "threshold" in task_info:
            metrics["threshold"] = task_info["threshold"]
        write_json(paths.train_metrics(name), metrics)

        run.log_metrics({f"final_{k}": v for k, v in metrics.items()})
        run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint)})
        for path in (paths.history(name), paths.steps(name), paths.train_metrics(name)):
            run.log_artifact(path, "history")
        run.log_model(model, input_example=splits.test.x[:2])
    return metrics


def evaluate_model(name: str, batch_size: int) -> dict[str, Any]:
    """Test-set metrics, per-class rows, ROC points and confusion rows for model ``name``."""
    checkpoint = paths.checkpoint(name)
    model, payload = load_checkpoint(checkpoint)
    task_info = payload.get("task", {"binary": False})
    task = BINARY if task_info["binary"] else MULTICLASS
    test = load_split("test")
    logits = predict_logits(model, torch.from_numpy(test.x), batch_size, amp=payload.get("amp", "none"))
    proba = task.proba(logits).numpy()
    if task.binary:
        y_true = np.isin(test.y, task_info["positive"]).astype(np.int64)
        metrics, per_class = binary_metrics(y_true, proba, task_info["threshold"], SQUARE_NAMES)
        y_pred = (proba >= task_info["threshold"]).astype(np.int64)
    else:
        y_true = test.y
        metrics, per_class = classification_metrics(y_true, proba)
        y_pred = proba.argmax(axis=1)
    write_json(paths.eval_metrics(name), metrics)
    write_csv(paths.per_class(name), per_class)
    write_csv(paths.roc(name), roc_rows(y_true, proba))
    write_json(paths.confusion(name), confusion_rows(y_true, y_pred))
    print(f"evaluate {name}: test accuracy {metrics['accuracy']:.2%}, F1 {metrics['f1']:.4f}, ROC-AUC {metrics['roc_auc']:.5f}")
    with tracking.attach(checkpoint) as run:
        if run is not None:
            run.log_metrics({f"test_{k}": v for k, v in metrics.items()})
            for path in (paths.eval_metrics(name), paths.per_class(name), paths.roc(name), paths.confusion(name)):
                run.log_artifact(path, "evaluation")
    return metrics


def plot_model(name: str, gallery_size: int) -> list[Path]:
    """Every PNG for model ``name`` into ``paths.images(name)``; added to its MLflow run."""
    payload = torch.load(paths.checkpoint(name), map_location="cpu", weights_only=True)
    binary = payload.get("task", {}).get("binary", False)
    test = load_split("test")
    files = render_all(
        history=read_csv(paths.history(name)),
        steps=read_csv(paths.steps(name)),
        confusion=read_json(paths.confusion(name)),
        roc=read_csv(paths.roc(name)),
        images=test.x,
        digits=test.y,
        class_names=SQUARE_NAMES if binary else tuple(str(d) for d in range(10)),
        gallery_size=gallery_size,
        out_dir=paths.images(name),
        title=describe(payload["arch"], payload["kwargs"]),
    )
    print(f"plot {name}: {len(files)} figures in {paths.images(name)}")
    with tracking.attach(paths.checkpoint(name)) as run:
        if run is not None:
            for path in files:
                run.log_artifact(path, "plots")
    return files


def summarize(models: list[str]) -> list[dict[str, Any]]:
    """Every model's headline test metrics in one JSON, one CSV and one comparison chart."""
    rows = []
    for name in models:
        metrics = read_json(paths.eval_metrics(name))
        payload = torch.load(paths.checkpoint(name), map_location="cpu", weights_only=True)
        rows.append({"model": name, "description": describe(payload["arch"], payload["kwargs"]), **{k: metrics[k] for k in SUMMARY_KEYS}})
    write_json(paths.SUMMARY, {row["model"]: {k: v for k, v in row.items() if k != "model"} for row in rows})
    write_csv(paths.SUMMARY_TABLE, rows)
    render_summary(rows, paths.SUMMARY_IMAGES)
    for row in rows:
        print(f"{row['model']:8s} accuracy {row['accuracy']:.2%}  F1 {row['f1']:.4f}  ({row['description']})")
    return rows
