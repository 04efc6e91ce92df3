"""The models that answer: which digit models the pipeline has, and a :class:`Classifier` for one.

A :class:`Classifier` answers the ten digits' probabilities for MNIST images: a checkpoint of
the pipeline (its own standardisation and ``amp``, as the evaluate stage scores it), or an
MLflow model as the training stage logs it (loaded by ``tracking.load_model``: pixels in [0, 1]
in, probabilities out; the standardisation is inside the logged module, so nothing needs to be
read from the run). By default (:func:`select_classifier`) the digit model with the best
validation accuracy answers: models are chosen on validation, test is only reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistflow import paths
from mnistflow.config import ConfigError, SquareSection, load_params
from mnistflow.errors import PredictError, UserError
from mnistflow.tasks import Task


def _models(params: Path = paths.PARAMS) -> tuple[tuple[str, ...], str | None]:
    """(the ten-class models, the first yes/no model) of params.yaml's model sections, in order;
    none where there is no readable params.yaml (a checkpoint given by path still works)."""
    try:
        sections = load_params(params).models
    except ConfigError:
        return (), None
    binary = [name for name, section in sections.items() if isinstance(section, SquareSection)]
    return tuple(name for name in sections if name not in binary), (binary[0] if binary else None)


def digit_models() -> tuple[str, ...]:
    """The pipeline's digit (ten-class) models, from params.yaml."""
    return _models()[0]


def square_model() -> str:
    """The yes/no model whose answer is given beside every digit ("is it a perfect square?")."""
    return _models()[1] or "square"


def example_model() -> str:
    """A digit model to name in an error's example command."""
    return (digit_models() or ("<model>",))[-1]


@dataclass
class Classifier:
    """A digit classifier: ``proba`` maps MNIST images (N×28×28, [0, 1]) to N×10 probabilities."""

    name: str  # what the output calls it: the model's name or its MLflow URI
    source: str  # where it was read from
    proba: Callable[[np.ndarray], np.ndarray]
    why: str = ""  # why this model (the default: the best on validation)


