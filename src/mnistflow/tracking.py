"""MLflow: the only module that imports it.

A training stage opens one run per model (``training_run``): its params, the datasets it read,
per-epoch metrics as steps, final metrics, history files and the model, logged as an MLflow 3
LoggedModel and registered as ``mnist-<model>`` (servable with ``mlflow models serve``). The
track stage then adds the evaluate stage's test metrics and files and the plot stage's PNGs to
the *same* run, found by the SHA-256 of the checkpoint (``attach``); the test metrics are linked
to the logged model and the test dataset, so one run holds everything about one trained model.

The store defaults to ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlruns``,
absolute paths resolved from the user's project even inside ``dvc exp run --temp/--queue``
copies, so every experiment lands in one place. ``MLFLOW_TRACKING_URI`` overrides it (a
tracking server: ``http://host:port``), ``MLFLOW_EXPERIMENT_NAME`` the experiment ("mnist").

Every stage that logs calls :func:`check_store` before any work: an unreachable server, a
damaged or read-only SQLite file is one line naming it and the fix (:class:`UserError`), in
seconds. A run ends FINISHED, FAILED when its stage raised, KILLED when it was interrupted.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mnistflow.errors import UserError, interrupts_deferred
from mnistflow.paths import project_root

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
EXPERIMENT = "mnist"  # the default experiment; MLFLOW_EXPERIMENT_NAME overrides it
CHECKPOINT_TAG = "checkpoint_sha256"
REGISTERED_PREFIX = "mnist-"  # each model is registered as mnist-<model>
# The store check: one request, this long at most (connect and answer), no retries.
CHECK_TIMEOUT_S = 4.0
# A fresh SQLite store is created by one process at a time (MLflow's own schema creation is not
# safe against a second process doing the same); errors while creating it are retried this often.
INIT_ATTEMPTS = 5
INIT_LOCK_WAIT_S = 120.0
LOCAL_FIX = "or unset MLFLOW_TRACKING_URI to use the local mlflow.db"
DATASET_CONTEXTS = {"train": "training", "val": "validation", "test": "test"}  # split -> MLflow input context


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def experiment_name() -> str:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT


def registered_name(model: str) -> str:
    """The model registry name of pipeline model ``model``: ``mnist-<model>``."""
    return f"{REGISTERED_PREFIX}{model}"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_tags(stage: str, model: str) -> dict[str, str]:
    """The git commit, the DVC stage and, inside ``dvc exp run``, the experiment's name."""
    tags = {"dvc.stage": stage, "model": model}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


# --- metric names --------------------------------------------------------------------------------

_SPLIT_METRIC = re.compile(r"^(train|val|test)_(.+)$")


def metric_name(column: str) -> str | None:
    """The MLflow name of a per-epoch history column, grouped the way the MLflow UI charts
    metrics (by the prefix before ``/``): ``train_loss`` -> ``loss/train``, ``val_acc`` ->
    ``acc/val``, ``k0`` -> ``k/k0`` (``k1_l2`` -> ``k/k1_l2``), ``epoch_seconds`` ->
    ``time/epoch_seconds``; ``lr`` stays ``lr``. ``epoch`` is the step, not a metric (None).
    The history files keep the column names."""
    if column == "epoch":
        return None
    if match := _SPLIT_METRIC.match(column):
        return f"{match.group(2)}/{match.group(1)}"
    if column.startswith(("k0", "k1")):
        return f"k/{column}"
    if column == "epoch_seconds":
        return "time/epoch_seconds"
    return column


def epoch_metrics(row: Mapping[str, float], seconds: float) -> dict[str, float]:
    """One history row (and the epoch's wall time) under their MLflow names."""
    named = {metric_name(k): v for k, v in {**row, "epoch_seconds": seconds}.items()}
    return {k: v for k, v in named.items() if k is not None}


# --- where the store is, and what is wrong with it ------------------------------------------------


