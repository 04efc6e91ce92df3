"""``python -m mnistflow <command> ...``: the same as the ``mnistflow`` command (see :mod:`mnistflow.cli`)."""

from mnistflow.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
