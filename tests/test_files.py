"""Atomic writes keep the user's umask: a result file is as readable as a plain ``open`` makes it."""

from __future__ import annotations

import os
import stat

import pytest

from mnistflow.files import atomic_path, current_umask, staged, write_json


@pytest.mark.parametrize(
    "umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750), (0o077, 0o600, 0o700)]
)
def test_written_files_and_folders_follow_the_umask(tmp_path, umask, file_mode, folder_mode):
    saved = os.umask(umask)
    try:
        assert current_umask() == umask
        write_json(tmp_path / "metrics" / "a.json", {"a": 1})
        with atomic_path(tmp_path / "b.npy") as tmp:
            tmp.write_bytes(b"x")
        with staged(tmp_path) as stage_file:
            write_json(stage_file("plots/m/c.json"), [])
            (stage_file("plots/m/images")).mkdir()
            (stage_file("plots/m/images") / "d.png").write_bytes(b"png")
    finally:
        os.umask(saved)
    for path in ("metrics/a.json", "b.npy", "plots/m/c.json", "plots/m/images/d.png"):
        assert stat.S_IMODE((tmp_path / path).stat().st_mode) == file_mode, path
    for path in ("metrics", "plots", "plots/m", "plots/m/images"):
        assert stat.S_IMODE((tmp_path / path).stat().st_mode) == folder_mode, path
