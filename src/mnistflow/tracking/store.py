"""The MLflow tracking store: where it is, whether it works, and one line when it does not.

The store defaults to ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlruns``,
absolute paths resolved from the user's project even inside ``dvc exp run --temp/--queue``
copies, so every experiment lands in one place. ``MLFLOW_TRACKING_URI`` overrides it (a
tracking server: ``http://host:port``), ``MLFLOW_EXPERIMENT_NAME`` the experiment ("mnist").

Every stage that logs calls :func:`check_store` before any work: an unreachable server, a
damaged or read-only SQLite file is one line naming it and the fix (:class:`UserError`), in
seconds. :func:`store_errors` turns a later failure of the store into such a line too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import sqlite3
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mnistflow.errors import UserError, interrupts_deferred
from mnistflow.paths import project_root

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
EXPERIMENT = "mnist"  # the default experiment; MLFLOW_EXPERIMENT_NAME overrides it
# MLflow 3 records what an experiment is for in this tag; without it the UI guesses, and opens a
# new experiment on the GenAI overview (traces) instead of the training runs.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# The store check: one request, this long at most (connect and answer), no retries.
CHECK_TIMEOUT_S = 4.0
# A fresh SQLite store is created by one process at a time (MLflow's own schema creation is not
# safe against a second process doing the same); errors while creating it are retried this often.
INIT_ATTEMPTS = 5
INIT_LOCK_WAIT_S = 120.0
LOCAL_FIX = "or unset MLFLOW_TRACKING_URI to use the local mlflow.db"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def experiment_name() -> str:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT


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
        raise UserError(
            f"MLflow store {path} is a folder, not a SQLite file; move it away (`mv {path} {path}.old`) {fix_other}"
        )
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
            raise UserError(
                f"MLflow store {path} is read-only (no write permission); make it writable (`chmod u+w {path}`) "
                f"{fix_other}"
            )
        if not os.access(folder, os.W_OK):
            raise UserError(
                f"MLflow store {path} is read-only: its folder {folder} is not writable (SQLite writes a journal "
                f"beside it); make it writable (`chmod u+w {folder}`) {fix_other}"
            )
    elif folder.is_dir() and not os.access(folder, os.W_OK):
        raise UserError(
            f"MLflow store {path} cannot be created: {folder} is not writable; make it writable (`chmod u+w {folder}`) "
            f"{fix_other}"
        )


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
        return (
            f"{store} is read-only ({doing}); make it writable (`chmod u+w {target}` and its folder) or set "
            "MLFLOW_TRACKING_URI to another store"
        )
    if path is not None and ("file is not a database" in text or "malformed" in text):
        return (
            f"{store} is damaged ({doing}: {text[:100]}); move it away (`mv {path} {path}.broken`) and the next "
            "stage starts a new, empty store"
        )
    if "out-of-date database schema" in text:
        return f"{store} was made by an older MLflow ({text[:90]}); back it up, then run `mlflow db upgrade {shown}`"
    if isinstance(exc, ModuleNotFoundError) or "No module named" in text:
        module = getattr(exc, "name", None) or text
        driver = " (`.venv/bin/pip install -r requirements-postgres.txt`)" if "psycopg" in text else ""
        return (
            f"{store} needs the database driver {module}{driver}; install it or unset MLFLOW_TRACKING_URI to use "
            "the local mlflow.db"
        )
    if scheme(uri) in ("http", "https"):
        if "API request to" in text and (
            "Max retries exceeded" in text or "timeout" in text.lower() or "Connection" in text
        ):
            reason = (
                "connection refused"
                if "refused" in text
                else ("no answer in time" if "timeout" in text.lower() or "timed out" in text else "connection failed")
            )
            return (
                f"MLflow tracking server {shown} stopped answering ({doing}: {reason}); restart it and run the "
                f"stage again, {LOCAL_FIX}"
            )
        return (
            f"MLflow tracking server {shown} refused {doing} ({text[:160]}); check MLFLOW_TRACKING_URI (and "
            f"MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN if it needs a login), {LOCAL_FIX}"
        )
    if (
        "could not connect" in text.lower()
        or "connection refused" in text.lower()
        or "could not translate host" in text.lower()
    ):
        return f"{store} is unreachable ({text[:120]}); start the database or fix MLFLOW_TRACKING_URI, {LOCAL_FIX}"
    if isinstance(exc, OSError) and not text.startswith("(") and path is None:
        return f"{store}: {doing} failed ({text[:160]}); check the artifact folder's permissions and free space"
    return f"{store}: {doing} failed ({text[:160]}); check MLFLOW_TRACKING_URI, {LOCAL_FIX}"


def _store_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the store failed" (never our own bugs' TypeErrors)."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    return (
        MlflowException,
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        requests.RequestException,
        OSError,
        ModuleNotFoundError,
    )


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
    return any(
        s in text
        for s in (
            "database is locked",
            "already exists",
            "duplicate column",
            "UNIQUE constraint failed",
            "no such table",
        )
    )


# --- the experiment ----------------------------------------------------------------------------

_READY: dict[tuple[str, str], str] = {}  # (tracking URI, experiment name) -> experiment id, once checked


def mlflow_at(uri: str) -> Any:
    """The ``mlflow`` module, pointed at the store ``uri``. Imported here, when first needed: it
    takes seconds, and ``mnistflow`` commands that log nothing never pay for it."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow


def forget_checked_stores() -> None:
    """Make the next :func:`check_store` check its store again (a process that moves between
    stores, or a test that breaks one after it was checked)."""
    _READY.clear()


def _get_or_create_experiment(mlflow: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, created if missing, tagged as model training
    (``EXPERIMENT_KIND``). Safe against another process creating it at the same moment (MLflow
    answers RESOURCE_ALREADY_EXISTS; it is read again)."""
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    key, kind = EXPERIMENT_KIND
    if experiment is None:
        # Artifacts beside a local database, at an absolute path (temporary DVC runs lose relative
        # ones); a tracking server keeps them where it is told to (--artifacts-destination).
        location = None if scheme(uri) in ("http", "https", "databricks") else (project_root() / "mlruns").as_uri()
        try:
            return client.create_experiment(name, artifact_location=location, tags={key: kind})
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
    if key not in experiment.tags:  # made before the tag was set here, or by hand: a kind chosen by someone is kept
        client.set_experiment_tag(experiment.experiment_id, key, kind)
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
        mlflow_at(uri).set_experiment(experiment_id=_READY[uri, name])
        return _READY[uri, name]
    path = sqlite_file(uri)
    if scheme(uri) in ("http", "https"):
        probe_server(uri)
    elif path is not None:
        check_sqlite_file(path)
    with store_errors(uri, "opening it"):
        mlflow = mlflow_at(uri)
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
