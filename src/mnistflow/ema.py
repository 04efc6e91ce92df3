"""An exponential moving average of a network's weights and BatchNorm statistics.

``train.ema_decay`` > 0 keeps, beside the trained network, an average
``ema = decay * ema + (1 - decay) * weights`` updated after every optimiser step, and scores
and saves the average instead of the last step's weights: late in training the weights still
wander around the minimum, and their average sits nearer its centre (An et al. 2020 use it
for their single MNIST CNNs). It is torch's own :class:`~torch.optim.swa_utils.AveragedModel`
with :func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`; ``use_buffers=True`` averages the
BatchNorm running statistics too, so the average carries statistics that match its weights.
The first update copies the weights (torch's rule), so the average starts where training does.

The decay warms up as TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` does: the
n-th update uses ``min(decay, (1 + n) / (10 + n))``. Without it an average of 0.999 still
holds 5% of the random initial weights after 3,000 steps, and of a network with BatchNorm
that is no network at all (a deep CNN trial scored 93% on validation, docs/trials.md). The cap
reaches 0.999 only after 9,000 updates: in a shorter run it is the cap that acts, an average
over about the last tenth of the steps, whatever ``decay`` above it says.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """The average of ``model`` at ``decay`` (None when ``decay`` is 0: no average kept)."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=warmed_up(decay), use_buffers=True)


def warmed_up(decay: float):
    """torch's EMA update with the decay of update ``n`` capped at ``(1 + n) / (10 + n)``."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        get_ema_multi_avg_fn(min(decay, (1 + n) / (10 + n)))(averaged, current, n_averaged)

    return update


@torch.no_grad()
def copy_into(ema: AveragedModel, model: nn.Module) -> None:
    """Overwrite ``model``'s weights and buffers with the average's, so what is saved is the average."""
    model.load_state_dict(ema.module.state_dict())
