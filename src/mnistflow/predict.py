"""Read digits from the user's own images: MNIST-like preprocessing, a model, and the answers.

``mnist_like`` turns any picture of one digit into what the models were trained on, the way
MNIST was made: grey-scale; the ink found as what differs from the border's colour, so dark
ink on paper and light ink on a dark background give the same image (MNIST is white on
black); the digit's bounding box cropped and scaled so its longer side is 20 pixels (aspect
kept, antialiased); pasted into 28×28 with its centre of mass at (14, 14), where MNIST puts it.
Thin pen strokes on a large canvas are thickened first (a grey dilation), so they are not
scaled down to a faint hairline: MNIST's strokes are about 2.6 pixels wide in the 20-pixel box.

A :class:`Classifier` answers the ten digits' probabilities for such images: a checkpoint of
the pipeline (its own standardisation and ``amp``, as the evaluate stage scores it), or an
MLflow model as the training stage logs it (``tracking.Run.log_model``: pixels in [0, 1] in,
probabilities out; the standardisation is inside the logged module, so nothing needs to be
read from the run). The perfect-square answer comes from the ``square`` model when its
checkpoint exists, else from the predicted digit (:class:`SquareJudge`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistflow import paths
from mnistflow.config import ConfigError, SquareSection, load_params
from mnistflow.errors import UserError
from mnistflow.tasks import Task, square_task

SIZE = 28  # MNIST's image side
BOX = 20  # the longer side of the digit's bounding box in MNIST
CENTRE = 14.0  # where MNIST puts the centre of mass (row, column; measured: 13.99, 14.00)
MIN_CONTRAST = 0.2  # ink must differ from the border by this much (of white) to be a digit
NOISE = 0.15  # ink weaker than this (of the strongest) is paper texture or compression noise
INK = 0.5  # pixels at least this strong are the digit's strokes (bounding box, stroke width)
SPECK = 0.01  # stroke pieces smaller than this share of the largest are specks, ignored
MIN_STROKE = 2.0  # strokes thinner than this in the 20-pixel box are thickened ...
TARGET_STROKE = 2.6  # ... to this width (MNIST's median, measured as 2·area/perimeter)
MAX_SIDE = 1024  # larger pictures are first reduced to this (antialiased): the digit is 20 px
TOP = 3  # probabilities shown per file

PERFECT_SQUARES = tuple(d for d in range(10) if math.isqrt(d) ** 2 == d)


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


class PredictError(UserError, ValueError):
    """An image that cannot be read or holds no digit, or a model that cannot be used."""


# --- images ----------------------------------------------------------------------------------------


def load_grey(path: str | Path) -> np.ndarray:
    """The picture at ``path`` as grey levels in [0, 1] (float32, rows × columns), upright
    (EXIF orientation applied), transparency flattened onto a background the ink stands out
    from, reduced to at most ``MAX_SIDE`` pixels a side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise PredictError(f"{path}: no such file; check the name (`ls {path.parent}`)")
    if path.is_dir():
        raise PredictError(
            f"{path}: is a folder, not an image; name the image files in it (`mnistflow predict {path}/*.png`)"
        )
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = (
            "not an image Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …)"
            if isinstance(exc, UnidentifiedImageError)
            else f"a damaged image ({' '.join(str(exc).split())[:80]})"
        )
        raise PredictError(f"{path}: {reason}; give a picture of one digit") from None
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BOX
        )
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):  # 16-bit grey
        return (np.asarray(image, dtype=np.float32) / 65535.0).clip(0, 1)
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        return ((values - values.min()) / max(float(np.ptp(values)), 1e-12)).astype(np.float32)
    if "A" in image.getbands() or "transparency" in image.info:
        return _flatten_alpha(np.asarray(image.convert("LA"), dtype=np.float32) / 255.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _flatten_alpha(la: np.ndarray) -> np.ndarray:
    """Grey + alpha -> grey: a digit drawn on a transparent canvas lies over a background of
    the opposite shade to its own (dark ink on white, light ink on black)."""
    grey, alpha = la[..., 0], la[..., 1]
    opaque = alpha > 0.5
    ink_is_light = bool(opaque.any()) and float(grey[opaque].mean()) > 0.5
    background = 0.0 if ink_is_light else 1.0
    return (grey * alpha + background * (1.0 - alpha)).astype(np.float32)


def border(grey: np.ndarray) -> np.ndarray:
    """The pixels of the picture's frame: its outer 5% (at least one pixel) on every side."""
    h, w = grey.shape
    t = max(1, min(h, w) // 20)
    return np.concatenate([grey[:t].ravel(), grey[-t:].ravel(), grey[t:-t, :t].ravel(), grey[t:-t, -t:].ravel()])


def ink(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """How strongly each pixel differs from the background (the median of the frame), in the
    direction of the digit: (ink in [0, 1], 0 on the background and 1 at the strongest
    stroke; the contrast, the strongest stroke's difference from the background).

    The digit is dark on light when the darkest pixel is further from the background than the
    lightest one, so a picture and its negative give the same ink."""
    background = float(np.median(border(grey)))
    dark = background - float(grey.min()) > float(grey.max()) - background
    strength = (background - grey) if dark else (grey - background)
    contrast = float(strength.max())
    if contrast < MIN_CONTRAST:
        return np.zeros_like(grey), contrast
    out = (strength / contrast).clip(0, 1)
    out[out < NOISE] = 0.0
    return out.astype(np.float32), contrast


def stroke_width(mask: np.ndarray) -> float:
    """The strokes' width in pixels, 2·area/perimeter (a stroke of length L and width w has
    area L·w and about 2·L boundary pixels); at least 2 for any stroke this way."""
    from scipy import ndimage

    edge = mask & ~ndimage.binary_erosion(mask)
    return 2.0 * float(mask.sum()) / max(int(edge.sum()), 1)


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius


def digit_box(strokes: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of the digit's strokes, specks left out; None when there are none."""
    from scipy import ndimage

    labels, n = ndimage.label(strokes, structure=np.ones((3, 3)))
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= SPECK * sizes.max()) + 1
    rows, cols = np.nonzero(np.isin(labels, keep))
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


def to_mnist(grey: np.ndarray, name: str = "the image") -> np.ndarray:
    """A picture of one digit (grey levels in [0, 1]) as a 28×28 MNIST image: float32 in
    [0, 1], white digit on black, longer side 20 pixels, centre of mass at (14, 14).
    :class:`PredictError` when it holds no digit (a blank or nearly uniform picture)."""
    from PIL import Image
    from scipy import ndimage

    strength, contrast = ink(np.asarray(grey, dtype=np.float32))
    box = digit_box(strength >= INK)
    if box is None:
        raise PredictError(
            f"{name}: no digit found (the strongest mark differs from the background by {contrast:.0%} of white, "
            f"{MIN_CONTRAST:.0%} is needed); give a picture of one digit, dark on light or light on dark"
        )
    digit = strength[box]
    # Thin strokes would shrink to a faint hairline: thicken them in the picture's own pixels.
    scale = BOX / max(digit.shape)
    width = stroke_width(digit >= INK)
    if width * scale < MIN_STROKE:
        radius = max(1, round((TARGET_STROKE / scale - width) / 2))
        padded = np.pad(digit, radius)
        # A round pen; a square one past a few pixels (separable, so fast; the difference is
        # well under a pixel once scaled to the 20-pixel box).
        digit = (
            ndimage.grey_dilation(padded, footprint=_disk(radius))
            if radius <= 3
            else ndimage.maximum_filter(padded, size=2 * radius + 1)
        )
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(
        Image.fromarray(np.ascontiguousarray(digit, dtype=np.float32)).resize(size, Image.Resampling.LANCZOS),
        dtype=np.float32,
    ).clip(0, 1)
    cy, cx = ndimage.center_of_mass(small)
    top, left = round(CENTRE - cy), round(CENTRE - cx)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    # Paste at (top, left), clipped to the canvas (a very lopsided digit may reach past it).
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + small.shape[0], SIZE), min(left + small.shape[1], SIZE)
    out[r0:r1, c0:c1] = small[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def mnist_like(path: str | Path) -> np.ndarray:
    """The image file at ``path`` as a 28×28 MNIST image (see :func:`to_mnist`)."""
    return to_mnist(load_grey(path), str(path))


# --- models --------------------------------------------------------------------------------------


@dataclass
class Classifier:
    """A digit classifier: ``proba`` maps MNIST images (N×28×28, [0, 1]) to N×10 probabilities."""

    name: str  # what the output calls it: the model's name or its MLflow URI
    source: str  # where it was read from
    proba: Callable[[np.ndarray], np.ndarray]
    why: str = ""  # why this model (the default: the best in the summary)


def _scorer(model: Any, task: Task, payload: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
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
    return Classifier(name, str(path), _scorer(model, task, payload))


def mlflow_classifier(uri: str) -> Classifier:
    """The MLflow model at ``uri`` (``runs:/<run id>/model``, ``models:/mnist-deepcnn/1``, or
    a local folder), as the training stage logs it: pixels in [0, 1] in, the ten digits'
    probabilities out. MLflow is imported here only (it takes seconds)."""
    import logging
    import os
    import warnings

    from mnistflow import tracking

    store = tracking.tracking_uri()
    if uri.startswith(("runs:", "models:")):
        database = tracking.sqlite_file(store)
        if database is not None and not database.exists():
            raise PredictError(
                f"no MLflow store at {database}, so no {uri}; train a model first (`dvc repro train@deepcnn`) "
                f"or point MLFLOW_TRACKING_URI at the store that has it"
            )
        if tracking.scheme(store) in ("http", "https"):
            tracking.probe_server(store)
        elif database is not None:
            tracking.check_sqlite_file(database)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    import mlflow.pytorch
    import torch
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(store)
    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with tracking.bounded_requests(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlflow.pytorch.load_model(uri)
    except MlflowException as exc:
        text = " ".join(str(exc.message).split())[:160]
        if (
            exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
            or "not found" in text.lower()
            or "No such file" in text
        ):
            raise PredictError(
                f"no MLflow model at {uri} in {tracking.redact(store)} ({text}); check the run id, or the name and "
                f"version (`mlflow ui --backend-store-uri {tracking.redact(store)}` lists them)"
            ) from None
        raise PredictError(tracking.describe_failure(exc, store, f"loading {uri}")) from None
    except OSError as exc:
        raise PredictError(
            f"{uri}: not an MLflow model folder ({' '.join(str(exc).split())[:120]}); give runs:/<run id>/model or "
            "models:/<name>/<version>"
        ) from None
    finally:
        quiet.setLevel(level)

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


def best_model(summary: dict[str, Any]) -> tuple[str, float]:
    """The digit model with the highest test accuracy in the summary (``reports/summary.json``)."""
    if not digit_models():
        raise PredictError(
            f"no readable {paths.PARAMS} here, so its digit models are unknown; run from the project folder, or name a "
            "checkpoint: --model models/lenet5.pt"
        )
    scored = [
        (float(row["accuracy"]), name) for name, row in summary.items() if name in digit_models() and "accuracy" in row
    ]
    if not scored:
        raise PredictError(
            f"{paths.SUMMARY} names none of the digit models {', '.join(digit_models())}; rebuild it with "
            "`dvc repro summary`, or name one: --model lenet5"
        )
    accuracy, name = max(scored)
    return name, accuracy


def select_classifier(model: str | None = None, model_uri: str | None = None) -> Classifier:
    """The classifier the user asked for: an MLflow URI, a model of the pipeline by name, a
    checkpoint file by path, or by default the digit model with the best test accuracy in
    ``reports/summary.json``. Paths are relative to the project folder (the current one)."""
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
    try:
        summary = json.loads(paths.SUMMARY.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PredictError(
            f"{paths.SUMMARY} is missing, so there is no best model to choose (run from the project folder); "
            f"make it with `dvc repro summary` (or fetch it: `dvc pull`), or name a model: --model lenet5"
        ) from None
    except (OSError, ValueError) as exc:
        raise PredictError(
            f"{paths.SUMMARY} is unreadable ({' '.join(str(exc).split())[:80]}); rebuild it with `dvc repro -f summary`"
        ) from None
    name, accuracy = best_model(summary)
    classifier = checkpoint_classifier(paths.checkpoint(name), name)
    classifier.why = f"the best test accuracy in {paths.SUMMARY}: {accuracy:.2%}"
    return classifier


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
        return SquareJudge(task, str(path), _scorer(model, task, payload))
    if params.is_file():
        section = load_params(params).models.get(name)
        if isinstance(section, SquareSection):
            return SquareJudge(square_task(section.positive), f"{params} {name}.positive")
    return SquareJudge(square_task(PERFECT_SQUARES), "the definition of a perfect square")


# --- predicting ----------------------------------------------------------------------------------


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
