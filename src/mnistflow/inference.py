"""The one forward path: logits for a batch of images, in eval mode, as training measured them.

Training (per-epoch metrics), evaluation and prediction all call :func:`predict_logits`, with
the checkpoint's own ``amp`` setting, so a model is scored the way it was trained.
"""

from __future__ import annotations

import torch
from torch import nn


def autocast(device: torch.device, amp: str):
    """bfloat16 autocast when ``amp`` is bf16; a no-op context otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16")


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = 1000,
    device: torch.device | None = None,
    amp: str = "none",
    channels_last: bool = False,
) -> torch.Tensor:
    """Logits (float32, on CPU) for every row of ``x``, in eval mode, without gradients."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(x), batch_size):
            batch = to_model_layout(x[i : i + batch_size].to(device), channels_last)
            with autocast(device, amp):
                out.append(model(batch).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def to_model_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if channels_last:
        return (x.unsqueeze(1) if x.dim() == 3 else x).contiguous(memory_format=torch.channels_last)
    return x