def scorer(model: Any, task: Task, payload: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """MNIST images ([0, 1]) -> the task's probabilities, fed as the pipeline fed the model in
    training: standardised when its data were (the checkpoint's ``data``), with its ``amp``."""
    import torch

    from mnistflow.inference import predict_logits

    data = payload.get("data", {})
    mean, std = (float(data["mean"]), float(data["std"])) if data.get("standardize") else (0.0, 1.0)
    amp = payload.get("amp", "none")

    def proba(images: np.ndarray) -> np.ndarray:
        x = (torch.from_numpy(np.asarray(images, dtype=np.float32)) - mean) / std
        return task.proba(predict_logits(model, x, amp=amp)).numpy()

    return proba


def checkpoint_classifier(path: str | Path, name: str | None = None) -> Classifier:
    """The digit classifier in checkpoint ``path``, fed as the pipeline fed it in training:
    pixels standardised when its data were (the checkpoint's ``data``), its ``amp``."""
    from mnistflow import checkpoint

    path = Path(path)
    name = name or path.stem
    model, task, payload = checkpoint.load(path)
    if task.binary:
        raise PredictError(
            f"{path} answers only yes/no ({' or '.join(task.names)}), not which digit; "
            f"choose a digit model: --model {' | '.join(digit_models())} (the perfect-square answer is given beside "
            "the digit)"
        )
    return Classifier(name, str(path), scorer(model, task, payload))


def mlflow_classifier(uri: str) -> Classifier:
    """The MLflow model at ``uri`` (``runs:/<run id>/model``, ``models:/mnist-deepcnn@champion``,
    ``models:/mnist-deepcnn/1``, or a local folder), as the training stage logs it: pixels in
    [0, 1] in, the ten digits' probabilities out (``tracking.load_model``)."""
    import torch

    from mnistflow import tracking

    try:
        model = tracking.load_model(uri)
    except UserError as exc:
        raise PredictError(str(exc)) from None

    def proba(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.from_numpy(np.asarray(images, dtype=np.float32)))
        out = np.asarray(out.float().cpu().numpy(), dtype=np.float64)
        if out.ndim == 1 or out.shape[1:] == (1,):
            raise PredictError(
                f"{uri} answers one probability per image (a yes/no model such as mnist-{square_model()}), not which "
                f"digit; give a digit model, e.g. models:/mnist-{example_model()}/<version>"
            )
        if out.shape[1:] != (10,) or (out < 0).any() or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
            raise PredictError(
                f"{uri} is not a digit model this pipeline logged (its output per image is {list(out.shape[1:])} "
                "values that are not the ten digits' probabilities); give one the training stage logged, e.g. "
                f"models:/mnist-{example_model()}/<version>"
            )
        return out

    return Classifier(uri, uri, proba)


def validation_accuracies() -> dict[str, float]:
    """Digit model -> its validation accuracy after training (``val_acc`` in
    ``metrics/<model>-train.json``), for each digit model whose training has written it."""
    if not digit_models():
        raise PredictError(
            f"no readable {paths.PARAMS} here, so its digit models are unknown; run from the project folder, or name a "
            "checkpoint: --model models/lenet5.pt"
        )
    found = {}
    for name in digit_models():
        path = paths.train_metrics(name)
        try:
            found[name] = float(json.loads(path.read_text(encoding="utf-8"))["val_acc"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PredictError(
                f"{path} is unreadable ({' '.join(str(exc).split())[:80]}); rebuild it with `dvc repro -f train@{name}`"
            ) from None
    if not found:
        raise PredictError(
            f"no digit model has training metrics ({paths.train_metrics(example_model())} and the like), so there is "
            f"no best model to choose; make them with `dvc repro` (or fetch them: `dvc pull`), or name a model: "
            f"--model {example_model()}"
        )
    return found


def best_model(val_accuracies: dict[str, float]) -> tuple[str, float]:
    """The model with the best validation accuracy, and that accuracy; on a tie the first listed.
    Models are chosen on validation: the test split is only reported."""
    name = max(val_accuracies, key=lambda m: val_accuracies[m])
    return name, val_accuracies[name]


def select_classifier(model: str | None = None, model_uri: str | None = None) -> Classifier:
    """The classifier the user asked for: an MLflow URI, a model of the pipeline by name, a
    checkpoint file by path, or by default the digit model with the best validation accuracy
    (:func:`validation_accuracies`). Paths are relative to the project folder (the current one)."""
    if model_uri:
        return mlflow_classifier(model_uri)
    if model is not None:
        if model.endswith(".pt") or "/" in model or "\\" in model:
            return checkpoint_classifier(model)
        if model == square_model():
            raise PredictError(
                f"{square_model()} answers only whether the digit is a perfect square (given beside every digit "
                "anyway); "
                f"choose a digit model: --model {' | '.join(digit_models())}"
            )
        if model not in digit_models():
            present = sorted(
                p.stem for p in paths.MODELS_DIR.glob("*.pt") if p.stem not in (*digit_models(), square_model())
            )
            others = (
                f" (also in {paths.MODELS_DIR}/: {', '.join(present)}, give it as --model "
                f"{paths.MODELS_DIR}/{present[0]}.pt)"
                if present
                else ""
            )
            raise PredictError(
                f"unknown model {model!r}; the digit models are {', '.join(digit_models())}{others}: e.g. --model "
                f"{example_model()}"
            )
        return checkpoint_classifier(paths.checkpoint(model), model)
    name, accuracy = best_model(validation_accuracies())
    classifier = checkpoint_classifier(paths.checkpoint(name), name)
    classifier.why = f"the best validation accuracy: {accuracy:.2%} in {paths.train_metrics(name)}"
    return classifier
