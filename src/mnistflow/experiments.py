"""DVC experiments as rows: what the sweep, activation and seeds scripts read from `dvc exp show --json`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any


def experiments(show: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One dict per experiment of `dvc exp show --json`: name, rev, state (queued, running,
    success, failed; None for one run outside the queue), params.yaml's data, metrics by file."""
    rows = []
    for baseline in show:
        for group in baseline.get("experiments") or []:
            state = (group.get("executor") or {}).get("state")
            for rev in group.get("revs") or []:
                data = rev.get("data") or {}
                params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
                metrics = {path: (m or {}).get("data") or {} for path, m in (data.get("metrics") or {}).items()}
                name = rev.get("name") or group.get("name") or rev["rev"][:7]
                rows.append({"name": name, "rev": rev["rev"], "state": state, "params": params, "metrics": metrics})
    return rows


def exp_show(dvc: str = "dvc", all_commits: bool = False) -> list[dict[str, Any]]:
    """:func:`experiments` of this project (``all_commits``: also those of earlier commits);
    a failing `dvc exp show` is a RuntimeError with DVC's own message."""
    out = subprocess.run(
        [dvc, "exp", "show", "--json", *(["--all-commits"] if all_commits else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"dvc exp show failed: {' '.join(out.stderr.split())}")
    return experiments(json.loads(out.stdout))
