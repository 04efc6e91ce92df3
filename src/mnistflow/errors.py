"""The errors a user can fix, and interruption.

Stage entry points print these as one ``error: ...`` line instead of a traceback, naming the
command that brings the stage's last good outputs back (:func:`restore_command`). A stage also
stops, as if interrupted, when the DVC command that started it dies (:func:`interrupt_when_orphaned`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class UserError(Exception):
    """Something the user can put right; the message says what and how."""


class PredictError(UserError, ValueError):
    """``mnistflow predict``: an image that cannot be read or holds no digit, or a model that cannot be used."""


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGINT or SIGTERM); ``where`` says how far it got and
    what was left behind ("at epoch 3 of 14; nothing written").

    A KeyboardInterrupt, so ``except Exception`` blocks let it through; context managers that
    clean up (staged outputs, MLflow runs) see it and end their work as killed.
    """

    def __init__(self, signum: int, where: str = "") -> None:
        super().__init__(signum, where)
        self.signum = signum
        self.where = where

    def at(self, where: str) -> Interrupted:
        """The same interruption, saying where it happened (the innermost place wins)."""
        return self if self.where else Interrupted(self.signum, where)


# --- turning SIGINT/SIGTERM into Interrupted, at a safe point -----------------------------------
# A signal handler raises in whatever the main thread is doing. Inside a write to the MLflow
# store that would leave SQLite's write lock held by a transaction nobody rolls back, and the
# run could not then be marked KILLED ("database is locked"). Such work runs inside
# ``interrupts_deferred()``: a signal arriving there is raised when the block ends.

_deferring = 0
_pending: int | None = None


def _on_signal(signum: int, frame: object) -> None:
    global _pending
    signal.signal(signum, signal.SIG_IGN)  # one signal is enough; a second must not interrupt the cleanup
    if _deferring:
        _pending = signum
        return
    raise Interrupted(signum)


def handle_interrupts() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` (stage entry points call this)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back a SIGINT/SIGTERM that arrives inside the block until it has finished; it is
    then raised as :class:`Interrupted`. If the block raised an error of its own, that error goes
    on and the interruption waits for the end of the next such block."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if _deferring == 0 and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


# --- what brings a failed stage's outputs back --------------------------------------------------
# DVC deletes a stage's outputs before its command runs (only track's registry record is
# `persist: true`, which costs a stage its run-cache), so a stage that fails or is interrupted
# leaves none. What DVC caches comes back with `dvc checkout <stage>`; `cache: false` outputs
# (metrics, plot data) are committed to git and `dvc checkout` skips them, so git brings those back.


def restore_command(stage: str | None = None, root: str | os.PathLike | None = None) -> str | None:
    """The command that brings back the last good outputs of DVC stage ``stage`` (default: the
    one DVC is running, ``$DVC_STAGE``), as dvc.yaml declares them and dvc.lock records them;
    None outside DVC, for a stage that never succeeded, and in a ``dvc exp run --temp/--queue``
    copy (the workspace was never touched)."""
    stage = stage or os.environ.get("DVC_STAGE")
    root = Path(root or os.environ.get("DVC_ROOT") or ".")
    if not stage or "/.dvc/tmp/exps/" in f"{root.resolve().as_posix()}/":
        return None
    try:
        cached, committed = _declared_outs(root / "dvc.yaml", stage)
        if stage not in (_load_yaml(root / "dvc.lock").get("stages") or {}):
            return None
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    commands = ([f"dvc checkout {stage}"] if cached else []) + (
        [f"git checkout -- {' '.join(committed)}"] if committed else []
    )
    return " && ".join(commands) or None


def _load_yaml(path: Path) -> dict:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def _declared_outs(dvc_yaml: Path, stage: str) -> tuple[list[str], list[str]]:
    """The paths ``stage`` writes, (DVC-cached, ``cache: false``); ``train@ann`` is the
    ``foreach`` stage ``train`` with ``${key}`` = ann."""
    name, _, key = stage.partition("@")
    spec = _load_yaml(dvc_yaml)["stages"][name]
    if key:
        spec = spec["do"]
    cached: list[str] = []
    committed: list[str] = []
    for section in ("outs", "metrics", "plots"):
        for entry in spec.get(section) or []:
            path, options = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
            path = path.replace("${key}", key)
            (cached if (options or {}).get("cache", True) else committed).append(path)
    return cached, committed


def with_restore_hint(message: str) -> str:
    """``message``, and when DVC runs the stage, the command that brings its last good outputs back."""
    command = restore_command()
    return f"{message.rstrip().rstrip('.')}; `{command}` brings back the last good outputs" if command else message


# --- stopping with the process that started the stage ----------------------------------------
# `dvc repro` runs a stage through a shell; killed outright (SIGKILL, an OOM kill, a closed
# terminal), it takes no child with it: the shell is adopted by init and the training goes on,
# writing to a pipe nobody reads and leaving its MLflow run RUNNING forever. A daemon thread
# watches the processes above this one, up to the DVC command, and interrupts this process as
# SIGTERM does once one of them is gone: the run ends KILLED and nothing partial is written.
# (PR_SET_PDEATHSIG would cover only the direct parent, which is the shell that outlives DVC.)

ORPHAN_POLL_S = 0.5


def interrupt_when_orphaned(poll_s: float = ORPHAN_POLL_S) -> None:
    """Watch, in a daemon thread, the processes that started this one (:func:`lineage`); when
    one has gone, send this process SIGTERM (``handle_interrupts`` makes it :class:`Interrupted`)."""
    watched = lineage()
    if watched:
        threading.Thread(target=_watch, args=(watched, poll_s), name="orphan-watch", daemon=True).start()


def lineage() -> list:
    """The ancestors whose death must stop this process: up to and including the nearest DVC
    process (under torchrun that is the launcher, the shell and DVC), else the parent alone;
    none when psutil is missing or the parent is init."""
    try:
        import psutil  # installed with DVC
    except ImportError:
        return []
    try:
        ancestors = psutil.Process().parents()
    except psutil.Error:  # /proc unreadable: nothing to watch
        return []
    for i, process in enumerate(ancestors):
        if _is_dvc(process):
            return ancestors[: i + 1]
    return ancestors[:1] if ancestors and ancestors[0].pid != 1 else []


def _is_dvc(process) -> bool:
    import psutil

    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return False
    return any(Path(arg).name == "dvc" for arg in cmdline[:2]) or cmdline[1:3] == ["-m", "dvc"]


def alive(process) -> bool:
    """Running, and not a zombie (a killed process its parent has not yet reaped)."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _watch(watched: list, poll_s: float) -> None:
    while all(alive(process) for process in watched):
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)
