"""Elastic distortion (mnistflow.data.elastic): deterministic per seed, bounded, digits kept in the frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import synthetic_digits

from mnistflow.config import AugmentSettings
from mnistflow.data.augment import make_augmenter
from mnistflow.data.elastic import displacement, make_elastic


def digits() -> torch.Tensor:
    """Ink in [0, 1] on a 0 background, inside MNIST's 4-pixel margin (the middle 20x20)."""
    x, _ = synthetic_digits(64, seed=0)
    x = torch.from_numpy(np.asarray(x, dtype=np.float32) / 255)
    x[x < 0.5] = 0  # the noise off: a clean background
    x[:, 9:19, 9:19] = 1.0  # and a blob in the middle of every image
    x[:, :4], x[:, -4:], x[:, :, :4], x[:, :, -4:] = 0, 0, 0, 0
    return x


def test_the_same_seed_gives_the_same_distortion_and_another_seed_another():
    x, elastic = digits(), make_elastic(3.0, 4.0, fill=0.0)
    torch.manual_seed(5)
    first = elastic(x)
    torch.manual_seed(5)
    again = elastic(x)
    torch.manual_seed(6)
    other = elastic(x)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert first.shape == x.shape
    # It moves ink: a mean absolute change of a few hundredths of full ink per pixel, not nothing.
    assert 0.01 < (first - x).abs().mean().item() < 0.2


def test_the_largest_displacement_of_every_image_is_alpha():
    torch.manual_seed(0)
    field = displacement(16, 28, 28, alpha=2.5, sigma=4.0)
    assert field.shape == (16, 2, 28, 28)
    np.testing.assert_allclose(field.abs().amax(dim=(1, 2, 3)).numpy(), 2.5, rtol=1e-6)
    # Smooth: neighbouring pixels move nearly alike (a rubber sheet, not jitter).
    assert (field[..., 1:] - field[..., :-1]).abs().max().item() < 1.0


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_a_digit_inside_the_4_pixel_margin_stays_in_the_frame(alpha):
    x = digits()
    torch.manual_seed(0)
    out = make_elastic(alpha, 4.0, fill=0.0)(x)
    # Ink moves by alpha pixels at most: none reaches the outermost pixels, and every digit's
    # centre of mass moves by less than alpha (strokes thin and thicken, as in Simard's digits,
    # so the amount of ink changes, but none leaves the image).
    assert out[:, 0].abs().max() == 0 and out[:, -1].abs().max() == 0
    assert out[:, :, 0].abs().max() == 0 and out[:, :, -1].abs().max() == 0
    ratio = out.sum(dim=(1, 2)) / x.sum(dim=(1, 2))
    assert 0.6 < ratio.min() and ratio.max() < 1.4
    coords = torch.arange(28, dtype=torch.float32)

    def centre(images):
        mass = images.sum(dim=(1, 2))
        return torch.stack([(images.sum(1) * coords).sum(1) / mass, (images.sum(2) * coords).sum(1) / mass], 1)

    assert (centre(out) - centre(x)).abs().max() < alpha


def test_the_background_fill_is_kept_for_standardised_images():
    x = digits() * 3.0 - 0.4  # background -0.4
    torch.manual_seed(0)
    out = make_elastic(3.0, 4.0, fill=-0.4)(x)
    assert out[:, 0].sub(-0.4).abs().max().item() < 1e-6


def test_augment_runs_elastic_after_the_affine_draw_and_off_changes_nothing():
    x = digits()
    plain = AugmentSettings(degrees=10.0, translate=0.1, scale=0.1, elastic_alpha=0.0, elastic_sigma=4.0)
    elastic = AugmentSettings(degrees=10.0, translate=0.1, scale=0.1, elastic_alpha=2.0, elastic_sigma=4.0)
    only = AugmentSettings(degrees=0.0, translate=0.0, scale=0.0, elastic_alpha=2.0, elastic_sigma=4.0)
    assert only.enabled
    torch.manual_seed(0)
    a = make_augmenter(plain)(x)
    torch.manual_seed(0)
    b = make_augmenter(elastic)(x)
    torch.manual_seed(0)
    c = make_augmenter(only)(x)
    assert not torch.allclose(a, b) and not torch.allclose(c, x)
    # With alpha 0 the draws are the affine ones only: the same images as before elastic existed.
    torch.manual_seed(0)
    again = make_augmenter(plain)(x)
    assert torch.equal(a, again)
