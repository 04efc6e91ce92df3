"""The learnable activation g(x) = k0 + k1*x, with k0 and k1 trained by back-propagation.

Gradients (autograd derives them; ``tests/test_models.py`` checks them with gradcheck):
    dg/dx = k1,   dL/dk0 = sum_i dL/dg_i,   dL/dk1 = sum_i dL/dg_i * x_i
"""
from __future__ import annotations

import torch
from torch import nn

from mnistflow.config import InitSection


def sample_k(init: InitSection, generator: torch.Generator) -> tuple[float, float]:
    """Initial (k0, k1): the configured values, or a seeded draw around them."""
    if init.sampling == "constant":
        return init.k0, init.k1
    if init.sampling == "normal":
        noise = torch.randn(2, generator=generator, dtype=torch.float64) * init.spread
    else:  # uniform on [k - spread, k + spread]
        noise = (torch.rand(2, generator=generator, dtype=torch.float64) * 2 - 1) * init.spread
    return init.k0 + float(noise[0]), init.k1 + float(noise[1])


def affine(x: torch.Tensor, k0: torch.Tensor, k1: torch.Tensor) -> torch.Tensor:
    """g(x) = k0 + k1 * x, element-wise (k0, k1 broadcast as scalars)."""
    return k0 + k1 * x


class LearnableAffine(nn.Module):
    """g(x) = k0 + k1*x with trainable scalars k0 and k1."""

    def __init__(self, k0: float = 0.0, k1: float = 1.0):
        super().__init__()
        self.k0 = nn.Parameter(torch.tensor(float(k0)))
        self.k1 = nn.Parameter(torch.tensor(float(k1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine(x, self.k0, self.k1)

    def extra_repr(self) -> str:
        return f"k0={self.k0.item():.4f}, k1={self.k1.item():.4f}"
