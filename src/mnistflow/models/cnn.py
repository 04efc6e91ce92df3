"""Convolutional classifiers for 28x28 single-channel images.

Every size comes from params.yaml (``models.cnn_spec``), so the constructors have no defaults
to drift from it. Both take ``n_outputs`` (10 classes, or 1 logit for a binary task) and compute their
flattened feature size from a dummy forward pass, so no magic number ties the dense head to
the input size.

``activation`` (``model.activation``, a family of ``mnistflow.activations.FAMILIES``) is what
follows every convolution and every hidden dense layer: ReLU, or a learned family with one set
of coefficients per layer, as Padé Activation Units have (Molina et al. 2019). ``k_init`` (and,
rational, ``b_init``) hold one set per layer, in forward order, as ``models.cnn_spec`` draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mnistflow import tta
from mnistflow.activations import family
from mnistflow.models.activation import coefficient_row


class Activations:
    """Hands out each layer's activation in forward order: ReLU, or the family's module built
    from the next set of coefficients."""

    def __init__(
        self, activation: str, k_init: Sequence[Sequence[float]], b_init: Sequence[Sequence[float]], span: float
    ):
        self.family = family(activation)  # ValueError naming the families for an unknown one
        self.n_sets, self.used, self.span = len(k_init), 0, span
        self.sets = list(zip(k_init, b_init if self.family.rational else [[]] * len(k_init)))

    def __call__(self) -> nn.Module:
        if self.family.name == "relu":
            return nn.ReLU(inplace=True)  # as before the families: the relu network is unchanged
        if not self.family.learned:
            return self.family.module_class()()
        if self.used == len(self.sets):
            raise ValueError(self.mismatch("more"))
        k, b = self.sets[self.used]
        self.used += 1
        return self.family.module_class().build(list(k), list(b), self.span)

    def check_all_used(self) -> None:
        if self.family.learned and self.used != self.n_sets:
            raise ValueError(self.mismatch(str(self.used)))

    def mismatch(self, n_activations: str) -> str:
        return (
            f"mnistflow/models/cnn.py: k_init has {self.n_sets} sets of coefficients, but the network has "
            f"{n_activations} activations; build the kwargs with models.cnn_spec, which draws one set per activation"
        )


def _dense_head(
    n_features: int, dense: Sequence[int], dropout: float, n_outputs: int, act: Activations | None = None
) -> nn.Sequential:
    """Flatten -> [Linear -> activation (ReLU)] per width -> Dropout -> Linear(n_outputs)."""
    act = act or Activations("relu", (), (), 0.0)
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_features
    for units in dense:
        layers += [nn.Linear(width, units), act()]
        width = units
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def _feature_size(features: nn.Module, image_size: int) -> int:
    with torch.no_grad():
        return features(torch.zeros(1, 1, image_size, image_size)).numel()


class ImageClassifier(nn.Module):
    """``features`` (convolutions) then ``head`` (dense layers); accepts (N, 28, 28) or (N, 1, 28, 28).

    In eval mode with ``tta`` other than none, the answer is the mean over the image's shifted
    copies (``mnistflow.tta``), so every caller of the model gets it."""

    features: nn.Module
    head: nn.Module
    tta: str
    n_outputs: int
    # The family of every hidden activation (``model.activation``); a network that sets none has ReLU.
    activation: str = "relu"

    def learned_activations(self) -> list[nn.Module]:
        """The learned activation modules, in forward order (layer 1 first); none with ReLU."""
        return [m for m in self.modules() if hasattr(m, "coefficients")]

    def scalars(self) -> dict[str, float]:
        """The learned coefficients for the per-epoch history, as ``MLP.scalars`` with one set
        per layer: the means (k0, k1, ...) and each layer's k0_l<i>, ...; {} with ReLU."""
        return coefficient_row(self.learned_activations())

    def preactivation_range(self, x: torch.Tensor, low: float, high: float) -> dict[str, float]:
        """``MLP.preactivation_range`` for each learned activation: the ``low`` and ``high``
        quantiles of its inputs on batch ``x`` (eval mode, one plain pass without test-time
        shifts), x_lo_l<i> and x_hi_l<i>, and ``span``."""
        acts = self.learned_activations()
        seen: list[torch.Tensor] = []
        hooks = [a.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0].detach())) for a in acts]
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self.head(self.features(x.unsqueeze(1) if x.dim() == 3 else x))
        finally:
            for hook in hooks:
                hook.remove()
            self.train(was_training)
        values: dict[str, float] = {"span": acts[0].span}
        for i, z in enumerate(seen, start=1):
            # NumPy's quantile, which takes a conv layer's millions of inputs (torch's stops at 2^24).
            lo, hi = np.quantile(z.double().cpu().numpy(), [low, high])
            values[f"x_lo_l{i}"], values[f"x_hi_l{i}"] = float(lo), float(hi)
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if self.training or self.tta == "none":
            return self.head(self.features(x))
        return tta.mean_logits(lambda v: self.head(self.features(v)), x, tta.SHIFTS[self.tta], self.n_outputs == 1)


