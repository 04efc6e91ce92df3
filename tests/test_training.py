"""The one training loop and evaluation path, on generated digits."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import synthetic_digits
from conftest import init_section, mlp_model, prepare_section, training
from mnistflow.data.prepare import prepare
from mnistflow.errors import UserError
from mnistflow.models import build_model, mlp_spec
from mnistflow.inference import predict_logits
from mnistflow.training import (
    LOSS_LIMIT,
    SCALAR_LIMIT,
    DeviceError,
    Diverged,
    NumpyEngine,
    check_divergence,
    configure_threads,
    fit,
    format_row,
    get_lr,
    resolve_device,
    seed_everything,
)


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


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_exploding_learning_rate_stops_within_a_few_steps(splits, backend):
    cfg = training(epochs=3, batch_size=32, optimizer="sgd", lr=1e6, device="cpu", backend=backend)
    model = small_model()
    if backend == "numpy":
        model = NumpyEngine(mlp_spec(mlp_model(hidden=(32,)), init_section(), 0)[1], cfg)
    seen = []
    with pytest.raises(Diverged) as caught:
        fit(model, splits, cfg, on_epoch=lambda row, seconds: seen.append(row))
    err = caught.value
    assert err.epoch == 1 and 1 <= err.step <= 3, "caught within a few steps, not at the end of the epoch"
    assert err.lr == 1e6 and set(err.scalars) == {"k0", "k1"}
    assert (
        not math.isfinite(err.loss) or err.loss > LOSS_LIMIT or max(abs(v) for v in err.scalars.values()) > SCALAR_LIMIT
    )
    assert [row["epoch"] for row in seen] == [0]  # the untrained net's row only
    assert str(err).startswith(f"training diverged at epoch 1 of 3, step {err.step}: loss ")
    assert "learning rate 1e+06, k0 " in str(err)


def test_untrainable_start_is_caught_before_the_first_step(splits):
    seed_everything(0)
    model = build_model(*mlp_spec(mlp_model(hidden=(32,)), init_section(k1=1e6), 0))
    with pytest.raises(
        Diverged,
        match=r"^training diverged before the first step: loss [0-9.e+]+, learning rate 0.001, k0 \+0, k1 \+1e\+06$",
    ):
        fit(model, splits, training(epochs=1, batch_size=32))


def test_models_without_k_diverge_without_k(splits):
    with pytest.raises(Diverged) as caught:
        fit(small_model(activation="relu"), splits, training(epochs=1, batch_size=32, optimizer="sgd", lr=1e6))
    assert caught.value.scalars == {} and " k0 " not in str(caught.value)


def test_check_divergence_limits():
    check_divergence(1, 1, 5, LOSS_LIMIT, 0.1, {"k0": -SCALAR_LIMIT, "k1": SCALAR_LIMIT})  # at the limits: fine
    for loss, scalars in (
        (math.nan, {}),
        (math.inf, {}),
        (LOSS_LIMIT * 1.01, {}),
        (0.3, {"k1": math.nan}),
        (0.3, {"k0": -1.01 * SCALAR_LIMIT}),
    ):
        with pytest.raises(Diverged):
            check_divergence(1, 1, 5, loss, 0.1, scalars)


def test_predict_logits_batches_agree_and_keep_mode(splits):
    model = small_model()
    model.train()
    x = torch.from_numpy(splits.test.x)
    whole = predict_logits(model, x, batch_size=len(x))
    pieces = predict_logits(model, x, batch_size=7)
    torch.testing.assert_close(whole, pieces)
    assert whole.shape == (200, 10) and model.training


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    # auto prefers CUDA, then Apple's MPS, then the CPU; a named device that is absent is an error.
    for cuda, mps, expected in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        assert resolve_device("auto").type == expected
    with pytest.raises(
        DeviceError, match="^train.device is 'cuda' but torch sees no CUDA device; set it to 'auto' or 'cpu'$"
    ):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="^train.device is 'mps' but torch sees no Apple MPS device"):
        resolve_device("mps")


def test_format_row_shows_progress():
    row = {
        "epoch": 3,
        "train_loss": 0.25,
        "val_loss": 0.3,
        "test_loss": 0.28,
        "train_acc": 0.93,
        "val_acc": 0.92,
        "test_acc": 0.925,
        "k0": 0.1,
        "k1": 0.8,
    }
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


def test_threads_follow_the_environment():
    before = torch.get_num_threads()
    try:
        assert configure_threads({}) == before  # unset: torch's own choice, untouched
        assert configure_threads({"MNISTFLOW_THREADS": "1"}) == 1 and torch.get_num_threads() == 1
        from threadpoolctl import threadpool_info

        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
        for bad in ("0", "two", "-1"):
            with pytest.raises(UserError, match=f"^MNISTFLOW_THREADS={bad} must be a whole number of threads >= 1"):
                configure_threads({"MNISTFLOW_THREADS": bad})
    finally:
        torch.set_num_threads(before)
