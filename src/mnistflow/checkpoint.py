"""Checkpoint files: the one place they are written and read.

A checkpoint is ``torch.save`` of a plain dict: the ``state_dict`` (CPU tensors), what rebuilds
the network (``arch`` + ``kwargs``, see ``models.build_model``), the :class:`~mnistflow.tasks.Task`
and the training context (params, data info, amp). It is read with ``weights_only=True``, so a
file from elsewhere cannot run code.

Identical weights give identical bytes: the file is serialised in memory first, because
``torch.save`` to a path names the zip's records after that file (a random temporary name
here), and then written atomically. safetensors would also be deterministic but carries only
tensors, so the config would need a second file; one ``torch.save`` file keeps the checkpoint
self-describing.
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistflow.errors import UserError
from mnistflow.files import atomic_open
from mnistflow.models import build_model
from mnistflow.tasks import Task

REQUIRED = ("arch", "kwargs", "state_dict")


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file is missing, damaged or not one of this pipeline's."""


def _restore_hint(path: Path) -> str:
    model = path.stem
    return (
        f"restore it with `dvc checkout {path}` (or `dvc pull {path}`), or retrain it with `dvc repro -f train@{model}`"
    )


def to_bytes(model: nn.Module, arch: str, kwargs: dict[str, Any], task: Task, extra: dict[str, Any]) -> bytes:
    """The checkpoint's bytes: the same weights, config and context always give the same bytes."""
    payload = {
        "arch": arch,
        "kwargs": kwargs,
        "task": task.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        **extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save(
    path: str | Path, model: nn.Module, arch: str, kwargs: dict[str, Any], task: Task, extra: dict[str, Any]
) -> None:
    """Write the checkpoint atomically (see :func:`to_bytes`)."""
    data = to_bytes(model, arch, kwargs, task, extra)
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def unpickler_reason(exc: pickle.UnpicklingError) -> str:
    """The one informative sentence of torch's weights-only refusal (it wraps it in advice)."""
    kept = []
    for line in str(exc).splitlines():
        line = line.strip().rpartition("WeightsUnpickler error:")[2].strip()
        if line and not line.startswith(("Weights only load failed", "Check the documentation")):
            kept.append(line)
    return " ".join(kept)[:160] or type(exc).__name__


def read(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint's payload; :class:`CheckpointError` (one line, with the fix) if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing; run its training stage (`dvc repro train@{path.stem}`) or fetch it (`dvc pull {path}`)"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty; {_restore_hint(path)}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses anything but tensors and plain containers: a plain pickle, a
        # pickled object, or bytes that are no pickle at all.
        detail = unpickler_reason(exc)
        raise CheckpointError(
            f"{path} is not a checkpoint this pipeline wrote: a weights-only load refuses it ({detail}); "
            f"{_restore_hint(path)}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({detail}); {_restore_hint(path)}") from None
    if not isinstance(payload, dict) or any(key not in payload for key in REQUIRED):
        raise CheckpointError(
            f"{path} is a torch file but not this pipeline's checkpoint (it lacks {', '.join(REQUIRED)}); "
            f"{_restore_hint(path)}"
        )
    return payload


def load(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Task, dict[str, Any]]:
    """Rebuild the network a checkpoint describes, with its weights, in eval mode; return
    (model, task, payload)."""
    payload = read(path, device)
    try:
        model = build_model(payload["arch"], payload["kwargs"])
    except (ValueError, TypeError) as exc:  # an architecture or arguments this code does not know
        detail = " ".join(str(exc).split())[:120]
        raise CheckpointError(
            f"{path} describes a network this pipeline cannot build ({detail}); {_restore_hint(Path(path))}"
        ) from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:120]
        raise CheckpointError(
            f"{path}: its weights do not fit its own architecture ({detail}); {_restore_hint(Path(path))}"
        ) from None
    model.to(device).eval()
    return model, Task.from_dict(payload.get("task", {})), payload
