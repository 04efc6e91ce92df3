"""Is the digit a perfect square? The ``square`` model's answer when its checkpoint exists,
else the label of the predicted digit (:class:`SquareJudge`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistflow import paths
from mnistflow.config import SquareSection, load_params
from mnistflow.errors import PredictError
from mnistflow.predict.classifiers import scorer, square_model
from mnistflow.tasks import Task, square_task

PERFECT_SQUARES = tuple(d for d in range(10) if math.isqrt(d) ** 2 == d)


@dataclass
class SquareJudge:
    """Is the digit a perfect square? The square model's probability, decided by its task (the
    threshold saved in its checkpoint), when the checkpoint exists; else the task's label of the
    predicted digit (one of ``positive``)."""

    task: Task  # the binary task: positive digits, threshold, names
    source: str  # the square model's checkpoint, or where ``positive`` came from
    proba: Callable[[np.ndarray], np.ndarray] | None = None  # images -> P(square) (N,)

    @property
    def uses_model(self) -> bool:
        return self.proba is not None

    @property
    def positive(self) -> tuple[int, ...]:
        return tuple(self.task.positive)

    @property
    def threshold(self) -> float | None:
        return self.task.threshold if self.uses_model else None

    def answers(self, digits: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(is each a perfect square, the model's P(square) or None)."""
        if self.proba is None:
            return self.task.labels(np.asarray(digits)).astype(bool), None
        p = self.proba(images)
        return self.task.decide(p).astype(bool), p

    def describe(self) -> str:
        digits = ", ".join(map(str, self.positive))
        if self.uses_model:
            return f"the {square_model()} model {self.source} (yes at P >= {self.threshold:.2f}; squares {digits})"
        return (
            f"the predicted digit (one of {digits}, from {self.source}; no {paths.checkpoint(square_model())}: "
            f"`dvc repro train@{square_model()}` makes it)"
        )


def square_judge(path: Path | None = None, params: Path = paths.PARAMS) -> SquareJudge:
    """The yes/no model if its checkpoint (``path``, by default ``models/<square model>.pt``)
    exists; else the ``positive`` digits of its params.yaml section, else the perfect squares."""
    from mnistflow import checkpoint

    name = square_model()
    path = paths.checkpoint(name) if path is None else path
    if path.is_file():
        model, task, payload = checkpoint.load(path)
        if not task.binary:
            raise PredictError(
                f"{path} is a digit model, not the yes/no {name} model; retrain it with `dvc repro -f train@{name}`"
            )
        return SquareJudge(task, str(path), scorer(model, task, payload))
    if params.is_file():
        section = load_params(params).models.get(name)
        if isinstance(section, SquareSection):
            return SquareJudge(square_task(section.positive), f"{params} {name}.positive")
    return SquareJudge(square_task(PERFECT_SQUARES), "the definition of a perfect square")
