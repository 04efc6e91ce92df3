"""Stage plot@<model>: every PNG of one model (curves, confusion matrix, ROC, misclassified digits).

Matplotlib and NumPy only: the curves come from the training and evaluate stages' files, the
task and title from the saved test answers (``mnistflow.outputs``); the ``track`` stage adds
the figures to the model's MLflow run.
"""

from __future__ import annotations

from pathlib import Path

from mnistflow import outputs, parallel, paths
from mnistflow.activations import Family
from mnistflow.data.prepare import load_split
from mnistflow.files import read_csv, staged
from mnistflow.plotting import render_all


def plot(name: str, gallery_size: int, activation: Family | None) -> list[Path]:
    """Draw model ``name``'s figures into ``paths.images(name)``; ``activation``: its network's
    activation family (None: a network without one; ReLU's and the others without coefficients
    draw no activation figures)."""
    answers = outputs.load(name)
    test = load_split("test")
    with staged() as stage_file:
        files = render_all(
            history=read_csv(paths.history(name)),
            steps=read_csv(paths.steps(name)),
            confusion=read_csv(paths.confusion(name)),
            roc=read_csv(paths.roc(name)),
            images=test.x,
            digits=test.y,
            class_names=answers.task.class_names,
            gallery_size=gallery_size,
            out_dir=stage_file(paths.images(name)),
            title=answers.description,
            activation=activation,
            workers=parallel.job_cores(),
        )
    print(f"plot {name}: {len(files)} figures in {paths.images(name)}")
    return [paths.images(name) / file.name for file in files]
