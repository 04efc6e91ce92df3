"""Thin DVC stage entry points, run from the project root as ``python -m stages.<name>``.

Importing this package puts ``src/`` on the path (one place, instead of a copy per script).
``run`` turns the errors a user can fix into one clear line and exit status 1, and SIGINT or
SIGTERM into one line and the conventional status (130, 143); under DVC the line ends with the
command that brings the stage's last good outputs back (DVC deleted them before the stage ran).
A stage stops, as on SIGTERM, when the DVC command that started it is killed.

A stage runs without Python's cyclic garbage collector, and freezes what it made before it
exits. Its time goes to imports (torch, MLflow, matplotlib: over a million objects, which each
full collection walks again) and to loops that make few reference cycles, so collecting only
costs time, and at exit the interpreter's last collection would walk the whole heap again
(docs/speed.md has the measurements).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def run(main: Callable[[], object]) -> None:
    from mnistflow.errors import Interrupted, UserError, handle_interrupts, interrupt_when_orphaned, with_restore_hint

    handle_interrupts()
    interrupt_when_orphaned()
    gc.disable()
    try:
        main()
    except Interrupted as exc:
        print(
            with_restore_hint(f"interrupted {exc.where}" if exc.where else "interrupted; nothing written"),
            file=sys.stderr,
        )
        sys.exit(128 + exc.signum)
    except (UserError, FileNotFoundError) as exc:
        print(with_restore_hint(f"error: {exc}"), file=sys.stderr)
        sys.exit(1)
    finally:
        gc.freeze()
