"""The answers: one :class:`Prediction` per picture, and the command's output as text or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistflow.errors import PredictError
from mnistflow.predict.classifiers import Classifier, square_model
from mnistflow.predict.pictures import mnist_like
from mnistflow.predict.square import SquareJudge

TOP = 3  # probabilities shown per file


@dataclass
class Prediction:
    file: str
    digit: int | None = None
    top: list[tuple[int, float]] = field(default_factory=list)  # (digit, probability), best first
    square: bool | None = None
    square_proba: float | None = None  # the square model's P(square), when it answered
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"file": self.file, "error": self.error}
        answer: dict[str, Any] = {"answer": self.square}
        if self.square_proba is not None:
            answer["probability"] = round(self.square_proba, 6)
        return {
            "file": self.file,
            "digit": self.digit,
            "top": [{"digit": d, "probability": round(p, 6)} for d, p in self.top],
            "square": answer,
        }


def predict(files: Sequence[str | Path], classifier: Classifier, judge: SquareJudge) -> list[Prediction]:
    """One :class:`Prediction` per file, in order: the digit, the top probabilities and the
    perfect-square answer, or the one-line error that says why the file could not be read."""
    results = [Prediction(str(f)) for f in files]
    images = []
    for result in results:
        try:
            images.append(mnist_like(result.file))
        except PredictError as exc:
            result.error = str(exc)
    readable = [r for r in results if r.error is None]
    if not readable:
        return results
    answers = predict_images([r.file for r in readable], np.stack(images), classifier, judge)
    return [answers.pop(0) if r.error is None else r for r in results]


def predict_images(
    names: Sequence[str], images: np.ndarray, classifier: Classifier, judge: SquareJudge
) -> list[Prediction]:
    """:func:`predict` for pictures already made MNIST-like (N×28×28, :func:`to_mnist`), named
    ``names``: what ``mnistflow serve`` answers a drawing, an upload or an array with."""
    results = [Prediction(str(name)) for name in names]
    proba = classifier.proba(images)
    squares, square_proba = judge.answers(proba.argmax(axis=1), images)
    for i, result in enumerate(results):
        order = np.argsort(-proba[i], kind="stable")[:TOP]
        result.top = [(int(d), float(proba[i, d])) for d in order]
        result.digit = result.top[0][0]
        result.square = bool(squares[i])
        if square_proba is not None:
            result.square_proba = float(square_proba[i])
    return results


def to_json(results: Sequence[Prediction], classifier: Classifier, judge: SquareJudge) -> str:
    """One JSON document: the model, how the square answer is made, and every file's answer."""
    document = {
        "model": {
            "name": classifier.name,
            "source": classifier.source,
            **({"chosen_for": classifier.why} if classifier.why else {}),
        },
        "square": {
            "method": f"{square_model()} model" if judge.uses_model else "predicted digit",
            "source": judge.source,
            "positive": list(judge.positive),
            **({"threshold": judge.threshold} if judge.uses_model else {}),
        },
        "predictions": [r.to_dict() for r in results],
    }
    return json.dumps(document, indent=2)


def to_text(results: Sequence[Prediction], classifier: Classifier, judge: SquareJudge) -> str:
    """Human-readable: a line saying which models answer, then one line per readable file."""
    model = (
        f"{classifier.name} ({classifier.source}{'; ' + classifier.why if classifier.why else ''})"
        if classifier.name != classifier.source
        else classifier.name
    )
    lines = [f"digit: {model}", f"perfect square: {judge.describe()}"]
    width = max((len(r.file) for r in results if r.error is None), default=0)
    for r in results:
        if r.error is not None:
            continue
        top = ", ".join(f"{d} {p:.1%}" for d, p in r.top)
        yes = "yes" if r.square else "no"
        because = (
            f"P(square) {r.square_proba:.1%}"
            if r.square_proba is not None
            else f"{r.digit} is{'' if r.square else ' not'} one of {', '.join(map(str, judge.positive))}"
        )
        lines.append(f"{r.file + ':':{width + 1}}  {r.digit}   (top {TOP}: {top})   perfect square: {yes} ({because})")
    return "\n".join(lines)
