"""The activation families of the networks (fully connected and convolutional): the one place a new family is added.

Every learned family is one form, g(x) = P(x) / Q(x) with

    P(x) = k0 + k1*x + ... + kd*x^d                      (the numerator: every learned family)
    Q(x) = 1 + softplus(b1*x + ... + bn*x^n) - log 2      (the denominator: a rational family's;
                                                           else Q = 1)

and, where the family reads ``span``, g continues along its tangent beyond +-span
(``mnistflow.models.activation`` has the torch modules and the reasons for each choice). A
:class:`Family` says which parts of that form it has; from it follow the params keys it reads,
its coefficients' names (k0.., b1.., per layer k0_l1..: the history, the train metrics and the
MLflow metrics carry them), its description, g in NumPy (the plots) and g as text (the report).
Whoever reads a model's g takes its family from the params (``model.activation``), never from
which coefficients a file happens to hold.

Nothing here imports torch: params.yaml's validation (``mnistflow.config``) reads this module.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

NUMERATOR, DENOMINATOR = "k", "b"  # the letters of the coefficients: k0.. of P, b1.. of s in Q
# A learned coefficient's name: k0.., b1.., and with one set per hidden layer k0_l1.. as well.
COEFFICIENT = re.compile(rf"[{NUMERATOR}{DENOMINATOR}]\d+(_l\d+)?")
# The coefficients of the network's one g (with one set per layer: the means over the layers).
NETWORK_COEFFICIENT = re.compile(rf"[{NUMERATOR}{DENOMINATOR}]\d+")
# The one layer's own (k0_l2: layer 2's k0).
LAYER_COEFFICIENT = re.compile(rf"[{NUMERATOR}{DENOMINATOR}]\d+_l\d+")
# The ``model:`` keys a family may read besides ``activation``; every family that does not read
# one must leave it at this neutral value (config.MLPModel checks it).
FAMILY_KEYS: Mapping[str, Any] = {"degree": 1, "denominator": 0, "span": 0.0}


@dataclass(frozen=True)
class Family:
    """One value of ``model.activation``."""

    name: str
    # How a network's description names its g: str.format fields {degree}, {denominator}.
    title: str
    # "module:Class" of the torch module; a learned family's is built by ``Class.build(k, b, span)``.
    module: str
    # Which of ``FAMILY_KEYS`` it reads: degree (P's degree, else 1), denominator (Q's degree:
    # the family is rational), span (the tangent beyond +-span).
    reads: tuple[str, ...] = ()
    # Whether g has coefficients that training learns (ReLU's has none).
    learned: bool = True
    # Whether the from-scratch NumPy engine (``mnistflow.scratch``) has it.
    scratch: bool = False

    @property
    def rational(self) -> bool:
        return "denominator" in self.reads

    @property
    def curved(self) -> bool:
        """g bends (its degree is a params key): the history records where its inputs lie, and
        the plot draws g over them; a line is drawn with its formula instead."""
        return "degree" in self.reads

    def module_class(self) -> type:
        """The torch module class ``module`` names (imported now: this module does not import torch)."""
        module, _, name = self.module.partition(":")
        return getattr(importlib.import_module(module), name)

    def coefficient_names(self, degree: int, denominator: int) -> list[str]:
        """k0..k<degree>, then (rational) b1..b<denominator>."""
        if not self.learned:
            return []
        names = [f"{NUMERATOR}{j}" for j in range(degree + 1)]
        return names + ([f"{DENOMINATOR}{j}" for j in range(1, denominator + 1)] if self.rational else [])

    def describe(self, kwargs: Mapping[str, Any]) -> str:
        """The description of a network whose ``kwargs`` (``models.mlp_spec``) use this family."""
        k_init, b_init = kwargs.get("k_init") or [[0.0, 0.0]], kwargs.get("b_init") or [[]]
        return self.title.format(degree=len(k_init[0]) - 1, denominator=len(b_init[0]))

    def coefficients(self, row: Mapping[str, Any], suffix: str = "") -> tuple[list[float], list[float]]:
        """(P's k0.., Q's b1..) from a history or metrics row (``suffix`` "_l2": layer 2's own)."""
        return _series(row, NUMERATOR, 0, suffix), (_series(row, DENOMINATOR, 1, suffix) if self.rational else [])

    def values(self, row: Mapping[str, Any], x: np.ndarray, suffix: str = "") -> np.ndarray:
        """g(x) in NumPy from one history row's coefficients, as the torch module computes it:
        P(x), divided by Q(x) when rational, and the tangent beyond +-span (the row's ``span``)."""
        import numpy as np

        k, b = self.coefficients(row, suffix)
        span = float(row.get("span", 0.0))

        def g(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p, dp = np.polyval(k[::-1], t), np.polyval(np.polyder(k[::-1]), t)
            if not self.rational:
                return p, dp
            coefficients = [*b[::-1], 0.0]
            s, ds = np.polyval(coefficients, t), np.polyval(np.polyder(coefficients), t)
            q, dq = 1 + np.logaddexp(0, s) - np.log(2), ds * 0.5 * (1 + np.tanh(s / 2))  # softplus' = sigmoid
            return p / q, (dp * q - p * dq) / q**2

        inside = np.clip(x, -span, span) if span else x
        value, slope = g(inside)
        return value + slope * (x - inside)

    def formula(self, row: Mapping[str, Any]) -> str:
        """g as text from a row's coefficients (the means): ``g(x) = 0.1314 + 0.8807·x``, or
        ``g(x) = (P) / (1 + softplus(s) - log 2)`` when rational."""
        ks, bs = self.coefficients(row)
        numerator = f"{ks[0]:.4f}" + "".join(
            f" {'-' if k < 0 else '+'} {abs(k):.4f}{_power(j)}" for j, k in enumerate(ks[1:], start=1)
        )
        if not self.rational:
            return f"g(x) = {numerator}"
        s = f"{bs[0]:.4f}·x" + "".join(
            f" {'-' if b < 0 else '+'} {abs(b):.4f}{_power(j)}" for j, b in enumerate(bs[1:], start=2)
        )
        return f"g(x) = ({numerator}) / (1 + softplus({s}) - log 2)"


# The families, by the name ``model.activation`` gives: the one place a new one is added
# (tests/test_activations.py checks each entry's module, coefficients, NumPy and text forms).
FAMILIES: Mapping[str, Family] = {
    "learnable": Family("learnable", "g(x) = k0 + k1·x", "mnistflow.models.activation:LearnableAffine", scratch=True),
    "polynomial": Family(
        "polynomial",
        "polynomial g of degree {degree}",
        "mnistflow.models.activation:LearnablePolynomial",
        reads=("degree", "span"),
    ),
    "rational": Family(
        "rational",
        "rational g of degrees {degree}/{denominator}",
        "mnistflow.models.activation:LearnableRational",
        reads=("degree", "denominator", "span"),
    ),
    "relu": Family("relu", "ReLU", "torch.nn:ReLU", learned=False, scratch=True),
}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"activation must be one of {', '.join(FAMILIES)}, got {name!r}") from None


def model_family(section: Mapping[str, Any] | None) -> Family | None:
    """The family of a model's params section as params.yaml holds it (a dict); None for a
    section that names none (a convolutional network's params from before issue 27)."""
    model = (section or {}).get("model") or {}
    name = model.get("activation") if isinstance(model, Mapping) else None
    return FAMILIES.get(name) if name is not None else None


def _series(row: Mapping[str, Any], letter: str, first: int, suffix: str) -> list[float]:
    """``row``'s <letter><first><suffix>, <letter><first+1><suffix>, ... as far as they go."""
    values, j = [], first
    while f"{letter}{j}{suffix}" in row:
        values.append(float(row[f"{letter}{j}{suffix}"]))
        j += 1
    return values


def _power(j: int) -> str:
    return "" if j == 0 else "·x" if j == 1 else f"·x{str(j).translate(str.maketrans('0123456789', '⁰¹²³⁴⁵⁶⁷⁸⁹'))}"


def scratch_families() -> Sequence[str]:
    return [name for name, f in FAMILIES.items() if f.scratch]
