"""Random shifts, rotations and zooms of training images, drawn by torchvision's ``v2.RandomAffine``.

Each image gets its own random affine transform, drawn by ``v2.RandomAffine.make_params`` from
torch's global generator (seeded by ``training.seed_everything``). Calling the v2 transform once
per image costs about 75 µs of Python overhead per image (4 s per epoch of 54,000 images); a v2
transform applied to a whole batch would draw one set of parameters for all of it. So the drawn
parameters become one inverse affine matrix per image (the matrix torchvision's ``affine``
builds, written out below for rotation, shift and zoom) and the whole batch is resampled at once
by torch's public ``grid_sample`` on the sampling grid torchvision's ``affine`` computes: the
same images as the per-image v2 transform (``tests/test_cnn.py`` checks it), at a fraction of
the cost (``benchmarks/cnn_speed.py`` prints the speeds). Only public API is used.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from mnistflow.config import AugmentSettings

Augmenter = Callable[[torch.Tensor], torch.Tensor]


def random_affine(cfg: AugmentSettings, fill: float = 0.0) -> v2.RandomAffine:
    """The torchvision v2 transform that ``cfg`` describes (bilinear, background ``fill``)."""
    return v2.RandomAffine(
        degrees=cfg.degrees,
        translate=(cfg.translate, cfg.translate) if cfg.translate else None,
        scale=(1 - cfg.scale, 1 + cfg.scale) if cfg.scale else None,
        interpolation=v2.InterpolationMode.BILINEAR,
        fill=fill,
    )


def inverse_affine(angle: float, translate: tuple[float, float], scale: float) -> list[list[float]]:
    """The 2x3 matrix mapping output to input pixel positions, both relative to the image centre.

    Rotating by ``angle`` degrees (counter-clockwise on screen), zooming by ``scale`` and
    shifting by ``translate`` pixels sends input point p to ``scale * R p + t``; the inverse is
    ``R^T (q - t) / scale``: torchvision's ``affine`` matrix without shear, term for term.
    """
    rad = math.radians(angle)
    cos, sin = math.cos(rad) / scale, math.sin(rad) / scale
    tx, ty = translate
    return [[cos, sin, -(cos * tx + sin * ty)], [-sin, cos, -(-sin * tx + cos * ty)]]


def pixel_grid(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(1, H*W, 3): each output pixel's centre relative to the image centre, and a 1 column."""
    xs = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, dtype=dtype, device=device)
    ys = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height, dtype=dtype, device=device)
    grid = torch.ones(height, width, 3, dtype=dtype, device=device)
    grid[..., 0] = xs
    grid[..., 1] = ys.unsqueeze(-1)
    return grid.view(1, height * width, 3)


def make_augmenter(cfg: AugmentSettings, fill: float = 0.0) -> Augmenter | None:
    """A function mapping a batch (N, H, W) or (N, 1, H, W) to augmented copies; None if off.

    ``fill`` is the background value uncovered by a shift or rotation (the normalised 0 pixel).
    """
    if not cfg.enabled:
        return None
    transform = random_affine(cfg, fill)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        images = batch.unsqueeze(1) if batch.dim() == 3 else batch
        n, _, height, width = images.shape
        matrices = []
        for image in images:
            p = transform.make_params([image])
            matrices.append(inverse_affine(p["angle"], p["translate"], p["scale"]))
        theta = torch.tensor(matrices, dtype=images.dtype, device=images.device)
        # Input positions in grid_sample's [-1, 1] coordinates (align_corners=False): pixel
        # offsets from the centre divided by the half-sizes.
        half = torch.tensor([0.5 * width, 0.5 * height], dtype=images.dtype, device=images.device)
        grid = torch.matmul(pixel_grid(height, width, images.dtype, images.device), theta.transpose(1, 2) / half)
        grid = grid.view(n, height, width, 2)
        # Background as torchvision's affine makes it: resample the images together with a
        # channel of ones, whose result (``mask``) says how much of each output pixel came from
        # inside the image; the rest becomes ``fill``.
        ones = torch.ones_like(images[:, :1])
        sampled = F.grid_sample(torch.cat([images, ones], dim=1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out, mask = sampled[:, :-1], sampled[:, -1:]
        out = mask * (out - fill) + fill
        return out.reshape(batch.shape)

    return augment
