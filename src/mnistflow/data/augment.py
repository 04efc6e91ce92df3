"""Random shifts, rotations and zooms of training images, with torchvision transforms v2.

Each image in a batch gets its own random affine transform (a v2 transform applied to a
whole batch would draw one set of parameters for all of it). The draws come from torch's
global generator, which ``training.seed_everything`` seeds from params.yaml.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from mnistflow.config import AugmentConfig

Augmenter = Callable[[torch.Tensor], torch.Tensor]


def make_augmenter(cfg: AugmentConfig, fill: float = 0.0) -> Augmenter | None:
    """A function mapping a batch (N, H, W) or (N, 1, H, W) to augmented copies; None if off.

    ``fill`` is the background value uncovered by a shift or rotation (the normalised 0 pixel).
    """
    if not cfg.enabled:
        return None
    transform = v2.RandomAffine(
        degrees=cfg.degrees,
        translate=(cfg.translate, cfg.translate) if cfg.translate else None,
        scale=(1 - cfg.scale, 1 + cfg.scale) if cfg.scale else None,
        interpolation=v2.InterpolationMode.BILINEAR,
        fill=fill,
    )

    def augment(batch: torch.Tensor) -> torch.Tensor:
        images = batch.unsqueeze(1) if batch.dim() == 3 else batch
        out = torch.stack([transform(image) for image in images])
        return out.reshape(batch.shape)

    return augment
