"""Convolutional classifiers for 28x28 single-channel images.

Every size comes from params.yaml (``models.cnn_spec``), so the constructors have no defaults
to drift from it. Both take ``n_outputs`` (10 classes, or 1 logit for a binary task) and compute their
flattened feature size from a dummy forward pass, so no magic number ties the dense head to
the input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnistflow import tta


def _dense_head(n_features: int, dense: Sequence[int], dropout: float, n_outputs: int) -> nn.Sequential:
    """Flatten -> [Linear -> ReLU] per width -> Dropout -> Linear(n_outputs)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_features
    for units in dense:
        layers += [nn.Linear(width, units), nn.ReLU(inplace=True)]
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
    ):
        super().__init__()
        self.tta, self.n_outputs = tta, n_outputs
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout(dropout) if dropout else nn.Identity(),
        )
        self.head = _dense_head(_feature_size(self.features, image_size), dense, dense_dropout, n_outputs)


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
    ):
        super().__init__()
        self.tta, self.n_outputs = tta, n_outputs
        blocks: list[nn.Module] = []
        width = 1
        every = batchnorm == "every"
        for c in channels:
            blocks += [
                nn.Conv2d(width, c, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                *([nn.BatchNorm2d(c)] if every else []),
                nn.Conv2d(c, c, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(c),
            ]
            if downsample == "strided":  # a learned downsampling: 5x5, stride 2, 'same' padding
                blocks += [nn.Conv2d(c, c, kernel_size=5, stride=2, padding=2), nn.ReLU(inplace=True)]
                blocks += [nn.BatchNorm2d(c)] if every else []
            else:
                blocks.append(nn.MaxPool2d(2))
            blocks.append(nn.Dropout(dropout) if dropout else nn.Identity())
            width = c
        self.features = nn.Sequential(*blocks)
        self.head = _dense_head(_feature_size(self.features, image_size), dense, dense_dropout, n_outputs)
