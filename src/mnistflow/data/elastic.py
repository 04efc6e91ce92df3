"""Elastic distortion of training images (Simard et al. 2003), a whole batch at once.

Each image gets its own displacement field: uniform noise in [-1, 1] per pixel and direction,
smoothed by a Gaussian of ``sigma`` pixels (a wide Gaussian leaves a slow, rubber-sheet warp;
a narrow one, jitter), then scaled so that its largest displacement is ``alpha`` pixels.
Simard scales the smoothed field by a constant instead, so a field's largest displacement
varies from image to image; scaling to the maximum bounds it, so a digit inside MNIST's
4-pixel margin stays in the frame whenever ``alpha`` <= 4 (config.AugmentSettings checks it).
The image is resampled bilinearly by torch's ``grid_sample`` at the displaced positions,
empty border filled with ``fill`` (the background). The noise comes from torch's global
generator, which ``training.seed_everything`` seeds, so a seed gives the same distortions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian reaching 3 sigma on each side."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def displacement(n: int, height: int, width: int, alpha: float, sigma: float) -> torch.Tensor:
    """``(n, 2, height, width)`` fields (x then y, in pixels), each with largest |value| ``alpha``."""
    noise = torch.rand(n * 2, 1, height, width) * 2 - 1
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    # Separable smoothing; reflecting the border keeps the field as smooth at the edge as inside.
    smooth = F.conv2d(F.pad(noise, (r, r, 0, 0), mode="reflect" if r < width else "replicate"), k.view(1, 1, 1, -1))
    smooth = F.conv2d(F.pad(smooth, (0, 0, r, r), mode="reflect" if r < height else "replicate"), k.view(1, 1, -1, 1))
    field = smooth.view(n, 2, height, width)
    peak = field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return field * (alpha / peak)


def distort(x: torch.Tensor, field: torch.Tensor, fill: float) -> torch.Tensor:
    """Images ``x`` ((N, H, W) or (N, 1, H, W)) sampled at each pixel's position plus ``field``."""
    squeeze = x.dim() == 3
    images = x.unsqueeze(1) if squeeze else x
    n, _, height, width = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    # grid_sample's coordinates: -1 and 1 are the centres of the first and last pixels (align_corners).
    gx = (xs + field[:, 0]) * (2 / (width - 1)) - 1
    gy = (ys + field[:, 1]) * (2 / (height - 1)) - 1
    grid = torch.stack((gx, gy), dim=-1).to(images.dtype)
    # Sample (image - fill) with zeros outside, then add fill back: the border gets the background.
    out = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + fill
    return out.squeeze(1) if squeeze else out


def make_elastic(alpha: float, sigma: float, fill: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batch distortion of ``alpha`` pixels at most, smoothness ``sigma``, background ``fill``."""

    def elastic(x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return distort(x, displacement(len(x), height, width, alpha, sigma).to(x.device), fill)

    return elastic
