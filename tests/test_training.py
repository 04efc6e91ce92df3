"""The one training loop and evaluation path, on generated digits."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import synthetic_digits
from conftest import init_section, mlp_model, prepare_section, training
from mnistflow.data.prepare import prepare
from mnistflow.models import build_model, mlp_spec
from mnistflow.inference import predict_logits
from mnistflow.training import fit, format_row, get_lr, resolve_device, seed_everything


@pytest.fixture(scope="module")
def splits():
    train_x, train_y = synthetic_digits(800, seed=0)
    test_x, test_y = synthetic_digits(200, seed=1)
    return prepare(train_x, train_y, test_x, test_y, prepare_section(val_fraction=0.25))


def small_model(seed: int = 0, activation: str = "learnable"):
    seed_everything(seed)
    return build_model(*mlp_spec(mlp_model(hidden=(32,), activation=activation), init_section(), seed))


def test_get_lr_constant_and_cosine():
    assert get_lr(7, training(lr=0.01, epochs=10)) == 0.01
    cosine = training(lr=0.01, epochs=10, schedule="cosine")
    assert get_lr(0, cosine) == pytest.approx(0.01)
    assert get_lr(5, cosine) == pytest.approx(0.005)
    assert get_lr(10, cosine) == pytest.approx(0.0, abs=1e-12)
    rates = [get_lr(e, cosine) for e in range(10)]
    assert rates == sorted(rates, reverse=True)
    warm = training(lr=0.01, epochs=10, schedule="cosine", warmup_epochs=2)
    assert get_lr(0, warm) == 0 and get_lr(1, warm) == pytest.approx(0.005) and get_lr(2, warm) == pytest.approx(0.01)
    assert get_lr(6, warm) == pytest.approx(0.005)  # half-way through the 8 cosine epochs
    assert get_lr(2.5, training(lr=0.01, epochs=10, warmup_epochs=5)) == pytest.approx(0.005)


def test_fit_learns_and_records_history(splits):
    cfg = training(epochs=3, batch_size=50, lr=0.01, log_every=4, device="cpu")
    seen = []
    history = fit(small_model(), splits, cfg, on_epoch=lambda row, s: seen.append(row["epoch"]))
    assert seen == [0, 1, 2, 3] and [r["epoch"] for r in history.epochs] == [0, 1, 2, 3]
    first, last = history.epochs[0], history.last
    assert last["test_acc"] > 0.9 > first["test_acc"]
    assert last["train_loss"] < first["train_loss"] / 3
    assert {"k0", "k1", "lr", "val_loss", "val_acc"} <= set(last)
    assert (first["k0"], first["k1"]) == (0.0, 1.0) and (last["k0"], last["k1"]) != (0.0, 1.0)
    steps_per_epoch = math.ceil(len(splits.train) / cfg.batch_size)  # 600 / 50 = 12
    assert len(history.steps) == 3 * steps_per_epoch // cfg.log_every
    assert history.steps[-1]["epoch"] == pytest.approx(3.0)


def test_fit_is_deterministic_for_a_seed(splits):
    cfg = training(epochs=2, batch_size=64, seed=5, device="cpu")
    a = fit(small_model(5), splits, cfg)
    b = fit(small_model(5), splits, cfg)
    c = fit(small_model(5), splits, training(epochs=2, batch_size=64, seed=6, device="cpu"))
    assert a.epochs == b.epochs and a.steps == b.steps
    assert a.epochs[-1]["train_loss"] != c.epochs[-1]["train_loss"]  # batch order follows the seed


def test_sgd_with_momentum_and_relu_variant_train(splits):
    cfg = training(epochs=2, batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9, device="cpu")
    history = fit(small_model(activation="relu"), splits, cfg)
    assert history.last["test_acc"] > 0.9
    assert "k0" not in history.last


def test_divergence_is_reported(splits):
    cfg = training(epochs=1, batch_size=32, optimizer="sgd", lr=1e6, device="cpu")
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(small_model(), splits, cfg)


def test_predict_logits_batches_agree_and_keep_mode(splits):
    model = small_model()
    model.train()
    x = torch.from_numpy(splits.test.x)
    whole = predict_logits(model, x, batch_size=len(x))
    pieces = predict_logits(model, x, batch_size=7)
    torch.testing.assert_close(whole, pieces)
    assert whole.shape == (200, 10) and model.training


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


def test_format_row_shows_progress():
    row = {"epoch": 3, "train_loss": 0.25, "val_loss": 0.3, "test_loss": 0.28, "train_acc": 0.93, "val_acc": 0.92, "test_acc": 0.925, "k0": 0.1, "k1": 0.8}
    line = format_row(row, 20, 1.5)
    assert line.startswith("epoch   3/20") and "test 92.50%" in line and "k1 +0.8000" in line and "(1.5 s)" in line


def test_numpy_engine_trains_in_the_same_loop_and_hands_weights_to_torch(splits):
    from mnistflow.training import NumpyEngine

    cfg = training(epochs=3, batch_size=50, lr=0.01, log_every=4, device="cpu", backend="numpy")
    arch, kwargs = mlp_spec(mlp_model(hidden=(32,)), init_section(), 0)
    engine = NumpyEngine(kwargs, cfg)
    threads = torch.get_num_threads()
    history = fit(engine, splits, cfg)
    assert torch.get_num_threads() == threads  # the engine's one-thread session is undone
    assert [r["epoch"] for r in history.epochs] == [0, 1, 2, 3] and history.last["test_acc"] > 0.9
    assert (history.last["k0"], history.last["k1"]) != (0.0, 1.0)
    assert len(history.steps) == 3 * 12 // 4
    model = build_model(arch, kwargs)
    model.load_state_dict(engine.torch_state_dict())
    x = torch.from_numpy(splits.test.x)
    torch_logits = predict_logits(model, x)
    numpy_logits = engine.logits(x, 64)
    torch.testing.assert_close(torch_logits, numpy_logits, rtol=1e-4, atol=1e-4)
    assert torch.equal(torch_logits.argmax(1), numpy_logits.argmax(1))
    assert model.scalars() == pytest.approx(engine.scalars())
