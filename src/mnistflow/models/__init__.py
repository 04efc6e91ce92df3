"""``build_model`` builds a network of ``config.ARCHITECTURES`` (where each architecture is
registered once), and ``model_spec`` maps a model of the pipeline (ann, mlp, lenet5, deepcnn,
square) to its network, training settings and task.

A checkpoint stores ``{"arch": ..., "kwargs": ...}``: plain values that rebuild the module
without re-reading params.yaml (see ``mnistflow.checkpoint``).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mnistflow.activations import family
from mnistflow.config import (
    ARCHITECTURES,
    CNNModel,
    InitSection,
    MLPModel,
    MLPSection,
    Params,
    SquareSection,
    Training,
    flatten,
    to_dict,
)
from mnistflow.tasks import MULTICLASS, Task, square_task
from mnistflow.models.activation import sample_coefficients

__all__ = ["ModelSpec", "build_model", "describe", "model_spec", "network_class"]


def network_class(arch: str) -> type[nn.Module]:
    """The ``nn.Module`` class that ``config.ARCHITECTURES[arch]`` names."""
    try:
        entry = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    module, _, name = entry.network.partition(":")
    return getattr(importlib.import_module(module), name)


def build_model(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    return network_class(arch)(**kwargs)


def activation_kwargs(model_cfg: MLPModel | CNNModel, init: InitSection, seed: int, n_sets: int) -> dict[str, Any]:
    """The kwargs of a learned family's ``n_sets`` sets of coefficients: each set's initial
    k0..kd (``k_init``), the rational's b1..bn (``b_init``) and ``span`` where the family reads
    it. The sets are drawn here from ``init`` and ``seed``, so the kwargs alone rebuild the
    model exactly as it started; every network with a learned family starts its g this way."""
    g = family(model_cfg.activation)
    generator = torch.Generator().manual_seed(seed)
    # Each set draws its k0..kd then (rational) b1..bn: one draw, so a set's numbers do not
    # depend on how many sets come after it.
    n_b = model_cfg.denominator if g.rational else 0
    draws = [sample_coefficients(init, generator, model_cfg.degree + 1 + n_b) for _ in range(n_sets)]
    kwargs: dict[str, Any] = {"k_init": [draw[: model_cfg.degree + 1] for draw in draws]}
    if g.rational:
        kwargs["b_init"] = [draw[model_cfg.degree + 1 :] for draw in draws]
    if "span" in g.reads:
        kwargs["span"] = model_cfg.span
    return kwargs


def mlp_spec(model_cfg: MLPModel, init: InitSection, seed: int) -> tuple[str, dict[str, Any]]:
    """The (arch, kwargs) of the MLP that ``ann.model`` and ``init`` describe (initial
    coefficients from ``activation_kwargs``)."""
    kwargs: dict[str, Any] = {
        "hidden": list(model_cfg.hidden),
        "activation": model_cfg.activation,
        "dropout": model_cfg.dropout,
    }
    # The registry's own string, not params.yaml's: a checkpoint pickles it apart from the
    # logged params (pickle writes one object once), so its bytes stay what they were.
    if model_cfg.tta != "none":  # only then: the checkpoints of networks without it keep their bytes
        kwargs["tta"] = model_cfg.tta
    arch = sys.intern(model_cfg.arch)
    if not family(model_cfg.activation).learned:
        return arch, kwargs
    kwargs["share_k"] = model_cfg.share_k
    n_sets = 1 if model_cfg.share_k == "network" else len(model_cfg.hidden)
    return arch, {**kwargs, **activation_kwargs(model_cfg, init, seed, n_sets)}


def cnn_spec(
    cfg: CNNModel, n_outputs: int = 10, init: InitSection | None = None, seed: int = 0
) -> tuple[str, dict[str, Any]]:
    """The (arch, kwargs) of the CNN that a ``model`` section describes; a learned activation
    has one set of coefficients per layer, drawn from ``init`` and ``seed`` as ``mlp_spec``'s.
    With ReLU the kwargs are what they were before the families, so are its checkpoints."""
    kwargs: dict[str, Any] = {
        "channels": list(cfg.channels),
        "dense": list(cfg.dense),
        "dropout": cfg.dropout,
        "dense_dropout": cfg.dense_dropout,
        "n_outputs": n_outputs,
        **({"downsample": cfg.downsample, "batchnorm": cfg.batchnorm} if cfg.arch == "deepcnn" else {}),
        "tta": cfg.tta,
    }
    if not family(cfg.activation).learned:
        return cfg.arch, kwargs
    if init is None:
        raise ValueError(f"activation {cfg.activation!r} draws its coefficients from params' init section; pass init")
    n_sets = activation_count(cfg.arch, kwargs)
    return cfg.arch, {**kwargs, "activation": cfg.activation, **activation_kwargs(cfg, init, seed, n_sets)}


def activation_count(arch: str, kwargs: dict[str, Any]) -> int:
    """How many activations the convolutional network ``arch`` has: the ReLUs of its ReLU
    build, so the count is the network's own. Built under a forked RNG: the caller's random
    stream (the weights' initialisation) stays as if nothing had been built."""
    with torch.random.fork_rng(devices=[]):
        network = build_model(arch, kwargs)
    return sum(isinstance(module, nn.ReLU) for module in network.modules())


def describe(arch: str, kwargs: dict[str, Any]) -> str:
    """A short human title for plots, e.g. ``MLP 256-128, g(x) = k0 + k1·x``: the architecture's
    title, its widths, its activation (fully connected: always; convolutional: a learned one)
    and (convolutional) a binary output."""
    title = ARCHITECTURES[arch].title if arch in ARCHITECTURES else arch
    if "hidden" in kwargs:
        return f"{title} {'-'.join(map(str, kwargs['hidden']))}, {family(kwargs['activation']).describe(kwargs)}"
    text = f"{title} {'-'.join(map(str, kwargs['channels']))} / dense {'-'.join(map(str, kwargs['dense']))}"
    if "activation" in kwargs:  # a learned family (a ReLU network's kwargs name none)
        text += f", {family(kwargs['activation']).describe(kwargs)}"
    return text + (", binary" if kwargs.get("n_outputs") == 1 else "")


@dataclass(frozen=True)
class ModelSpec:
    """Everything the training stage needs to train one model of the pipeline."""

    name: str
    arch: str
    kwargs: dict[str, Any]
    train: Training
    task: Task
    # The params.yaml keys the model reads, flattened (``ann.train.lr``): logged to MLflow.
    params: dict[str, Any]


def model_spec(name: str, params: Params) -> ModelSpec:
    """The network, training settings and task of model ``name``, from its params section
    (and, for the learnable activation, ``init``)."""
    section = params.section(name)
    if isinstance(section, MLPSection):
        arch, kwargs = mlp_spec(section.model, params.init, section.train.seed)
        read = {
            name: to_dict(section),
            **({"init": to_dict(params.init)} if family(section.model.activation).learned else {}),
        }
        return ModelSpec(name, arch, kwargs, section.train, MULTICLASS, flatten(read))
    task = square_task(section.positive) if isinstance(section, SquareSection) else MULTICLASS
    arch, kwargs = cnn_spec(section.model, task.n_outputs, params.init, section.train.seed)
    read = {
        name: to_dict(section),
        **({"init": to_dict(params.init)} if family(section.model.activation).learned else {}),
    }
    return ModelSpec(name, arch, kwargs, section.train, task, flatten(read))
