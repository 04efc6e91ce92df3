"""What a model's output means: ten digits, or a yes/no question about the digit.

A :class:`Task` is the one home of the label rule. The ten-class task predicts the digit. The
binary task asks "is the digit one of ``positive``?" (for ``square``: is it a perfect square,
0, 1, 4 or 9), with one sigmoid logit and a decision threshold chosen on the validation split.
The training stage builds the task from params, relabels the data with it, saves it in the
checkpoint (``to_dict``), and evaluate, plot and predict rebuild it from there (``from_dict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported by the methods that need it
    import torch

DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class Task:
    # None: the ten-class digit task; else the digits whose binary label is 1.
    positive: tuple[int, ...] | None = None
    # Binary only: predict positive when P(positive) >= threshold.
    threshold: float = 0.5
    # Binary only: the names of label 0 and label 1.
    names: tuple[str, str] = ("negative", "positive")

    @property
    def binary(self) -> bool:
        return self.positive is not None

    @property
    def n_outputs(self) -> int:
        return 1 if self.binary else 10

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.names if self.binary else DIGITS

    def labels(self, digits: np.ndarray) -> np.ndarray:
        """The label of each digit: the digit itself, or 1 where it is one of ``positive``."""
        if not self.binary:
            return digits
        return np.isin(digits, np.asarray(self.positive)).astype(np.int64)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Categorical cross-entropy, or binary cross-entropy on the single logit; label
        smoothing moves the binary targets towards 0.5 by half of ``label_smoothing``, as
        torch's categorical smoothing does for two classes."""
        import torch.nn.functional as F

        if self.binary:
            target = y.to(logits.dtype)
            if label_smoothing:
                target = target * (1 - label_smoothing) + 0.5 * label_smoothing
            return F.binary_cross_entropy_with_logits(logits.squeeze(1), target)
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)

    def proba(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, 10) softmax probabilities, or (N,) probability of the positive class (float64)."""
        import torch

        logits = logits.double()
        return torch.sigmoid(logits.squeeze(1)) if self.binary else torch.softmax(logits, dim=1)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Predicted labels: the argmax, or positive at ``threshold``."""
        if self.binary:
            return (self.proba(logits) >= self.threshold).long()
        return logits.argmax(dim=1)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Predicted labels from :meth:`proba`'s output: the argmax, or positive at ``threshold``."""
        if self.binary:
            return (proba >= self.threshold).astype(np.int64)
        return proba.argmax(axis=1)

    def with_threshold(self, threshold: float) -> Task:
        return replace(self, threshold=float(threshold))

    def to_dict(self) -> dict[str, Any]:
        if not self.binary:
            return {"binary": False}
        return {"binary": True, "positive": list(self.positive), "threshold": self.threshold, "names": list(self.names)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        if not data.get("binary"):
            return MULTICLASS
        return cls(positive=tuple(data["positive"]), threshold=float(data["threshold"]), names=tuple(data["names"]))


MULTICLASS = Task()


def square_task(positive: Sequence[int]) -> Task:
    """Is the digit a perfect square? (params: ``square.positive``, the digits 0, 1, 4, 9)."""
    return Task(positive=tuple(positive), names=("not square", "square"))
