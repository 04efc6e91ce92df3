"""Atomic file writes and small JSON/CSV helpers.

Every output goes to a temporary file beside its target and is renamed into place, so a
crash or a failed stage never leaves a half-written file where DVC or a user would read it.
The temporary file gets the mode a plain ``open`` would (0o666 less the umask), not
``mkstemp``'s 0o600, so teammates can read the results.
A stage with several outputs writes them all into a staging folder first (``staged``) and
moves them into place only once everything, MLflow included, has succeeded: it either
completes or writes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success.

    The temporary file keeps ``path``'s suffix, so libraries that pick a format by
    extension (``np.savez``, ``savefig``) write the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would outlive the rename
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask: Linux shows it in /proc; elsewhere it is read by setting it and
    setting it straight back (a file another thread creates meanwhile could get 0o022's mode)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


STAGING_PREFIX = ".staging-"


@contextlib.contextmanager
def staged(root: str | os.PathLike = ".") -> Iterator[Callable[[str | os.PathLike], Path]]:
    """Yield ``stage(path) -> staging path`` (the same one each time for a path); on success move
    every staged file or folder onto its ``path`` (relative to ``root``), on any error (or
    interruption) delete them all.

    The staging folder sits in ``root``, so the final moves are renames on one file system,
    and a staged file keeps its name (MLflow logs it under that name before it moves).
    """
    root = Path(root)
    tmp = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    targets: dict[Path, None] = {}  # in order of first use

    def stage(path: str | os.PathLike) -> Path:
        path = Path(path)
        if path.is_absolute():
            raise ValueError(f"staged paths are relative to the project, got {path}")
        targets[path] = None
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        return tmp / path

    try:
        yield stage
        for path in targets:
            source, target = tmp / path, root / path
            if not source.exists():
                raise FileNotFoundError(f"staged output {path} was never written")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir() and target.is_dir():
                shutil.rmtree(target)
            os.replace(source, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes files; mode {mode!r} has no 'w'")
    encoding = None if "b" in mode else "utf-8"
    newline = None if "b" in mode else ""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as fh:
        yield fh


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON with a trailing newline (stable for git diffs)."""
    with atomic_open(path) as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Write dict rows as CSV; columns default to the first row's keys in order."""
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    with atomic_open(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_value(row.get(key)) for key in columns})


def _csv_value(value: Any) -> Any:
    # Floats at 6 significant digits keep committed CSVs short and diffs readable.
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def read_csv(path: str | os.PathLike) -> list[dict[str, float | int | str]]:
    """Read a CSV written by :func:`write_csv`, turning numeric strings back into numbers."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [{key: _parse_number(value) for key, value in row.items()} for row in csv.DictReader(fh)]


def _parse_number(text: str) -> float | int | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
