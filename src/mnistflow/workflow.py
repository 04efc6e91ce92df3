"""What each model's train, evaluate and plot stages do, for any model.

These functions sit above the training loop: they call ``training``, ``evaluation`` and
``plotting``, write the files ``paths`` names (the outs dvc.yaml declares), and record the same
in MLflow through ``tracking``. The stage scripts only pick the model and its config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mnistflow import paths, tracking
from mnistflow.config import TrainConfig
from mnistflow.data.prepare import load_split, load_splits
from mnistflow.evaluation import classification_metrics, confusion_rows
from mnistflow.files import read_csv, read_json, write_csv, write_json
from mnistflow.models import build_model, describe
from mnistflow.plotting import render_all
from mnistflow.training import fit, format_row, load_checkpoint, predict_logits, save_checkpoint, seed_everything

FINAL_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def train_model(name: str, stage: str, arch: str, kwargs: dict[str, Any], cfg: TrainConfig, logged_params: dict[str, Any]) -> dict[str, float]:
    """Train model ``name`` and write its checkpoint, history, loss curve and train metrics.

    ``arch``/``kwargs`` build the model (and are saved to rebuild it); ``logged_params`` are the
    params.yaml keys the stage reads, flattened, for MLflow. Returns the train metrics.
    """
    seed_everything(cfg.seed)
    model = build_model(arch, kwargs)
    splits = load_splits()
    print(f"{stage}: {arch} {kwargs} on {splits.info['sizes']} images, {cfg.epochs} epochs", flush=True)
    with tracking.training_run(stage, name, logged_params) as run:

        def on_epoch(row: dict[str, float], seconds: float) -> None:
            print(format_row(row, cfg.epochs, seconds), flush=True)
            run.log_metrics({**row, "epoch_seconds": seconds}, step=int(row["epoch"]))

        history = fit(model, splits, cfg, on_epoch=on_epoch)
        model.cpu()
        checkpoint = paths.checkpoint(name)
        save_checkpoint(checkpoint, model, arch, kwargs, {"model": name, "train": logged_params, "data": splits.info})
        write_csv(paths.history(name), history.epochs)
        write_csv(paths.steps(name), history.steps, columns=("step", "epoch", "loss"))
        last = history.last
        metrics = {"epochs": int(last["epoch"]), **{k: last[k] for k in FINAL_KEYS}}
        metrics.update({k: v for k, v in last.items() if k.startswith(("k0", "k1"))})
        write_json(paths.train_metrics(name), metrics)

        run.log_metrics({f"final_{k}": v for k, v in metrics.items()})
        run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint)})
        for path in (paths.history(name), paths.steps(name), paths.train_metrics(name)):
            run.log_artifact(path, "history")
        run.log_model(model, input_example=splits.test.x[:2])
    return metrics


def evaluate_model(name: str, batch_size: int) -> dict[str, Any]:
    """Test-set metrics and confusion rows for model ``name``; added to its MLflow run."""
    checkpoint = paths.checkpoint(name)
    model, _ = load_checkpoint(checkpoint)
    test = load_split("test")
    proba = torch.softmax(predict_logits(model, torch.from_numpy(test.x), batch_size).double(), dim=1).numpy()
    metrics = classification_metrics(test.y, proba)
    write_json(paths.eval_metrics(name), metrics)
    write_json(paths.confusion(name), confusion_rows(test.y, proba.argmax(axis=1)))
    print(f"evaluate {name}: test accuracy {metrics['accuracy']:.2%}, macro-F1 {metrics['f1_macro']:.4f}, log-loss {metrics['log_loss']:.4f}")
    with tracking.attach(checkpoint) as run:
        if run is not None:
            run.log_metrics({f"test_{k}": v for k, v in metrics.items() if k != "per_class"})
            run.log_artifact(paths.eval_metrics(name), "evaluation")
            run.log_artifact(paths.confusion(name), "evaluation")
    return metrics


def plot_model(name: str) -> list[Path]:
    """Every PNG for model ``name`` into ``paths.images(name)``; added to its MLflow run."""
    payload = torch.load(paths.checkpoint(name), map_location="cpu", weights_only=True)
    title = describe(payload["arch"], payload["kwargs"])
    files = render_all(
        read_csv(paths.history(name)), read_csv(paths.steps(name)), read_json(paths.confusion(name)), paths.images(name), title
    )
    print(f"plot {name}: {len(files)} figures in {paths.images(name)}")
    with tracking.attach(paths.checkpoint(name)) as run:
        if run is not None:
            for path in files:
                run.log_artifact(path, "plots")
    return files
