"""The errors a user can fix, and interruption.

Stage entry points print these as one ``error: ...`` line instead of a traceback.
"""
from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class UserError(Exception):
    """Something the user can put right; the message says what and how."""


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