def redact(uri: str) -> str:
    """``uri`` without a password (``postgresql://user:***@host/db``)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def scheme(uri: str) -> str:
    return uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else "file"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory ones)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if path.startswith("file:"):
        path = path[len("file:") :]
    if not path or path == ":memory:":
        return None
    return Path(path).absolute()


def check_sqlite_file(path: Path) -> None:
    """A one-line :class:`UserError` if the SQLite store at ``path`` is damaged or read-only.

    A missing file is fine (MLflow creates it); so is an empty one (a new database)."""
    fix_other = "or set MLFLOW_TRACKING_URI to another store"
    folder = path.parent
    if path.is_dir():
        raise UserError(f"MLflow store {path} is a folder, not a SQLite file; move it away (`mv {path} {path}.old`) {fix_other}")
    if path.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=20)) as db:
                result = db.execute("PRAGMA quick_check").fetchone()
                if result and result[0] != "ok":
                    raise sqlite3.DatabaseError(str(result[0]))
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):
                return  # busy, not broken: MLflow waits for it
            raise UserError(
                f"MLflow store {path} is damaged ({exc}); move it away (`mv {path} {path}.broken`) and the next "
                f"stage starts a new, empty store, {fix_other}"
            ) from None
        if not os.access(path, os.W_OK):
            raise UserError(f"MLflow store {path} is read-only (no write permission); make it writable (`chmod u+w {path}`) {fix_other}")
        if not os.access(folder, os.W_OK):
            raise UserError(
                f"MLflow store {path} is read-only: its folder {folder} is not writable (SQLite writes a journal beside it); "
                f"make it writable (`chmod u+w {folder}`) {fix_other}"
            )
    elif folder.is_dir() and not os.access(folder, os.W_OK):
        raise UserError(f"MLflow store {path} cannot be created: {folder} is not writable; make it writable (`chmod u+w {folder}`) {fix_other}")


def _connection_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {reason.reason or reason}"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no route to host"
    if isinstance(reason, ConnectionError):
        return "connection reset"
    return " ".join(str(reason).split())[:120] or type(reason).__name__


def probe_server(uri: str, timeout: float = CHECK_TIMEOUT_S) -> None:
    """One bounded GET of the tracking server's ``/health``; a one-line :class:`UserError` if
    nothing answers. Any HTTP answer counts (a login or a path prefix is MLflow's business)."""
    url = uri.rstrip("/") + "/health"
    context = None
    if uri.lower().startswith("https:"):
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("1", "true"):
            context = ssl._create_unverified_context()  # what MLflow itself does with this setting
        else:
            context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            response.read(1024)
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError) as exc:
        reason = _connection_reason(exc)
        if reason.startswith("TLS"):
            hint = "set MLFLOW_TRACKING_SERVER_CERT_PATH to its certificate (or MLFLOW_TRACKING_INSECURE_TLS=true)"
        elif reason == "host name not found":
            hint = "check the host name in MLFLOW_TRACKING_URI"
        else:
            hint = "start it (`mlflow server --host <host> --port <port> …`, see README)"
        raise UserError(f"MLflow tracking server {redact(uri)} is unreachable ({reason}); {hint} {LOCAL_FIX}") from None


