"""``mnistflow serve``: a local web page to draw a digit on, answered by the pipeline's models.

The page (``web/``, shipped in the package: no CDN, nothing fetched from elsewhere) sends what
the user drew, as a PNG of the canvas, or the bytes of a picture file, to ``/api/predict``;
scripts post the same, or a 28×28 array. Every input is read exactly as ``mnistflow predict``
reads a file (:func:`mnistflow.predict.mnist_like`: crop, scale to 20 pixels, centre of mass)
and answered by the same classifier and square judge, in the same JSON as ``mnistflow predict
--json``: the page, the API and the command give one answer for one picture.

The model is the one ``mnistflow predict`` would use (:func:`mnistflow.predict.select_classifier`,
the same arguments); the page can pick another of the local checkpoints and the registry's
``@champion`` versions (:func:`choices`). What the page says about a model, its registry version
and alias or its checkpoint, and its validation and test accuracy, comes from
:func:`describe`.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from mnistflow import paths, predict
from mnistflow.errors import UserError

MAX_BODY = 20 * 2**20  # bytes of one picture or JSON body: a phone photo is a few MB
MAX_PIXELS = 50_000_000  # a picture's width × height, checked before it is decoded
SIZE = predict.SIZE  # the side of an array posted as JSON
NAMES = {"image": "the picture", "array": "the array"}  # how an answer names its input
JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
# The browser loads nothing for the page but what this server serves (and the upload's preview).
SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:"


class InputError(UserError, ValueError):
    """A request the server cannot answer: ``status`` is its HTTP status, the message its reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- which models ----------------------------------------------------------------------------------


def key(classifier: predict.Classifier) -> str:
    """How the page names a model: its MLflow URI, or its checkpoint's path."""
    return classifier.source


def load(key: str) -> predict.Classifier:
    """The classifier a page's key names (:func:`key`), read as ``mnistflow predict`` reads it."""
    if key.startswith(("models:", "runs:")):
        return predict.select_classifier(model_uri=key)
    return predict.select_classifier(model=key)


def choices(current: predict.Classifier) -> list[str]:
    """The models the page offers: ``current`` first, then each digit model's local checkpoint
    and its registry ``@champion``, where they exist. A registry that cannot be read leaves a
    note on stderr and the checkpoints only."""
    from mnistflow import tracking

    keys = [key(current)]
    for name in predict.digit_models():
        if paths.checkpoint(name).is_file():
            keys.append(str(paths.checkpoint(name)))
    try:
        client = tracking.registry_client()
        if client is not None:
            with tracking.bounded_requests():
                for name in predict.digit_models():
                    if tracking.champion(client, tracking.registered_name(name)) is not None:
                        keys.append(f"models:/{tracking.registered_name(name)}@{tracking.CHAMPION}")
    except Exception as exc:  # the page still works on the checkpoints: say why, do not stop
        text = " ".join(str(exc).split())[:120]
        print(f"note: the model registry is not offered ({text}); the page offers the checkpoints", file=sys.stderr)
    return list(dict.fromkeys(keys))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _registry_info(uri: str) -> dict[str, Any]:
    """A ``models:/name@alias``, ``models:/name/version`` or ``runs:/id/...`` model's registry
    version, aliases, and the validation and test accuracy its training run measured."""
    from mnistflow import tracking

    info: dict[str, Any] = {}
    client = tracking.registry_client()
    if client is None:
        return info
    with tracking.bounded_requests():
        run_id = None
        if uri.startswith("models:/"):
            name, _, rest = uri[len("models:/") :].partition("@")
            if rest:
                version = client.get_model_version_by_alias(name, rest)
            else:
                name, _, number = name.partition("/")
                version = client.get_model_version(name, number)
            info.update(registered_model=name, version=str(version.version), aliases=list(version.aliases or []))
            info["val_acc"] = _number(version.tags.get(tracking.VAL_ACC_TAG))
            run_id = version.run_id
        elif uri.startswith("runs:/"):
            run_id = uri[len("runs:/") :].split("/", 1)[0]
        if run_id:
            metrics = client.get_run(run_id).data.metrics  # the last epoch's (tracking.metric_name)
            if info.get("val_acc") is None:
                info["val_acc"] = _number(metrics.get("acc/val"))
            info["test_acc"] = _number(metrics.get("acc/test"))
    return info


