"""``build_model`` is the one place that maps architecture names to classes, and ``model_spec``
the one place that maps a model of the pipeline (ann, mlp, lenet5, deepcnn, square) to its
network, training settings and task.

A checkpoint stores ``{"arch": ..., "kwargs": ...}``: plain values that rebuild the module
without re-reading params.yaml (see ``mnistflow.checkpoint``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mnistflow.config import (
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
from mnistflow.models.activation import sample_coefficients, sample_k
from mnistflow.models.cnn import DeepCNN, LeNet5
from mnistflow.models.mlp import MLP

# A learned activation coefficient's name in the history and the train metrics: k0.., the
# rational's b1.., and per layer k0_l1.. (report.K_KEY and tracking.runs.metric_name match it too).
COEFFICIENT = re.compile(r"[kb]\d+(_l\d+)?")

ARCHITECTURES: dict[str, type[nn.Module]] = {"mlp": MLP, "lenet5": LeNet5, "deepcnn": DeepCNN}


def build_model(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    return cls(**kwargs)


def mlp_spec(model_cfg: MLPModel, init: InitSection, seed: int) -> tuple[str, dict[str, Any]]:
    """The (arch, kwargs) of the MLP that ``ann.model`` and ``init`` describe.

    Initial k values are drawn here, from ``seed``, so the kwargs alone rebuild the model
    exactly as it started.
    """
    kwargs: dict[str, Any] = {
        "hidden": list(model_cfg.hidden),
        "activation": model_cfg.activation,
        "dropout": model_cfg.dropout,
    }
    if model_cfg.activation == "relu":
        return "mlp", kwargs
    generator = torch.Generator().manual_seed(seed)
    n_sets = 1 if model_cfg.share_k == "network" else len(model_cfg.hidden)
    kwargs["share_k"] = model_cfg.share_k
    if model_cfg.activation == "learnable":
        kwargs["k_init"] = [list(sample_k(init, generator)) for _ in range(n_sets)]
        return "mlp", kwargs
    # Each set draws its k0..kd then (rational) b1..bn: one draw, so a set's numbers do not
    # depend on how many sets come after it.
    n_b = model_cfg.denominator if model_cfg.activation == "rational" else 0
    draws = [sample_coefficients(init, generator, model_cfg.degree + 1 + n_b) for _ in range(n_sets)]
    kwargs["k_init"] = [draw[: model_cfg.degree + 1] for draw in draws]
    if n_b:
        kwargs["b_init"] = [draw[model_cfg.degree + 1 :] for draw in draws]
    kwargs["span"] = model_cfg.span
    return "mlp", kwargs


def cnn_spec(cfg: CNNModel, n_outputs: int = 10) -> tuple[str, dict[str, Any]]:
    """The (arch, kwargs) of the CNN that a ``model`` section describes."""
    return cfg.arch, {
        "channels": list(cfg.channels),
        "dense": list(cfg.dense),
        "dropout": cfg.dropout,
        "dense_dropout": cfg.dense_dropout,
        "n_outputs": n_outputs,
        **({"downsample": cfg.downsample, "batchnorm": cfg.batchnorm} if cfg.arch == "deepcnn" else {}),
        "tta": cfg.tta,
    }


def describe(arch: str, kwargs: dict[str, Any]) -> str:
    """A short human title for plots, e.g. ``MLP 256-128, g(x) = k0 + k1·x``."""
    if arch == "mlp":
        return f"MLP {'-'.join(map(str, kwargs['hidden']))}, {_describe_activation(kwargs)}"
    name = {"lenet5": "LeNet-5", "deepcnn": "deep CNN"}.get(arch, arch)
    text = f"{name} {'-'.join(map(str, kwargs['channels']))} / dense {'-'.join(map(str, kwargs['dense']))}"
    return text + (", binary" if kwargs.get("n_outputs") == 1 else "")


def _describe_activation(kwargs: dict[str, Any]) -> str:
    activation = kwargs.get("activation")
    if activation == "learnable":
        return "g(x) = k0 + k1·x"
    if activation == "polynomial":
        return f"polynomial g of degree {len(kwargs['k_init'][0]) - 1}"
    if activation == "rational":
        return f"rational g of degrees {len(kwargs['k_init'][0]) - 1}/{len(kwargs['b_init'][0])}"
    return "ReLU"


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
            **({"init": to_dict(params.init)} if section.model.activation != "relu" else {}),
        }
        return ModelSpec(name, arch, kwargs, section.train, MULTICLASS, flatten(read))
    task = square_task(section.positive) if isinstance(section, SquareSection) else MULTICLASS
    arch, kwargs = cnn_spec(section.model, n_outputs=task.n_outputs)
    return ModelSpec(name, arch, kwargs, section.train, task, flatten({name: to_dict(section)}))
