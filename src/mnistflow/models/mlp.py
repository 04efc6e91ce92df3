"""Fully connected classifiers: hidden layers with the learnable activation or ReLU."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnistflow.models.activation import LearnableAffine


class MLP(nn.Module):
    """Flatten -> [Linear -> activation -> dropout] x len(hidden) -> Linear -> logits.

    ``activation="learnable"`` uses g(x) = k0 + k1*x, either one module shared by every hidden
    layer (``share_k="network"``) or one per layer (``"layer"``); ``k_init`` gives the initial
    (k0, k1) of each pair. ``"relu"`` uses ReLU with He (Kaiming) initialisation. The output is
    logits; softmax and cross-entropy are applied by the loss and by ``predict``.
    """

    def __init__(
        self,
        in_features: int = 28 * 28,
        hidden: Sequence[int] = (256, 128),
        n_classes: int = 10,
        activation: str = "learnable",
        share_k: str = "network",
        k_init: Sequence[Sequence[float]] = ((0.0, 1.0),),
        dropout: float = 0.0,
    ):
        super().__init__()
        if activation not in ("learnable", "relu"):
            raise ValueError(f"activation must be 'learnable' or 'relu', got {activation!r}")
        self.activation = activation
        widths = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], n_classes)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        if activation == "learnable":
            n_pairs = 1 if share_k == "network" else len(hidden)
            if len(k_init) != n_pairs:
                raise ValueError(f"share_k={share_k!r} with {len(hidden)} hidden layers needs {n_pairs} (k0, k1) pairs, got {len(k_init)}")
            self.acts = nn.ModuleList(LearnableAffine(k0, k1) for k0, k1 in k_init)
        else:
            self.acts = nn.ModuleList([nn.ReLU()])
        self.reset_weights()

    def reset_weights(self) -> None:
        # He init for ReLU; for the affine activation, fan-in scaling with gain 1 (LeCun),
        # which keeps the activations' variance constant through k1 = 1 layers.
        nonlinearity = "relu" if self.activation == "relu" else "linear"
        for layer in [*self.hidden, self.out]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity if layer is not self.out else "linear")
            nn.init.zeros_(layer.bias)

    def act(self, i: int) -> nn.Module:
        return self.acts[i if len(self.acts) > 1 else 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i, layer in enumerate(self.hidden):
            x = self.dropout(self.act(i)(layer(x)))
        return self.out(x)

    def scalars(self) -> dict[str, float]:
        """Learned activation parameters for the per-epoch history: k0, k1 (the mean over
        layers when each layer has its own pair) and k0_l<i>, k1_l<i> per layer then."""
        if self.activation != "learnable":
            return {}
        pairs = [(a.k0.item(), a.k1.item()) for a in self.acts]
        values = {"k0": sum(p[0] for p in pairs) / len(pairs), "k1": sum(p[1] for p in pairs) / len(pairs)}
        if len(pairs) > 1:
            for i, (k0, k1) in enumerate(pairs, start=1):
                values[f"k0_l{i}"] = k0
                values[f"k1_l{i}"] = k1
        return values
