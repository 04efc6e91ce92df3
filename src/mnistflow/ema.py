"""An exponential moving average of a network's weights and BatchNorm statistics.

``train.ema_decay`` > 0 keeps, beside the trained network, an average
``ema = decay * ema + (1 - decay) * weights`` updated after every optimiser step, and scores
and saves the average instead of the last step's weights: late in training the weights still
wander around the minimum, and their average sits nearer its centre (An et al. 2020 use it
for their single MNIST CNNs). It is torch's own :class:`~torch.optim.swa_utils.AveragedModel`
with :func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`; ``use_buffers=True`` averages the
BatchNorm running statistics too, so the average carries statistics that match its weights.
The first update copies the weights (torch's rule), so the average starts where training does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """The average of ``model`` at ``decay`` (None when ``decay`` is 0: no average kept)."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@torch.no_grad()
def copy_into(ema: AveragedModel, model: nn.Module) -> None:
    """Overwrite ``model``'s weights and buffers with the average's, so what is saved is the average."""
    model.load_state_dict(ema.module.state_dict())
