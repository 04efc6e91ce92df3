"""The errors a user can fix, and interruption.

Stage entry points print these as one ``error: ...`` line instead of a traceback.
"""
from __future__ import annotations


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