class LeNet5(ImageClassifier):
    """LeNet-5 for 28x28 input: a 5x5 'same' first convolution (so 28x28 plays the role of
    LeNet's padded 32x32), pooling, a 5x5 'valid' convolution, pooling, then dense layers
    120 -> 84 -> outputs. ReLU and max pooling replace the original tanh and subsampling."""

    def __init__(
        self,
        *,
        channels: Sequence[int],
        dense: Sequence[int],
        dropout: float,
        dense_dropout: float,
        n_outputs: int,
        tta: str = "none",
        image_size: int = 28,
        activation: str = "relu",
        k_init: Sequence[Sequence[float]] = (),
        b_init: Sequence[Sequence[float]] = (),
        span: float = 0.0,
    ):
        super().__init__()
        self.tta, self.n_outputs, self.activation = tta, n_outputs, activation
        act = Activations(activation, k_init, b_init, span)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=5, padding=2),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5),
            act(),
            nn.MaxPool2d(2),
            nn.Dropout(dropout) if dropout else nn.Identity(),
        )
        self.head = _dense_head(_feature_size(self.features, image_size), dense, dense_dropout, n_outputs, act)
        act.check_all_used()


class DeepCNN(ImageClassifier):
    """[Conv3x3 -> ReLU -> Conv3x3 -> ReLU -> BatchNorm -> MaxPool -> Dropout] per entry of
    ``channels``, then Flatten -> Dense -> Dense -> Dropout -> Dense (``dense`` gives the
    hidden widths). ``downsample`` strided puts a 5x5 convolution of stride 2 (-> ReLU) in
    place of the max pooling; ``batchnorm`` every adds a BatchNorm after every convolution.
    The keyword defaults (and ``tta`` none) are the network as it was before these options, so
    checkpoints written then still load."""

    def __init__(
        self,
        *,
        channels: Sequence[int],
        dense: Sequence[int],
        dropout: float,
        dense_dropout: float,
        n_outputs: int,
        downsample: str = "maxpool",
        batchnorm: str = "block",
        tta: str = "none",
        image_size: int = 28,
        activation: str = "relu",
        k_init: Sequence[Sequence[float]] = (),
        b_init: Sequence[Sequence[float]] = (),
        span: float = 0.0,
    ):
        super().__init__()
        self.tta, self.n_outputs, self.activation = tta, n_outputs, activation
        act = Activations(activation, k_init, b_init, span)
        blocks: list[nn.Module] = []
        width = 1
        every = batchnorm == "every"
        for c in channels:
            blocks += [
                nn.Conv2d(width, c, kernel_size=3, padding=1),
                act(),
                *([nn.BatchNorm2d(c)] if every else []),
                nn.Conv2d(c, c, kernel_size=3, padding=1),
                act(),
                nn.BatchNorm2d(c),
            ]
            if downsample == "strided":  # a learned downsampling: 5x5, stride 2, 'same' padding
                blocks += [nn.Conv2d(c, c, kernel_size=5, stride=2, padding=2), act()]
                blocks += [nn.BatchNorm2d(c)] if every else []
            else:
                blocks.append(nn.MaxPool2d(2))
            blocks.append(nn.Dropout(dropout) if dropout else nn.Identity())
            width = c
        self.features = nn.Sequential(*blocks)
        self.head = _dense_head(_feature_size(self.features, image_size), dense, dense_dropout, n_outputs, act)
        act.check_all_used()
