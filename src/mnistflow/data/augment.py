"""Random shifts, rotations and zooms of training images, as torchvision's ``v2.RandomAffine`` draws them.

Each image gets its own random affine transform, from the same distributions as
``v2.RandomAffine(degrees, translate, scale)``: an angle uniform in ±degrees, a shift of a whole
number of pixels (a uniform draw in ±translate × size, rounded) and a zoom uniform in 1 ± scale.
v2's own transform draws them with four ``torch.empty(1).uniform_()`` calls per image and
resamples one image per call, so Python's per-image overhead dominates an epoch. Here one
``torch.rand(n, 4)`` from torch's global generator (seeded by ``training.seed_everything``) draws
a whole batch's parameters, they become one inverse affine matrix per image (the matrix
torchvision's ``affine`` builds, written out below for rotation,
shift and zoom), and the batch is resampled at once by torch's ``grid_sample``: per image the
same picture as ``torchvision.transforms.v2.functional.affine`` with those parameters
(``tests/test_cnn.py`` checks it), at a fraction of the cost (``benchmarks/cnn_speed.py``).
torchvision itself is not imported: training does not pay its 2 s import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from mnistflow.config import AugmentSettings
from mnistflow.data.elastic import make_elastic

Augmenter = Callable[[torch.Tensor], torch.Tensor]


class AffineParams(NamedTuple):
    """One value per image: rotation (degrees, counter-clockwise on screen), shift in whole
    pixels (x right, y down) and zoom."""

    angle: torch.Tensor
    tx: torch.Tensor
    ty: torch.Tensor
    scale: torch.Tensor


def draw_params(cfg: AugmentSettings, n: int, height: int, width: int) -> AffineParams:
    """``n`` images' parameters from one ``torch.rand`` call on torch's global generator."""
    u = torch.rand(n, 4, dtype=torch.float64)
    angle = (2 * u[:, 0] - 1) * cfg.degrees
    tx = torch.round((2 * u[:, 1] - 1) * (cfg.translate * width))  # round half to even, as Python's round
    ty = torch.round((2 * u[:, 2] - 1) * (cfg.translate * height))
    scale = 1 + (2 * u[:, 3] - 1) * cfg.scale
    return AffineParams(angle, tx, ty, scale)


def inverse_affine(params: AffineParams) -> torch.Tensor:
    """(n, 2, 3): per image the matrix mapping output to input pixel positions, both relative to
    the image centre.

    Rotating by ``angle``, zooming by ``scale`` and shifting by ``(tx, ty)`` pixels sends input
    point p to ``scale * R p + t``; the inverse is ``R^T (q - t) / scale``: torchvision's
    ``affine`` matrix without shear, term for term.
    """
    rad = torch.deg2rad(params.angle)
    cos, sin = torch.cos(rad) / params.scale, torch.sin(rad) / params.scale
    tx, ty = params.tx, params.ty
    row0 = torch.stack([cos, sin, -(cos * tx + sin * ty)], dim=1)
    row1 = torch.stack([-sin, cos, -(-sin * tx + cos * ty)], dim=1)
    return torch.stack([row0, row1], dim=1)


def pixel_grid(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(1, H*W, 3): each output pixel's centre relative to the image centre, and a 1 column."""
    xs = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, dtype=dtype, device=device)
    ys = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height, dtype=dtype, device=device)
    grid = torch.ones(height, width, 3, dtype=dtype, device=device)
    grid[..., 0] = xs
    grid[..., 1] = ys.unsqueeze(-1)
    return grid.view(1, height * width, 3)


def apply_affine(images: torch.Tensor, params: AffineParams, fill: float = 0.0) -> torch.Tensor:
    """Every image of the (N, 1, H, W) batch moved by its own parameters, bilinear, with the
    uncovered background set to ``fill``."""
    n, _, height, width = images.shape
    theta = inverse_affine(params).to(images.dtype).to(images.device)
    # Input positions in grid_sample's [-1, 1] coordinates (align_corners=False): pixel
    # offsets from the centre divided by the half-sizes.
    half = torch.tensor([0.5 * width, 0.5 * height], dtype=images.dtype, device=images.device)
    grid = torch.matmul(pixel_grid(height, width, images.dtype, images.device), theta.transpose(1, 2) / half)
    grid = grid.view(n, height, width, 2)
    # Background as torchvision's affine makes it: resample the images together with a
    # channel of ones, whose result (``mask``) says how much of each output pixel came from
    # inside the image; the rest becomes ``fill``.
    ones = torch.ones_like(images[:, :1])
    sampled = F.grid_sample(
        torch.cat([images, ones], dim=1), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    out, mask = sampled[:, :-1], sampled[:, -1:]
    return mask * (out - fill) + fill


def make_augmenter(cfg: AugmentSettings, fill: float = 0.0) -> Augmenter | None:
    """A function mapping a batch (N, H, W) or (N, 1, H, W) to augmented copies; None if off.

    ``fill`` is the background value uncovered by a shift or rotation (the normalised 0 pixel).
    """
    if not cfg.enabled:
        return None
    affine = bool(cfg.degrees or cfg.translate or cfg.scale)
    elastic = make_elastic(cfg.elastic_alpha, cfg.elastic_sigma, fill) if cfg.elastic_alpha else None

    def augment(batch: torch.Tensor) -> torch.Tensor:
        images = batch.unsqueeze(1) if batch.dim() == 3 else batch
        n, _, height, width = images.shape
        if affine:
            images = apply_affine(images, draw_params(cfg, n, height, width), fill)
        if elastic is not None:  # after the affine draw, so elastic_alpha 0 leaves its draws as they were
            images = elastic(images)
        return images.reshape(batch.shape)

    return augment