def _checkpoint_info(path: Path) -> dict[str, Any]:
    """A pipeline checkpoint's validation accuracy (its training's last epoch) and test
    accuracy (the evaluate stage's), from the metrics files beside it; none for other files."""
    info: dict[str, Any] = {"checkpoint": str(path)}
    name = path.stem
    if path.resolve() != paths.checkpoint(name).resolve():
        return info
    for metric, file, field_name in (
        ("val_acc", paths.train_metrics(name), "val_acc"),
        ("test_acc", paths.eval_metrics(name), "accuracy"),
    ):
        try:
            info[metric] = _number(json.loads(file.read_text(encoding="utf-8")).get(field_name))
        except (OSError, ValueError, AttributeError):
            info[metric] = None
    if info.get("test_acc") is None:  # not evaluated yet: the training's own last test accuracy
        try:
            info["test_acc"] = _number(json.loads(paths.train_metrics(name).read_text(encoding="utf-8"))["test_acc"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return info


def describe(classifier: predict.Classifier) -> dict[str, Any]:
    """What the page shows of a model: its name, where it is (registry version and aliases, or
    checkpoint), its validation and test accuracy (None when not recorded), and why it was
    chosen. Reading the registry may fail: the model still answers, the reason is kept."""
    info: dict[str, Any] = {"key": key(classifier), "name": classifier.name, "source": classifier.source}
    if classifier.why:
        info["chosen_for"] = classifier.why
    try:
        if classifier.source.startswith(("models:", "runs:")):
            info.update(_registry_info(classifier.source))
        else:
            info.update(_checkpoint_info(Path(classifier.source)))
    except Exception as exc:  # the store went away since the model was loaded: answer anyway
        info["note"] = f"its accuracy is not readable ({' '.join(str(exc).split())[:120]})"
    info.setdefault("val_acc", None)
    info.setdefault("test_acc", None)
    return info


@dataclass
class Models:
    """The models the page may use, by key: the default loaded at start-up, the others when
    first picked (a key not offered is refused: a page cannot make the server read any file)."""

    default: predict.Classifier
    offered: list[str]
    loader: Callable[[str], predict.Classifier] = load
    _loaded: dict[str, tuple[predict.Classifier, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._loaded[key(self.default)] = (self.default, describe(self.default))

    def get(self, which: str | None) -> tuple[predict.Classifier, dict[str, Any]]:
        which = which or key(self.default)
        if which not in self.offered:
            raise InputError(f"unknown model {which!r}; the server offers {', '.join(self.offered)} (GET /api/models)")
        with self._lock:  # one load per model, however many requests ask at once
            if which not in self._loaded:
                try:
                    classifier = self.loader(which)
                except UserError as exc:  # gone or broken since start-up: say so, keep serving the others
                    raise InputError(f"the model {which} cannot be used now: {exc}", 503) from None
                self._loaded[which] = (classifier, describe(classifier))
            return self._loaded[which]

    def listing(self) -> dict[str, Any]:
        return {
            "default": key(self.default),
            "models": [{"key": k, "label": label(k), **self.described(k)} for k in self.offered],
        }

    def described(self, which: str) -> dict[str, Any]:
        loaded = self._loaded.get(which)
        return loaded[1] if loaded else {}


def label(which: str) -> str:
    """A model's name in the picker: ``lenet5 (models/lenet5.pt)``, ``mnist-lenet5@champion``."""
    if which.startswith("models:/"):
        return which[len("models:/") :]
    if which.startswith("runs:/"):
        return which
    return f"{Path(which).stem} ({which})"


# --- answering -------------------------------------------------------------------------------------


def check_size(data: bytes, name: str) -> None:
    """Refuse (413) a picture of more than :data:`MAX_PIXELS` pixels, from its header (nothing
    is decoded). A body Pillow does not know as a picture passes: reading it says why."""
    from PIL import Image, UnidentifiedImageError

    too_large = f"{name}: the picture is {{}}, more than {MAX_PIXELS:,} in all; send a smaller one"
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        raise InputError(too_large.format("too large to decode"), 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return
    if width * height > MAX_PIXELS:
        raise InputError(too_large.format(f"{width}×{height} pixels"), 413)


def mnist_from_bytes(data: bytes, name: str) -> np.ndarray:
    """A picture file's bytes as the 28×28 MNIST image ``mnistflow predict`` makes of the same
    file: it is written to a temporary file and read by :func:`mnistflow.predict.mnist_like`."""
    if not data:
        raise InputError(f"{name}: the request has no picture (an empty body); send the bytes of a PNG or JPEG")
    check_size(data, name)
    with tempfile.TemporaryDirectory(prefix="mnistflow-serve-") as folder:
        path = Path(folder) / "picture"
        path.write_bytes(data)
        try:
            return predict.mnist_like(path)
        except predict.PredictError as exc:  # its message names the temporary file: name the input
            raise InputError(str(exc).replace(str(path), name)) from None


def mnist_from_array(document: Any) -> np.ndarray:
    """``{"image": 28 rows of 28 numbers}``, grey levels in [0, 1] (either polarity, like a
    picture), as the 28×28 MNIST image :func:`mnistflow.predict.to_mnist` makes of it."""
    expected = f'send {{"image": [{SIZE} rows of {SIZE} numbers in [0, 1]]}}'
    if not isinstance(document, dict) or "image" not in document:
        got = (
            f"an object with {', '.join(map(repr, document))[:80]}"
            if isinstance(document, dict)
            else f"a JSON {JSON_KINDS.get(type(document), 'value')}"
        )
        raise InputError(f"the JSON has no image (it is {got}); {expected}")
    try:
        image = np.asarray(document["image"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"the image is not rows of numbers of one length; {expected}") from None
    if image.shape != (SIZE, SIZE):
        raise InputError(f"the image has shape {list(image.shape)}, not [{SIZE}, {SIZE}]; {expected}")
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise InputError(
            f"the image's values run from {image.min():g} to {image.max():g}, not within [0, 1]; divide 0-255 "
            f"pixels by 255: {expected}"
        )
    try:
        return predict.to_mnist(image.astype(np.float32), NAMES["array"])
    except predict.PredictError as exc:
        raise InputError(str(exc)) from None


def answer(
    mnist: np.ndarray, name: str, classifier: predict.Classifier, judge: predict.SquareJudge, info: dict[str, Any]
) -> dict[str, Any]:
    """The answer for one MNIST image: ``mnistflow predict --json``'s document for it, with
    what the page shows of the model (:func:`describe`) and the 28×28 image the model read."""
    result = predict.predict_images([name], mnist[None], classifier, judge)[0]
    document = json.loads(predict.to_json([result], classifier, judge))
    document["model"] = {**document["model"], **info}
    document["mnist"] = np.round(mnist, 3).tolist()
    return document


# --- the web application -------------------------------------------------------------------------


def page_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, shipped in the package (``web/``): URL path -> (bytes, content type)."""
    web = resources.files("mnistflow") / "web"
    types = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript", "style.css": "text/css"}
    files = {f"/{name}": ((web / name).read_bytes(), kind) for name, kind in types.items()}
    files["/"] = files["/index.html"]
    return files


def create_app(models: Models, judge: predict.SquareJudge) -> Any:
    """The FastAPI application: the page at ``/``, ``GET /api/models``, ``POST /api/predict``."""
    app = FastAPI(title="mnistflow", docs_url=None, redoc_url=None, openapi_url=None)
    files = page_files()

    @app.middleware("http")
    async def same_origin_only(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = SECURITY_POLICY
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(InputError)
    async def refused(request: Request, exc: InputError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    for route, (content, kind) in files.items():

        def static(content: bytes = content, kind: str = kind) -> Response:
            return Response(content, media_type=kind)

        app.add_api_route(route, static, methods=["GET"], include_in_schema=False)

    @app.get("/api/models")
    def models_listing() -> dict[str, Any]:
        return models.listing()

    @app.post("/api/predict")
    async def predict_endpoint(request: Request, model: str | None = None):
        body = await read_body(request)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return await run_in_threadpool(respond, body, kind, model)

    def respond(body: bytes, kind: str, which: str | None) -> dict[str, Any]:
        classifier, info = models.get(which)
        if kind == "application/json":
            try:
                document = json.loads(body)
            except ValueError as exc:
                raise InputError(f'the body is not JSON ({exc}); send {{"image": [[...], ...]}}') from None
            mnist, name = mnist_from_array(document), NAMES["array"]
        elif kind.startswith("image/") or kind in ("application/octet-stream", ""):
            mnist, name = mnist_from_bytes(body, NAMES["image"]), NAMES["image"]
        else:
            raise InputError(
                f"content type {kind!r} is not a picture or JSON; send a PNG or JPEG (Content-Type: image/png) or "
                "JSON (application/json)",
                415,
            )
        try:
            return answer(mnist, name, classifier, judge, info)
        except predict.PredictError as exc:  # the model refuses (an MLflow model of the wrong kind)
            raise InputError(str(exc)) from None

    return app


async def read_body(request: Request) -> bytes:
    """The request's body, refused with 413 once it passes :data:`MAX_BODY` (not read to the end)."""
    declared = request.headers.get("content-length")
    too_large = InputError(
        f"the body is larger than {MAX_BODY // 2**20} MB; send a smaller picture (the digit is read at 20 pixels)", 413
    )
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


# --- the server ------------------------------------------------------------------------------------


def default_classifier() -> predict.Classifier | None:
    """The registry's ``@champion`` with the best validation accuracy among the digit models, or
    None when the store has none (then the local checkpoints answer, as ``mnistflow predict``'s
    default). A registry that cannot be read is a note on stderr, and the checkpoints answer."""
    from mnistflow import tracking

    try:
        with tracking.bounded_requests():
            best = tracking.best_champion(predict.digit_models())
    except Exception as exc:  # the checkpoints still answer: say why the registry does not
        text = " ".join(str(exc).split())[:120]
        print(f"note: the model registry is not read ({text}); the local checkpoints answer", file=sys.stderr)
        return None
    if best is None:
        return None
    uri, val_acc = best
    classifier = predict.select_classifier(model_uri=uri)
    classifier.why = f"the registry's champion with the best validation accuracy: {val_acc:.2%}"
    return classifier


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port); one line if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not an address of this machine ({exc.strerror}); use 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port, or leave it out for a free one"
        ) from None
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(host: str, port: int, model: str | None = None, model_uri: str | None = None) -> None:
    """Listen (first: a busy port is said at once), load the model as ``mnistflow predict
    --model/--model-uri`` would (one line and no server if it cannot be), print the address, and
    serve until Ctrl-C or SIGTERM."""
    import uvicorn

    sock = bind(host, port)
    try:
        classifier = default_classifier() if model is None and model_uri is None else None
        classifier = classifier or predict.select_classifier(model, model_uri)
        judge = predict.square_judge()
        models = Models(classifier, choices(classifier))
        app = create_app(models, judge)
        print(predict.to_text([], classifier, judge), flush=True)  # which models answer, as `predict` says it
        print(f"serving {url(sock)}  (Ctrl-C stops it)", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        try:
            server.run(sockets=[sock])  # uvicorn stops on SIGINT/SIGTERM, then raises the signal again
        except KeyboardInterrupt:
            pass
    finally:
        sock.close()
    print("stopped", flush=True)
