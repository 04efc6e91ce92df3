"""Stage plot@<model>: every PNG of one model (curves, confusion matrix, ROC, misclassified digits)."""
from __future__ import annotations

from pathlib import Path

from mnistflow import checkpoint, paths, tracking
from mnistflow.data.prepare import load_split
from mnistflow.files import read_csv, staged
from mnistflow.models import describe
from mnistflow.plotting import render_all
from mnistflow.tasks import Task


def plot(name: str, gallery_size: int) -> list[Path]:
    """Draw model ``name``'s figures into ``paths.images(name)``; add them to its MLflow run."""
    tracking.check_store()  # before any work: the MLflow store answers, or one line says why not
    path = paths.checkpoint(name)
    payload = checkpoint.read(path)
    task = Task.from_dict(payload.get("task", {}))
    test = load_split("test")
    with staged() as stage_file, tracking.attach(path) as run:
        files = render_all(
            history=read_csv(paths.history(name)),
            steps=read_csv(paths.steps(name)),
            confusion=read_csv(paths.confusion(name)),
            roc=read_csv(paths.roc(name)),
            images=test.x,
            digits=test.y,
            class_names=task.class_names,
            gallery_size=gallery_size,
            out_dir=stage_file(paths.images(name)),
            title=describe(payload["arch"], payload["kwargs"]),
        )
        if run is not None:
            for file in files:
                run.log_artifact(file, "plots")
    print(f"plot {name}: {len(files)} figures in {paths.images(name)}")
    return [paths.images(name) / file.name for file in files]
