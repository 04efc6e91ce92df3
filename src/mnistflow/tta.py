"""Test-time augmentation: the answer on an image is the mean of the answers on it and on copies
shifted by one pixel.

A CNN built with ``tta`` other than ``none`` (``model.tta`` in params.yaml) answers this way in
eval mode, in its own ``forward``: the per-epoch evaluation, the saved test and perturbed
answers that evaluate scores, the checkpoint that ``mnistflow predict`` loads and the MLflow
model all run that forward, so every caller gets the same answers by construction. In training
mode the forward is the plain one.

The mean is of probabilities (softmax, or a yes/no model's sigmoid), returned as logits whose
softmax (sigmoid) is that mean: log of the mean probability, computed by log-sum-exp so a sure
answer stays finite.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

# (dx, dy) in pixels, content moved right and down; the unshifted image first.
SHIFTS: dict[str, tuple[tuple[int, int], ...]] = {
    "none": ((0, 0),),
    "plus": ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)),
    "ring": ((0, 0),) + tuple((dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dx or dy),
}


def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """(N, C, H, W) images moved ``dx`` pixels right and ``dy`` down (|dx|, |dy| <= 1); the
    uncovered edge gets each image's background (its smallest value)."""
    if not dx and not dy:
        return x
    height, width = x.shape[-2:]
    background = x.amin(dim=(-2, -1), keepdim=True)
    padded = F.pad(x - background, (1, 1, 1, 1))
    return padded[..., 1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width] + background


def mean_logits(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, shifts, binary: bool) -> torch.Tensor:
    """Logits of the mean probability of ``forward`` over ``x`` shifted by each of ``shifts``."""
    if len(shifts) == 1 and shifts[0] == (0, 0):
        return forward(x)
    logits = torch.stack([forward(shift(x, dx, dy)).float() for dx, dy in shifts])
    log_n = math.log(len(shifts))
    if binary:  # log p - log (1 - p) of the mean sigmoid
        return torch.logsumexp(F.logsigmoid(logits), 0) - torch.logsumexp(F.logsigmoid(-logits), 0)
    return torch.logsumexp(torch.log_softmax(logits, dim=-1), 0) - log_n


@contextlib.contextmanager
def suspended(model: nn.Module) -> Iterator[None]:
    """``model`` answers without test-time augmentation inside the block (a model without it: no change)."""
    mode = getattr(model, "tta", None)
    if mode is None or mode == "none":
        yield
        return
    model.tta = "none"
    try:
        yield
    finally:
        model.tta = mode