def describe_failure(exc: BaseException, uri: str, doing: str) -> str:
    """One line saying what went wrong with the store at ``uri`` while ``doing``, and the fix."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    shown = redact(uri)
    path = sqlite_file(uri)
    store = f"MLflow store {path}" if path else f"MLflow store {shown}"
    if "readonly database" in text or "read-only file system" in text.lower():
        target = path or shown
        return f"{store} is read-only ({doing}); make it writable (`chmod u+w {target}` and its folder) or set MLFLOW_TRACKING_URI to another store"
    if path is not None and ("file is not a database" in text or "malformed" in text):
        return f"{store} is damaged ({doing}: {text[:100]}); move it away (`mv {path} {path}.broken`) and the next stage starts a new, empty store"
    if "out-of-date database schema" in text:
        return f"{store} was made by an older MLflow ({text[:90]}); back it up, then run `mlflow db upgrade {shown}`"
    if isinstance(exc, ModuleNotFoundError) or "No module named" in text:
        module = getattr(exc, "name", None) or text
        driver = " (`.venv/bin/pip install -r requirements-postgres.txt`)" if "psycopg" in text else ""
        return f"{store} needs the database driver {module}{driver}; install it or unset MLFLOW_TRACKING_URI to use the local mlflow.db"
    if scheme(uri) in ("http", "https"):
        if "API request to" in text and ("Max retries exceeded" in text or "timeout" in text.lower() or "Connection" in text):
            reason = "connection refused" if "refused" in text else ("no answer in time" if "timeout" in text.lower() or "timed out" in text else "connection failed")
            return f"MLflow tracking server {shown} stopped answering ({doing}: {reason}); restart it and run the stage again, {LOCAL_FIX}"
        return f"MLflow tracking server {shown} refused {doing} ({text[:160]}); check MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN if it needs a login), {LOCAL_FIX}"
    if "could not connect" in text.lower() or "connection refused" in text.lower() or "could not translate host" in text.lower():
        return f"{store} is unreachable ({text[:120]}); start the database or fix MLFLOW_TRACKING_URI, {LOCAL_FIX}"
    if isinstance(exc, OSError) and not text.startswith("(") and path is None:
        return f"{store}: {doing} failed ({text[:160]}); check the artifact folder's permissions and free space"
    return f"{store}: {doing} failed ({text[:160]}); check MLFLOW_TRACKING_URI, {LOCAL_FIX}"


def _store_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the store failed" (never our own bugs' TypeErrors)."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    return (MlflowException, sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, requests.RequestException, OSError, ModuleNotFoundError)


@contextlib.contextmanager
def store_errors(uri: str, doing: str) -> Iterator[None]:
    """Turn a failure of the tracking store into one :class:`UserError` line. An interruption
    waits until the store's call is done (``errors.interrupts_deferred``)."""
    try:
        with interrupts_deferred():
            yield
    except UserError:
        raise
    except Exception as exc:
        if not isinstance(exc, _store_errors()):
            raise
        raise UserError(describe_failure(exc, uri, doing)) from None


@contextlib.contextmanager
def bounded_requests(timeout: float = CHECK_TIMEOUT_S) -> Iterator[None]:
    """MLflow's HTTP requests inside the block: no retries, ``timeout`` seconds each (instead of
    7 retries with back-off, minutes against a dead server)."""
    settings = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, round(timeout)))}
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def init_lock(path: Path | None, wait_s: float = INIT_LOCK_WAIT_S) -> Iterator[None]:
    """One process at a time opens (and so maybe creates) the SQLite store at ``path``: an
    exclusive lock on an empty file named after it in ``<tmp>/mnistflow-mlflow-locks/``.
    MLflow's schema creation is not safe against a second process doing the same (two queued
    experiments on a fresh mlflow.db: all but one fail with "table ... already exists" or
    "duplicate column name"). Bounded: after ``wait_s``, or if the lock file cannot be
    opened, it goes on without the lock (and the caller's retries)."""
    if path is None:
        yield
        return
    import fcntl

    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    lock_file = Path(tempfile.gettempdir()) / "mnistflow-mlflow-locks" / f"{key}.lock"
    try:
        lock_file.parent.mkdir(exist_ok=True)
        fh = open(lock_file, "a+")
    except OSError:
        yield
        return
    with fh:
        deadline = time.monotonic() + wait_s
        locked = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _transient(exc: BaseException) -> bool:
    """A failure that another process creating the same store at the same moment explains."""
    text = str(exc)
    return any(s in text for s in ("database is locked", "already exists", "duplicate column", "UNIQUE constraint failed", "no such table"))


# --- the experiment ----------------------------------------------------------------------------

_READY: dict[tuple[str, str], str] = {}  # (tracking URI, experiment name) -> experiment id, once checked


