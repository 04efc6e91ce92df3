"""``build_model`` is the one place that maps architecture names to classes.

A checkpoint stores ``{"arch": ..., "kwargs": ...}``: plain values that rebuild the module
without re-reading params.yaml (see ``training.save_checkpoint``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mnistflow.config import InitConfig, MLPConfig
from mnistflow.models.activation import sample_k
from mnistflow.models.mlp import MLP

ARCHITECTURES: dict[str, type[nn.Module]] = {"mlp": MLP}


def build_model(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    return cls(**kwargs)


def mlp_spec(model_cfg: MLPConfig, init: InitConfig, seed: int) -> tuple[str, dict[str, Any]]:
    """The (arch, kwargs) of the MLP that ``ann.model`` and ``init`` describe.

    Initial k values are drawn here, from ``seed``, so the kwargs alone rebuild the model
    exactly as it started.
    """
    kwargs: dict[str, Any] = {"hidden": list(model_cfg.hidden), "activation": model_cfg.activation}
    if model_cfg.activation == "learnable":
        generator = torch.Generator().manual_seed(seed)
        n_pairs = 1 if model_cfg.share_k == "network" else len(model_cfg.hidden)
        kwargs["share_k"] = model_cfg.share_k
        kwargs["k_init"] = [list(sample_k(init, generator)) for _ in range(n_pairs)]
    return "mlp", kwargs


def describe(arch: str, kwargs: dict[str, Any]) -> str:
    """A short human title for plots, e.g. ``MLP 256-128, g(x) = k0 + k1·x``."""
    if arch == "mlp":
        act = "g(x) = k0 + k1·x" if kwargs.get("activation") == "learnable" else "ReLU"
        return f"MLP {'-'.join(map(str, kwargs['hidden']))}, {act}"
    return arch
