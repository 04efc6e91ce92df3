"""The exponential moving average of the weights (mnistflow.ema): torch's AveragedModel, as fit uses it."""

from __future__ import annotations

import numpy as np
import torch
from conftest import training
from torch import nn

from mnistflow.data.prepare import Split, Splits
from mnistflow.ema import make_ema
from mnistflow.tasks import MULTICLASS
from mnistflow.training import TorchEngine, fit


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_no_decay_keeps_no_average():
    assert make_ema(tiny(), 0.0) is None


def test_average_equals_the_hand_computed_one_for_weights_and_batchnorm_statistics():
    decay = 0.75  # reached at the 20th update: the n-th uses min(decay, (1 + n) / (10 + n))
    engine = TorchEngine(tiny(), training(ema_decay=decay, lr=0.1), MULTICLASS)
    torch.manual_seed(1)
    expected = None
    for step in range(25):
        engine.step(torch.randn(8, 2, 2), torch.randint(0, 2, (8,)), 0.1)
        engine.average()
        now = {k: v.detach().clone().double() for k, v in engine.model.state_dict().items() if v.is_floating_point()}
        # The first update copies the weights; the n-th after it moves 1 - d of the way to them.
        d = min(decay, (1 + step) / (10 + step))  # step: the updates before this one
        expected = now if expected is None else {k: d * expected[k] + (1 - d) * now[k] for k in now}
    averaged = engine.ema.module.state_dict()
    assert set(expected) >= {"1.weight", "2.running_mean", "2.running_var"}
    for key, value in expected.items():
        np.testing.assert_allclose(averaged[key].double().numpy(), value.numpy(), rtol=1e-5, atol=1e-7, err_msg=key)
    # ... and it is not simply the last weights.
    assert not torch.allclose(averaged["1.weight"], engine.model.state_dict()["1.weight"])


def test_fit_scores_and_leaves_the_average_in_the_model():
    rng = np.random.default_rng(0)
    x = rng.random((256, 2, 2), dtype=np.float32)
    y = (x.sum(axis=(1, 2)) > 2).astype(np.int64)
    splits = Splits(*(Split(x, y, np.arange(len(y))) for _ in range(3)), info={})
    cfg = training(epochs=2, batch_size=32, lr=0.05, ema_decay=0.9)
    model = tiny()
    engine = TorchEngine(model, cfg)
    history = fit(engine, splits, cfg)
    averaged = engine.ema.module.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, averaged[key]), key  # the saved model is the average
    # The last evaluation scored the average: the same answers as the model now gives.
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    np.testing.assert_allclose(history.logits["val"].numpy(), logits.numpy(), rtol=1e-5, atol=1e-6)
