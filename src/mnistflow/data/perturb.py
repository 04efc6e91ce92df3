"""MNIST's test digits as people's digits look after ``mnistflow predict`` has normalised them.

``mnistflow predict`` (``predict.to_mnist``) boxes a user's digit to 20 pixels and puts its centre
of mass at (14, 14), as MNIST was made; what it cannot remove is what this module draws, per
image, from the ``perturb`` section of params.yaml: a turn (slant and a tilted photo; nothing
derotates), a zoom (its box is measured at a different ink threshold than MNIST's), a shift of
under a pixel or so (both images round the centre of mass to a whole pixel) and a thinner or
thicker pen (it thickens only strokes under 2 pixels). docs/robustness.md gives the reasons
for each range. NumPy and SciPy only, one generator seeded by ``perturb.seed``: the same
images and params give the same bytes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mnistflow.config import PerturbSection
from mnistflow.data.prepare import Split

# The 3x3 cross: each edge of a stroke moves by one pixel under a grey dilation or erosion
# with it (predict/pictures.py thickens strokes with the same round pen, its ``_disk(1)``).
PEN = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


class Draws(NamedTuple):
    """One value per image."""

    angle: np.ndarray  # radians
    scale: np.ndarray  # zoom factor
    shift: np.ndarray  # (N, 2) pixels, rows then columns
    stroke: np.ndarray  # change of the stroke width in pixels, in all (negative: thinner)


def draw(cfg: PerturbSection, n: int) -> Draws:
    """``n`` images' perturbations: each uniform in its params.yaml range, from one generator."""
    u = np.random.default_rng(cfg.seed).uniform(-1.0, 1.0, size=(n, 5))
    return Draws(
        np.deg2rad(u[:, 0] * cfg.degrees), 1.0 + u[:, 1] * cfg.scale, u[:, 2:4] * cfg.translate, u[:, 4] * cfg.stroke
    )


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    """(row, column) of the image's centre of mass; the image's centre when it is blank."""
    mass = float(image.sum(dtype=np.float64))
    if mass <= 0:
        return (np.array(image.shape, dtype=np.float64) - 1) / 2
    rows, cols = np.indices(image.shape)
    return np.array([(rows * image).sum(dtype=np.float64), (cols * image).sum(dtype=np.float64)]) / mass


def move(image: np.ndarray, angle: float, scale: float, shift: np.ndarray) -> np.ndarray:
    """The image turned by ``angle`` and zoomed by ``scale`` about its centre of mass (which
    normalisation fixes), then shifted by ``shift`` pixels; bilinear, black outside."""
    from scipy import ndimage

    cos, sin = np.cos(angle), np.sin(angle)
    # affine_transform maps each output pixel to the input pixel it reads: the inverse turn and zoom.
    inverse = np.array([[cos, sin], [-sin, cos]]) / scale
    centre = centre_of_mass(image)
    offset = centre - inverse @ (centre + shift)
    return ndimage.affine_transform(image, inverse, offset=offset, order=1, mode="constant", cval=0.0)


def restroke(images: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Each image's strokes made ``change`` pixels wider (negative: narrower) in all: a blend
    of the image with its dilation (erosion) by ``PEN``, which moves each edge by one pixel, so
    a blend weight of ``|change| / 2`` moves both edges by ``|change| / 2``."""
    from scipy import ndimage

    pen = PEN[None]  # the same pen for every image of the (N, 28, 28) stack
    wider = ndimage.grey_dilation(images, footprint=pen, mode="constant", cval=0.0)
    narrower = ndimage.grey_erosion(images, footprint=pen, mode="constant", cval=0.0)
    target = np.where((change > 0)[:, None, None], wider, narrower)
    weight = (np.abs(change) / 2).astype(images.dtype)[:, None, None]
    return images + weight * (target - images)


def perturb(images: np.ndarray, cfg: PerturbSection) -> np.ndarray:
    """(N, 28, 28) images in [0, 1] (ink 1 on 0) -> their perturbed copies, float32 in [0, 1]."""
    images = np.asarray(images, dtype=np.float32)
    draws = draw(cfg, len(images))
    moved = (
        np.stack([move(image, *args) for image, *args in zip(images, draws.angle, draws.scale, draws.shift)])
        if len(images)
        else images
    )
    return np.clip(restroke(moved, draws.stroke), 0.0, 1.0).astype(np.float32)


def perturbed_test(test_images: np.ndarray, test_labels: np.ndarray, info: dict, cfg: PerturbSection) -> Split:
    """The raw uint8 test images perturbed, then scaled and standardised exactly as ``prepare``
    did the test split (``info``: its statistics), with the test labels, in the test order."""
    x = perturb(test_images.astype(np.float32) / 255.0, cfg)
    if info["standardize"]:
        x = (x - np.float32(info["mean"])) / np.float32(info["std"])
    return Split(x, test_labels.astype(np.int64), np.arange(len(test_labels)))
