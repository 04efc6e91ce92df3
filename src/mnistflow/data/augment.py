"""Random shifts, rotations and zooms of training images, with torchvision transforms v2.

Each image gets its own random affine transform, drawn by ``v2.RandomAffine.make_params``
from torch's global generator (seeded by ``training.seed_everything``). Calling the v2
transform once per image costs about 75 µs of Python overhead per image (4 s per epoch of
54,000 on this CPU); a v2 transform applied to a whole batch would draw one set of parameters
for all of it. So the per-image parameters go through torchvision's own affine kernels
(``_get_inverse_affine_matrix``, the v2 grid and ``_apply_grid_transform``) as one batched
``grid_sample``: the same images as the per-image v2 transform, at a fraction of the cost
(``tests/test_cnn.py`` checks the equality; ``benchmarks/cnn_speed.py`` prints the speeds).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2
from torchvision.transforms.functional import _get_inverse_affine_matrix
from torchvision.transforms.v2.functional._geometry import _apply_grid_transform

from mnistflow.config import AugmentConfig

Augmenter = Callable[[torch.Tensor], torch.Tensor]


def random_affine(cfg: AugmentConfig, fill: float = 0.0) -> v2.RandomAffine:
    """The torchvision v2 transform that ``cfg`` describes (bilinear, background ``fill``)."""
    return v2.RandomAffine(
        degrees=cfg.degrees,
        translate=(cfg.translate, cfg.translate) if cfg.translate else None,
        scale=(1 - cfg.scale, 1 + cfg.scale) if cfg.scale else None,
        interpolation=v2.InterpolationMode.BILINEAR,
        fill=fill,
    )


def _base_grid(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Output pixel centres relative to the image centre, as torchvision's ``_affine_grid``."""
    xs = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, dtype=dtype, device=device)
    ys = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height, dtype=dtype, device=device)
    grid = torch.ones(height, width, 3, dtype=dtype, device=device)
    grid[..., 0] = xs
    grid[..., 1] = ys.unsqueeze(-1)
    return grid.view(1, height * width, 3)


def make_augmenter(cfg: AugmentConfig, fill: float = 0.0) -> Augmenter | None:
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
            matrices.append(_get_inverse_affine_matrix([0.0, 0.0], p["angle"], [float(t) for t in p["translate"]], p["scale"], list(p["shear"])))
        theta = torch.tensor(matrices, dtype=images.dtype, device=images.device).view(n, 2, 3)
        scale = torch.tensor([0.5 * width, 0.5 * height], dtype=images.dtype, device=images.device)
        grid = torch.matmul(_base_grid(height, width, images.dtype, images.device), theta.transpose(1, 2) / scale)
        out = _apply_grid_transform(images, grid.view(n, height, width, 2), "bilinear", fill)
        return out.reshape(batch.shape)

    return augment
