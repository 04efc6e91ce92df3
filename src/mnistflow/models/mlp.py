"""Fully connected classifiers: hidden layers with a learnable activation or ReLU."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnistflow import tta
from mnistflow.activations import family
from mnistflow.models.activation import coefficient_row


class MLP(nn.Module):
    """Flatten -> [Linear -> activation -> dropout] x len(hidden) -> Linear -> logits.

    ``activation="learnable"`` uses g(x) = k0 + k1*x, either one module shared by every hidden
    layer (``share_k="network"``) or one per layer (``"layer"``); ``k_init`` gives the initial
    (k0, k1) of each pair. ``"polynomial"`` and ``"rational"`` (``models.activation``) share
    the same way: ``k_init`` then gives each group's k0..kd (the rational's numerator),
    ``b_init`` the rational's b1..bn, and ``span`` where g turns into its tangent.
    ``"relu"`` uses ReLU with He (Kaiming) initialisation. The output is
    logits; softmax and cross-entropy are applied by the loss and by ``predict``. In eval mode
    with ``tta`` other than none, the answer is the mean over the 28x28 image's one-pixel shifts
    (``mnistflow.tta``), as the convolutional networks answer.
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
        b_init: Sequence[Sequence[float]] = (),
        span: float = 0.0,
        tta: str = "none",
    ):
        super().__init__()
        g = family(activation)  # ValueError naming the families for an unknown one
        self.activation = activation
        self.tta = tta
        widths = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], n_classes)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        module = g.module_class()
        if g.learned:
            n_pairs = 1 if share_k == "network" else len(hidden)
            if len(k_init) != n_pairs or (g.rational and len(b_init) != n_pairs):
                raise ValueError(
                    f"share_k={share_k!r} with {len(hidden)} hidden layers needs {n_pairs} sets of coefficients, got "
                    f"{len(k_init)}"
                )
            b_sets = b_init if g.rational else [[]] * n_pairs
            self.acts = nn.ModuleList(module.build(list(k), list(b), span) for k, b in zip(k_init, b_sets))
        else:
            self.acts = nn.ModuleList([module()])
        self.reset_weights()

    def reset_weights(self) -> None:
        # He init for ReLU; for the learnable activations, which all start as (or near) the
        # affine g, fan-in scaling with gain 1 (LeCun), which keeps the activations' variance
        # constant through k1 = 1 layers.
        nonlinearity = "linear" if family(self.activation).learned else "relu"
        for layer in [*self.hidden, self.out]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity if layer is not self.out else "linear")
            nn.init.zeros_(layer.bias)

    def act(self, i: int) -> nn.Module:
        return self.acts[i if len(self.acts) > 1 else 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.tta == "none":
            return self.logits(x)
        images = x.reshape(len(x), 28, 28)  # the shifts move the last two dimensions
        return tta.mean_logits(self.logits, images, tta.SHIFTS[self.tta], binary=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i, layer in enumerate(self.hidden):
            x = self.dropout(self.act(i)(layer(x)))
        return self.out(x)

    def scalars(self) -> dict[str, float]:
        """Learned activation parameters for the per-epoch history: each coefficient (k0, k1,
        ..., and the rational's b1, ...; the mean over layers when each layer has its own) and,
        with one set per layer, k0_l<i>, ... per layer."""
        if not family(self.activation).learned:
            return {}
        return coefficient_row(self.acts)

    def preactivation_range(self, x: torch.Tensor, low: float, high: float) -> dict[str, float]:
        """The ``low`` and ``high`` quantiles of each hidden layer's pre-activations on batch
        ``x`` (eval mode, no gradients): x_lo_l<i>, x_hi_l<i>, the inputs its g really sees;
        and ``span``, beyond which g is its tangent, so that the history alone redraws g."""
        was_training = self.training
        self.eval()
        values: dict[str, float] = {"span": self.acts[0].span}
        with torch.no_grad():
            h = x.flatten(1)
            for i, layer in enumerate(self.hidden):
                z = layer(h)
                lo, hi = torch.quantile(
                    z.flatten().double(), torch.tensor([low, high], dtype=torch.float64, device=z.device)
                ).tolist()
                values[f"x_lo_l{i + 1}"], values[f"x_hi_l{i + 1}"] = lo, hi
                h = self.act(i)(z)
        self.train(was_training)
        return values
