"""``build_model`` is the one place that maps architecture names to classes, and ``model_spec``
the one place that maps a model of the pipeline (ann, mlp, lenet5, deepcnn, square) to its
network, training settings and task.

A checkpoint stores ``{"arch": ..., "kwargs": ...}``: plain values that rebuild the module
without re-reading params.yaml (see ``mnistflow.checkpoint``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mnistflow.config import CNNModel, InitSection, MLPModel, MLPSection, Params, SquareSection, Training, flatten, to_dict
from mnistflow.tasks import MULTICLASS, Task, square_task
from mnistflow.models.activation import sample_k
from mnistflow.models.cnn import DeepCNN, LeNet5
from mnistflow.models.mlp import MLP

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
    kwargs: dict[str, Any] = {"hidden": list(model_cfg.hidden), "activation": model_cfg.activation, "dropout": model_cfg.dropout}
    if model_cfg.activation == "learnable":
        generator = torch.Generator().manual_seed(seed)
        n_pairs = 1 if model_cfg.share_k == "network" else len(model_cfg.hidden)
        kwargs["share_k"] = model_cfg.share_k
        kwargs["k_init"] = [list(sample_k(init, generator)) for _ in range(n_pairs)]
    return "mlp", kwargs


def cnn_spec(cfg: CNNModel, n_outputs: int = 10) -> tuple[str, dict[str, Any]]:
    """The (arch, kwargs) of the CNN that a ``model`` section describes."""
    return cfg.arch, {
        "channels": list(cfg.channels),
        "dense": list(cfg.dense),
        "dropout": cfg.dropout,
        "dense_dropout": cfg.dense_dropout,
        "n_outputs": n_outputs,
    }


def describe(arch: str, kwargs: dict[str, Any]) -> str:
    """A short human title for plots, e.g. ``MLP 256-128, g(x) = k0 + k1·x``."""
    if arch == "mlp":
        act = "g(x) = k0 + k1·x" if kwargs.get("activation") == "learnable" else "ReLU"
        return f"MLP {'-'.join(map(str, kwargs['hidden']))}, {act}"
    name = {"lenet5": "LeNet-5", "deepcnn": "deep CNN"}.get(arch, arch)
    text = f"{name} {'-'.join(map(str, kwargs['channels']))} / dense {'-'.join(map(str, kwargs['dense']))}"
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
        read = {name: to_dict(section), **({"init": to_dict(params.init)} if section.model.activation == "learnable" else {})}
        return ModelSpec(name, arch, kwargs, section.train, MULTICLASS, flatten(read))
    task = square_task(section.positive) if isinstance(section, SquareSection) else MULTICLASS
    arch, kwargs = cnn_spec(section.model, n_outputs=task.n_outputs)
    return ModelSpec(name, arch, kwargs, section.train, task, flatten({name: to_dict(section)}))
