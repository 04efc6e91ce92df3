"""Thin DVC stage entry points, run from the project root as ``python -m stages.<name>``.

Importing this package puts ``src/`` on the path (one place, instead of a copy per script).
``run`` turns the errors a user can fix into one clear line and exit status 1.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def run(main: Callable[[], object]) -> None:
    from mnistflow.errors import UserError

    try:
        main()
    except (UserError, FileNotFoundError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