def _import_mlflow(uri: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow


def _get_or_create_experiment(mlflow: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, created if missing. Safe against another process creating
    it at the same moment (MLflow answers RESOURCE_ALREADY_EXISTS; it is read again)."""
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        # Artifacts beside a local database, at an absolute path (temporary DVC runs lose relative
        # ones); a tracking server keeps them where it is told to (--artifacts-destination).
        location = None if scheme(uri) in ("http", "https", "databricks") else (project_root() / "mlruns").as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise UserError(
            f"MLflow experiment '{name}' in {redact(uri)} is deleted; restore it (`mlflow experiments restore "
            f"--experiment-id {experiment.experiment_id}`) or log to another one (`export MLFLOW_EXPERIMENT_NAME=…`)"
        )
    return experiment.experiment_id


def check_store() -> str:
    """Make sure the tracking store works and holds the experiment; return the experiment's id.

    Call it before a stage does any work. An unreachable server, a damaged, read-only or
    outdated store is a one-line :class:`UserError` naming it and the fix, within about
    ``CHECK_TIMEOUT_S`` seconds (the server is probed before MLflow is even imported). A new
    SQLite store is created under a lock, with bounded retries, so parallel stages can share it.
    Cached per process: later calls only make the experiment the active one again."""
    uri, name = tracking_uri(), experiment_name()
    if (uri, name) in _READY:
        _import_mlflow(uri).set_experiment(experiment_id=_READY[uri, name])
        return _READY[uri, name]
    path = sqlite_file(uri)
    if scheme(uri) in ("http", "https"):
        probe_server(uri)
    elif path is not None:
        check_sqlite_file(path)
    with store_errors(uri, "opening it"):
        mlflow = _import_mlflow(uri)
        with bounded_requests(timeout=10), init_lock(path):
            for attempt in range(1, INIT_ATTEMPTS + 1):
                try:
                    experiment_id = _get_or_create_experiment(mlflow, name, uri)
                    break
                except UserError:
                    raise
                except Exception as exc:
                    if attempt == INIT_ATTEMPTS or not _transient(exc):
                        raise
                    time.sleep(0.2 * attempt)
        mlflow.set_experiment(experiment_id=experiment_id)
    _READY[uri, name] = experiment_id
    return experiment_id


# --- runs ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _ending(mlflow: Any, uri: str) -> Iterator[None]:
    """End the active run when the block ends: FINISHED, FAILED if the block raised, KILLED if
    it was interrupted (``errors.Interrupted``, Ctrl-C: a KeyboardInterrupt).
    A failure to record the status never hides the block's own exception."""
    try:
        yield
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            with bounded_requests():
                mlflow.end_run(status=status)
        except Exception as end_exc:  # the store failing too: say so, keep the real error
            print(f"note: could not mark the MLflow run {status} ({' '.join(str(end_exc).split())[:120]})", file=sys.stderr)
        raise
    with store_errors(uri, "ending the run"):
        mlflow.end_run(status="FINISHED")


class Run:
    """A thin handle on an active MLflow run, with the calls the stages need."""

    def __init__(self, mlflow: Any, uri: str, model: str, model_id: str | None = None, tags: Mapping[str, str] | None = None):
        self.mlflow = mlflow
        self.uri = uri
        self.model = model
        self.model_id = model_id  # the LoggedModel this run produced, once known
        self.tags = dict(tags or {})  # the run's tags when it was opened
        self.datasets: dict[str, Any] = {}  # split name -> MLflow dataset logged as an input

    @property
    def run_id(self) -> str:
        return self.mlflow.active_run().info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        with store_errors(self.uri, "logging params"):
            self.mlflow.log_params({k: v for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None, *, dataset: str | None = None, for_model: bool = False) -> None:
        """Numeric values of ``metrics``; ``dataset`` names a split logged by :meth:`log_dataset`
        they were measured on, ``for_model`` links them to the run's logged model."""
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        model_id = self.find_model_id() if for_model else None
        with store_errors(self.uri, "logging metrics"):
            self.mlflow.log_metrics(numeric, step=step, model_id=model_id, dataset=self.datasets.get(dataset) if dataset else None)

    def log_epoch(self, row: Mapping[str, float], seconds: float) -> None:
        """One per-epoch history row, as steps under grouped names (see :func:`metric_name`)."""
        self.log_metrics(epoch_metrics(row, seconds), step=int(row["epoch"]))

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        with store_errors(self.uri, f"uploading {Path(path).name}"):
            self.mlflow.log_artifact(str(path), artifact_path=folder)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        with store_errors(self.uri, "setting tags"):
            self.mlflow.set_tags(dict(tags))

    def log_dataset(self, split: str, path: str | Path, x: Any, y: Any, context: str | None = None) -> None:
        """Log split ``split`` (features ``x``, labels ``y``, read from ``path``) as an input of
        the run: name ``mnist-<split>``, digest the first 32 hex digits of the file's SHA-256
        (full hash in the input's ``sha256`` tag), shapes and dtypes as schema and profile."""
        import mlflow.data

        sha = file_sha256(path)
        with warnings.catch_warnings():  # "source can be interpreted in multiple ways" (two local sources)
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_numpy(x, targets=y, source=str(path), name=f"mnist-{split}", digest=sha[:32])
        with store_errors(self.uri, f"logging the {split} dataset"):
            self.mlflow.log_input(dataset, context=context or DATASET_CONTEXTS.get(split, split), tags={"sha256": sha, "path": str(path)})
        self.datasets[split] = dataset

    def find_model_id(self) -> str | None:
        """The id of the LoggedModel this run produced (the newest, if several)."""
        if self.model_id is None:
            with store_errors(self.uri, "finding the run's logged model"):
                run = self.mlflow.get_run(self.run_id)
                outputs = run.outputs.model_outputs if run.outputs else []
                if outputs:
                    self.model_id = outputs[-1].model_id
        return self.model_id

    def log_model(
        self,
        model: Any,
        example: Any,
        data_info: Mapping[str, Any],
        positive: Sequence[int] | None = None,
        threshold: float = 0.5,
        step: int = 0,
    ) -> str:
        """Log ``model`` as a servable MLflow model and register it as ``mnist-<model>``.

        What is logged is the network with its input scaling and output activation around it
        (:func:`served_module`): it takes what a client has, a float32 batch N×28×28 of pixel
        values in [0, 1] (white digit on black, as MNIST), and answers probabilities: per image
        the ten digits' (N×10), or for a yes/no model the positive class's (N). It is saved with
        torch.export ("pt2"): serving needs torch, not this project's code. ``example`` is a few
        images as the network saw them (after the pipeline's standardisation, ``data_info``).
        ``step`` is the last epoch: MLflow links the run's metrics of that step (the trained
        model's, not the untrained epoch 0's) to the model. Returns the LoggedModel's id; the version's description says the input format."""
        import numpy as np
        import torch
        from mlflow.models import infer_signature

        mean, std = (float(data_info["mean"]), float(data_info["std"])) if data_info.get("standardize") else (0.0, 1.0)
        pixels = (np.asarray(example, dtype=np.float32) * np.float32(std) + np.float32(mean)).astype(np.float32)
        served = served_module(model, mean, std, binary=positive is not None)
        was_training = model.training
        served.eval()
        try:
            with torch.no_grad():
                output = served(torch.from_numpy(pixels)).numpy()
            name = registered_name(self.model)
            with store_errors(self.uri, "logging the model"), warnings.catch_warnings(), _no_requirement_check():
                warnings.simplefilter("ignore")
                info = self.mlflow.pytorch.log_model(
                    served,
                    name="model",
                    input_example=pixels,
                    signature=infer_signature(pixels, output),
                    serialization_format="pt2",
                    pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
                    registered_model_name=name,
                    step=step,
                )
        finally:
            model.train(was_training)
        self.model_id = info.model_id
        if info.registered_model_version is not None:
            output_text = (
                f"per image the probability that the digit is one of {', '.join(map(str, positive))} (positive at >= {threshold:.2f})"
                if positive is not None
                else "per image the probabilities of the digits 0-9 (argmax = the predicted digit)"
            )
            with store_errors(self.uri, "describing the registered model"):
                self.mlflow.MlflowClient().update_model_version(
                    name,
                    info.registered_model_version,
                    description=(
                        f'POST /invocations {{"inputs": [...]}}: a batch N x 28 x 28 of float32 pixel values in [0, 1] '
                        f"(white digit on black, as MNIST). Answers {{\"predictions\": [...]}}: {output_text}. "
                        f"Trained by run {self.run_id}."
                    ),
                )
        return info.model_id


@contextlib.contextmanager
def _no_requirement_check() -> Iterator[None]:
    """Skip MLflow's check that the running environment satisfies the model's requirements while
    a model is logged. The requirements are ``torch==`` and ``mlflow==`` the running versions,
    so the check can only pass, and each time it indexes every installed distribution: once
    when the model is saved and once more when MLflow loads it back to check that the input
    example serves (which still runs), 1-1.5 s each. (MLflow has no setting for it: the function
    is swapped, in both modules that call it, for the block and put back.)"""
    import mlflow.pyfunc
    import mlflow.utils.environment

    callers = (mlflow.utils.environment, mlflow.pyfunc)
    saved = [caller.warn_dependency_requirement_mismatches for caller in callers]
    for caller in callers:
        caller.warn_dependency_requirement_mismatches = lambda requirements: None
    try:
        yield
    finally:
        for caller, function in zip(callers, saved):
            caller.warn_dependency_requirement_mismatches = function


def served_module(model: Any, mean: float = 0.0, std: float = 1.0, binary: bool = False) -> Any:
    """``model`` wrapped for serving: pixels in [0, 1] -> the pipeline's standardisation -> the
    network -> softmax probabilities (N×10), or the sigmoid of a yes/no model's logit (N)."""
    import torch
    from torch import nn

    class Served(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.net((x - self.mean) / self.std).float()
            return torch.sigmoid(logits.squeeze(1)) if binary else torch.softmax(logits, dim=1)

    return Served()


@contextlib.contextmanager
def training_run(stage: str, model: str, params: Mapping[str, Any]) -> Iterator[Run]:
    """Start the MLflow run of one training stage for one model, tagged and with its params;
    it ends FINISHED, or FAILED/KILLED when the block raises/is interrupted."""
    check_store()
    uri = tracking_uri()
    mlflow = _import_mlflow(uri)
    name = f"{model}-{os.environ['DVC_EXP_NAME']}" if os.environ.get("DVC_EXP_NAME") else model
    with store_errors(uri, "starting a run"):
        mlflow.start_run(run_name=name, tags=run_tags(stage, model))
    with _ending(mlflow, uri):
        run = Run(mlflow, uri, model)
        run.log_params(params)
        yield run


@contextlib.contextmanager
def attach(checkpoint: str | Path) -> Iterator[Run | None]:
    """Reopen the training run that saved ``checkpoint``; yield None if the store lacks it.

    The store is local and not versioned: a fresh clone, or another machine, has the committed
    checkpoint hashes but not the runs, and the stage then goes on without MLflow. The reopened
    run ends as it was (FINISHED), or FAILED/KILLED when the block raises/is interrupted.
    """
    experiment_id = check_store()
    uri = tracking_uri()
    mlflow = _import_mlflow(uri)
    sha = file_sha256(checkpoint)
    with store_errors(uri, "searching runs"):
        found = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=f"tags.{CHECKPOINT_TAG} = '{sha}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
    if not found:
        print(
            f"note: no MLflow run in {redact(uri)} saved {checkpoint} (sha256 {sha[:12]}); "
            "its metrics and plots are not added to MLflow (re-run its training stage to record one)",
            file=sys.stderr,
        )
        yield None
        return
    training = found[0]
    outputs = training.outputs.model_outputs if training.outputs else []
    with store_errors(uri, "reopening the run"):
        mlflow.start_run(run_id=training.info.run_id)
    with _ending(mlflow, uri):
        yield Run(mlflow, uri, training.data.tags.get("model", Path(checkpoint).stem), outputs[-1].model_id if outputs else None, training.data.tags)
