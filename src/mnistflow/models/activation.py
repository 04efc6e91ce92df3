"""Learnable activations: the seed's affine g, and the polynomial and rational families it belongs to.

The torch forms of ``mnistflow.activations.FAMILIES`` (the registry that names each class; its
``build(k, b, span)`` makes one set of coefficients).

Every family's coefficients are ``nn.Parameter``s trained by back-propagation; autograd derives
the gradients (``tests/test_activations.py`` checks each family with gradcheck in float64).

learnable (the seed):  g(x) = k0 + k1*x
    dg/dx = k1,   dL/dk0 = sum_i dL/dg_i,   dL/dk1 = sum_i dL/dg_i * x_i

polynomial, degree d:  p(x) = k0 + k1*x + ... + kd*x^d
    Degree 1 is the seed's g. The coefficients beyond k1 start at 0 (``init``'s sampling draws
    around 0), so training starts from the affine g and the data bends it.

rational, degrees m/n (a Padé unit):  r(x) = P(x) / Q(x)
    P(x) = k0 + k1*x + ... + km*x^m
    Q(x) = 1 + softplus(s(x)) - log 2,   s(x) = b1*x + ... + bn*x^n
    Q >= 1 - log 2 = 0.307 for every x and b, so r has no poles; Q = 1 at b = 0, where
    dQ/db_j = sigmoid(0) * x^j = x^j / 2 is not zero, so b leaves 0 as soon as training starts.
    (The "safe PAU" denominator 1 + |s(x)|, or any Q even in b, has zero gradient at b = 0 and
    would keep b there for ever, since the coefficients start at 0.)

span R > 0 (polynomial and rational): the formula holds on [-R, R]; beyond it g continues
along its tangent, g(x) = f(c) + f'(c) * (x - c) with c = clamp(x, -R, R). x^d grows as fast as
the pre-activations do, which training can push far out; the tangent keeps g and its slope
continuous at +-R and grows only linearly, so one outlying input cannot blow a layer up. R = 0:
the formula everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from mnistflow.config import InitSection

LOG2 = math.log(2.0)


def sample_k(init: InitSection, generator: torch.Generator) -> tuple[float, float]:
    """Initial (k0, k1): the configured values, or a seeded draw around them."""
    k0, k1 = sample_coefficients(init, generator, 2)
    return k0, k1


def sample_coefficients(init: InitSection, generator: torch.Generator, n: int) -> list[float]:
    """Initial (k0, k1, then n - 2 more): k0, k1 from ``init`` and the rest 0, so the family
    starts as the seed's affine g; normal/uniform sampling draws every one around its value."""
    centre = torch.tensor([init.k0, init.k1] + [0.0] * (n - 2), dtype=torch.float64)[:n]
    if init.sampling == "constant":
        return centre.tolist()
    if init.sampling == "normal":
        noise = torch.randn(n, generator=generator, dtype=torch.float64) * init.spread
    else:
        noise = (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * init.spread
    return (centre + noise).tolist()


def coefficient_row(acts: Sequence[nn.Module]) -> dict[str, float]:
    """The history's columns for a network's learned activations ``acts`` (one module per set,
    in layer order): each coefficient's mean over the sets (k0, k1, ..., b1, ...) and, with more
    than one set, each set's own as k0_l<i>, ...; {} for none."""
    sets = [act.coefficients() for act in acts]
    if not sets:
        return {}
    values = {name: sum(s[name] for s in sets) / len(sets) for name in sets[0]}
    if len(sets) > 1:
        for i, coefficients in enumerate(sets, start=1):
            values.update({f"{name}_l{i}": value for name, value in coefficients.items()})
    return values


def affine(x: torch.Tensor, k0: torch.Tensor, k1: torch.Tensor) -> torch.Tensor:
    """g(x) = k0 + k1 * x, element-wise (k0, k1 broadcast as scalars)."""
    return k0 + k1 * x


def polynomial(x: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(p(x), p'(x)) for p(x) = sum_j k[j] x^j, by Horner's rule on both."""
    value, slope = k[-1].expand_as(x), torch.zeros_like(x)
    for coefficient in k.flip(0)[1:]:
        slope = slope * x + value
        value = value * x + coefficient
    return value, slope


def rational(x: torch.Tensor, k: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(r(x), r'(x)) for r = P / Q, P(x) = sum_j k[j] x^j, Q = 1 + softplus(s) - log 2,
    s(x) = sum_j b[j-1] x^j."""
    p, dp = polynomial(x, k)
    s, ds = polynomial(x, torch.cat([b.new_zeros(1), b]))
    q = 1.0 + F.softplus(s) - LOG2
    dq = torch.sigmoid(s) * ds
    return p / q, (dp * q - p * dq) / (q * q)


def at_least(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``x`` in the coefficients' precision when it has less (a bf16 activation under autocast):
    the values the mixed arithmetic would promote to anyway, but every op then runs on one dtype,
    which torch's CPU kernels do faster than a bf16-by-float32 op."""
    return x.to(torch.promote_types(x.dtype, k.dtype))


def with_tangents(f, x: torch.Tensor, span: float) -> torch.Tensor:
    """f(x) on [-span, span] and its tangent line beyond (span 0: f everywhere); ``f`` returns
    (value, slope)."""
    if span == 0:
        return f(x)[0]
    inside = x.clamp(-span, span)
    value, slope = f(inside)
    return value + slope * (x - inside)


class LearnableAffine(nn.Module):
    """g(x) = k0 + k1*x with trainable scalars k0 and k1."""

    def __init__(self, k0: float = 0.0, k1: float = 1.0):
        super().__init__()
        self.k0 = nn.Parameter(torch.tensor(float(k0)))
        self.k1 = nn.Parameter(torch.tensor(float(k1)))

    @classmethod
    def build(cls, k: list[float], b: list[float], span: float) -> LearnableAffine:
        return cls(*k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine(x, self.k0, self.k1)

    def coefficients(self) -> dict[str, float]:
        return {"k0": self.k0.item(), "k1": self.k1.item()}

    def extra_repr(self) -> str:
        return f"k0={self.k0.item():.4f}, k1={self.k1.item():.4f}"


class LearnablePolynomial(nn.Module):
    """g(x) = k0 + k1*x + ... + kd*x^d, linear beyond +-span; ``k`` holds k0..kd."""

    def __init__(self, k: list[float], span: float):
        super().__init__()
        self.k = nn.Parameter(torch.tensor(k, dtype=torch.float32))
        self.span = float(span)

    @classmethod
    def build(cls, k: list[float], b: list[float], span: float) -> LearnablePolynomial:
        return cls(k, span)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return with_tangents(lambda t: polynomial(t, self.k), at_least(x, self.k), self.span)

    def coefficients(self) -> dict[str, float]:
        return {f"k{j}": v for j, v in enumerate(self.k.tolist())}

    def extra_repr(self) -> str:
        return f"degree={len(self.k) - 1}, span={self.span}"


class LearnableRational(nn.Module):
    """g(x) = P(x) / (1 + softplus(s(x)) - log 2), linear beyond +-span; ``k`` holds P's
    k0..km, ``b`` s's b1..bn."""

    def __init__(self, k: list[float], b: list[float], span: float):
        super().__init__()
        self.k = nn.Parameter(torch.tensor(k, dtype=torch.float32))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float32))
        self.span = float(span)

    @classmethod
    def build(cls, k: list[float], b: list[float], span: float) -> LearnableRational:
        return cls(k, b, span)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return with_tangents(lambda t: rational(t, self.k, self.b), at_least(x, self.k), self.span)

    def coefficients(self) -> dict[str, float]:
        return {
            **{f"k{j}": v for j, v in enumerate(self.k.tolist())},
            **{f"b{j}": v for j, v in enumerate(self.b.tolist(), start=1)},
        }

    def extra_repr(self) -> str:
        return f"degrees={len(self.k) - 1}/{len(self.b)}, span={self.span}"
