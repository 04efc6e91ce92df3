"""A trained model's answers on the test split: what the evaluate, plot and summary stages read.

The training stage measures the test split after every epoch (``training.fit``); the logits of
its last measurement are the trained network's answers, computed by the one forward path
(``inference.predict_logits``) with the training's own precision and memory layout. The stage
saves them beside the checkpoint, with the task (label rule, decision threshold) and the
network's one-line description: ``models/<model>-test.npy`` (float32 logits, N x 10, or N x 1
for a yes/no model) and ``models/<model>-test.json``. The stages after it then need neither
the network nor torch, whose import alone costs more than the rest of an evaluate stage.
After training the stage also scores the perturbed test split (``paths.PERTURBED``) the same way
and saves those logits as ``models/<model>-perturbed.npy``: same task, same rows as the test.
``tests/test_end_to_end.py`` checks that the saved logits are the checkpoint's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistflow import paths
from mnistflow.errors import UserError
from mnistflow.files import atomic_path, read_json, write_json
from mnistflow.tasks import Task


@dataclass(frozen=True)
class Answers:
    logits: np.ndarray  # (N, 10), or (N, 1) for a yes/no task; float32
    task: Task
    description: str  # e.g. "deep CNN 16-48 / dense 256-128"

    def proba(self) -> np.ndarray:
        """(N, 10) softmax probabilities, or (N,) probability of the positive class (float64):
        ``Task.proba`` in NumPy."""
        logits = self.logits.astype(np.float64)
        if self.task.binary:
            return 1.0 / (1.0 + np.exp(-logits[:, 0]))
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)


def save(model: str, logits: np.ndarray, task: Task, description: str, stage_file=lambda path: path) -> None:
    """Write model ``model``'s test logits and their meaning (``stage_file`` maps each final path
    to where to write it, e.g. ``files.staged``'s). ``np.save`` writes the same bytes for the same
    array, so an unchanged answer leaves the stages that read it skipped."""
    save_logits(stage_file(paths.test_logits(model)), logits)
    write_json(
        stage_file(paths.test_info(model)), {"task": task.to_dict(), "description": description, "n": int(len(logits))}
    )


def save_logits(path: Path, logits: np.ndarray) -> None:
    """``logits`` as float32 ``.npy`` (``np.save`` writes the same bytes for the same array)."""
    with atomic_path(path) as tmp:
        np.save(tmp, np.ascontiguousarray(logits, dtype=np.float32))


def save_perturbed(model: str, logits: np.ndarray, stage_file=lambda path: path) -> None:
    """Write model ``model``'s logits on the perturbed test split (their meaning is the test's)."""
    save_logits(stage_file(paths.perturbed_logits(model)), logits)


def load_perturbed(model: str, answers: Answers) -> Answers:
    """Model ``model``'s saved answers on the perturbed test split, read with the task of its
    test ``answers``; one line naming the fix if they are missing."""
    path = paths.perturbed_logits(model)
    if not Path(path).is_file():
        raise UserError(
            f"{path} is missing; run the training stage that writes it (`dvc repro train@{model}`) or fetch it "
            f"(`dvc pull {path}`)"
        )
    logits = np.load(path, allow_pickle=False)
    if logits.ndim != 2 or logits.shape[1] != answers.logits.shape[1]:
        raise UserError(
            f"{path} does not match {paths.test_logits(model)} (shape {logits.shape}, not N x "
            f"{answers.logits.shape[1]}); rerun `dvc repro -f train@{model}`"
        )
    return Answers(logits, answers.task, answers.description)


def load(model: str) -> Answers:
    """Model ``model``'s saved test outputs; one line naming the fix if they are missing."""
    logits_file, info_file = paths.test_logits(model), paths.test_info(model)
    for path in (logits_file, info_file):
        if not Path(path).is_file():
            raise UserError(
                f"{path} is missing; run the training stage that writes it (`dvc repro train@{model}`) or fetch it "
                f"(`dvc pull {path}`)"
            )
    info: dict[str, Any] = read_json(info_file)
    logits = np.load(logits_file, allow_pickle=False)
    if logits.ndim != 2 or len(logits) != info.get("n"):
        raise UserError(
            f"{logits_file} does not match {info_file} (shape {logits.shape}, n {info.get('n')}); rerun "
            f"`dvc repro -f train@{model}`"
        )
    return Answers(logits, Task.from_dict(info["task"]), info["description"])
