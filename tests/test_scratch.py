"""The from-scratch NumPy MLP (mnistflow.scratch) against PyTorch autograd, finite differences
and torch.optim, plus dropout, initialisation and state_dict behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnistflow.models.mlp import MLP
from mnistflow.scratch import SGD, Adam, NumpyMLP, softmax_cross_entropy
from mnistflow.scratch.layers import dropout_mask

# Architectures under test: (id, MLP/NumpyMLP kwargs). k values away from (0, 1) so that every
# k gradient term matters; "layer" pairs differ between layers.
CONFIGS = {
    "relu": dict(hidden=(32, 16), activation="relu"),
    "learnable-network": dict(hidden=(32, 16), activation="learnable", share_k="network", k_init=((0.15, 0.8),)),
    "learnable-layer": dict(
        hidden=(32, 16), activation="learnable", share_k="layer", k_init=((0.15, 0.8), (-0.1, 1.3))
    ),
    "learnable-layer-3": dict(
        hidden=(24, 16, 12), activation="learnable", share_k="layer", k_init=((0.1, 0.9), (-0.2, 1.2), (0.05, -0.7))
    ),
}
CONFIG_IDS = list(CONFIGS)


def torch_twin(model: NumpyMLP, kwargs: dict) -> MLP:
    """The torch MLP with the same architecture, dtype and weights as ``model``."""
    net = MLP(in_features=model.in_features, n_classes=model.n_classes, **kwargs)
    if model.dtype == np.float64:
        net = net.double()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    return net


def batch(n: int, seed: int, in_features: int = 784, n_classes: int = 10, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, in_features)).astype(dtype), rng.integers(0, n_classes, n)


def torch_grads(net: MLP, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    net.zero_grad()
    loss = F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    return loss.item(), {name: p.grad.numpy().copy() for name, p in net.named_parameters()}


# ---------------------------------------------------------------------------------------------
# Parameters: names, shapes, scalars, state_dict
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIG_IDS)
def test_params_have_the_keys_shapes_and_order_of_the_torch_state_dict(name):
    kwargs = CONFIGS[name]
    model = NumpyMLP(**kwargs)
    reference = MLP(**kwargs).state_dict()
    assert list(model.params) == list(reference)
    for key, tensor in reference.items():
        assert model.params[key].shape == tuple(tensor.shape), key
        assert model.params[key].dtype == np.float32
    if kwargs["activation"] == "learnable":
        for j, (k0, k1) in enumerate(kwargs["k_init"]):
            assert model.params[f"acts.{j}.k0"].ndim == 0
            assert float(model.params[f"acts.{j}.k0"]) == pytest.approx(k0) and float(
                model.params[f"acts.{j}.k1"]
            ) == pytest.approx(k1)


@pytest.mark.parametrize("name", CONFIG_IDS)
def test_scalars_equal_torch_scalars(name):
    kwargs = CONFIGS[name]
    model = NumpyMLP(**kwargs)
    expected = torch_twin(model, kwargs).scalars()
    assert model.scalars().keys() == expected.keys()
    for key, value in expected.items():
        assert model.scalars()[key] == pytest.approx(value, rel=1e-7)
    if kwargs["activation"] == "relu":
        assert model.scalars() == {}


def test_state_dict_round_trip_and_loading_from_torch():
    kwargs = CONFIGS["learnable-layer"]
    model = NumpyMLP(**kwargs, seed=1)
    saved = model.state_dict()
    for key in saved:  # copies, not views
        assert saved[key] is not model.params[key] and np.array_equal(saved[key], model.params[key])
    saved["out.bias"][:] = 123.0
    assert not np.any(model.params["out.bias"] == 123.0)

    other = NumpyMLP(**kwargs, seed=2)
    held = {key: value for key, value in other.params.items()}  # e.g. an optimizer's references
    other.load_state_dict(model.state_dict())
    for key in saved:
        assert other.params[key] is held[key], "load_state_dict must copy in place"
        assert np.array_equal(other.params[key], model.params[key])

    # From torch: a state_dict of tensors, and parameters that still require grad.
    net = MLP(**kwargs)
    other.load_state_dict(net.state_dict())
    for key, tensor in net.state_dict().items():
        assert np.array_equal(other.params[key], tensor.numpy())
    other.load_state_dict(dict(net.named_parameters()))
    x, _ = batch(20, 3, dtype=np.float32)
    torch.testing.assert_close(
        torch.from_numpy(other.forward(x)), net(torch.from_numpy(x)).detach(), rtol=1e-5, atol=1e-5
    )

    with pytest.raises(KeyError):
        other.load_state_dict({k: v for k, v in saved.items() if k != "out.bias"})
    with pytest.raises(KeyError):
        other.load_state_dict({**saved, "extra": np.zeros(1)})
    with pytest.raises(ValueError):
        other.load_state_dict({**saved, "out.bias": np.zeros(3)})


def test_astype_gives_a_float64_copy_with_the_same_values():
    model = NumpyMLP(**CONFIGS["learnable-layer"])
    double = model.astype(np.float64)
    assert double is not model and double.dtype == np.float64 and model.dtype == np.float32
    for key, value in model.params.items():
        assert double.params[key].dtype == np.float64 and np.array_equal(double.params[key], value.astype(np.float64))
    x, y = batch(8, 0)
    _, grads = double.loss_and_grads(x, y)
    assert all(g.dtype == np.float64 for g in grads.values())
    assert double.forward(x).dtype == np.float64 and model.forward(x).dtype == np.float32
    assert NumpyMLP(**CONFIGS["relu"], dtype=np.float64).params["out.weight"].dtype == np.float64


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError):
        NumpyMLP(activation="tanh")
    with pytest.raises(ValueError):
        NumpyMLP(share_k="layer", k_init=((0.0, 1.0),))  # two hidden layers need two pairs
    with pytest.raises(ValueError):
        NumpyMLP(init="orthogonal")
    with pytest.raises(ValueError):
        NumpyMLP(dropout=1.0)
    with pytest.raises(ValueError):
        NumpyMLP().forward(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(RuntimeError):
        NumpyMLP().backward(np.zeros((2, 10), dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# Loss and gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIG_IDS)
def test_loss_and_every_gradient_equal_torch_autograd_in_float64(name):
    kwargs = CONFIGS[name]
    model = NumpyMLP(**kwargs, seed=3, dtype=np.float64)
    # Nonzero biases so that the bias paths are exercised too.
    rng = np.random.default_rng(4)
    for key, value in model.params.items():
        if key.endswith(".bias"):
            value[...] = rng.normal(0.0, 0.1, value.shape)
    net = torch_twin(model, kwargs)
    x, y = batch(40, 5)
    loss, grads = model.loss_and_grads(x.reshape(40, 28, 28), y)
    expected_loss, expected = torch_grads(net, x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert list(grads) == list(expected)
    for key, g in expected.items():
        assert grads[key].shape == g.shape and grads[key].dtype == np.float64, key
        assert np.any(g != 0), f"{key}: a zero gradient would not test anything"
        torch.testing.assert_close(torch.from_numpy(grads[key]), torch.from_numpy(g), rtol=1e-6, atol=1e-12, msg=key)


def test_shared_k_gradient_is_the_sum_of_the_per_layer_gradients():
    shared = NumpyMLP(
        hidden=(20, 10), activation="learnable", share_k="network", k_init=((0.2, 0.7),), dtype=np.float64
    )
    per_layer = NumpyMLP(
        hidden=(20, 10), activation="learnable", share_k="layer", k_init=((0.2, 0.7), (0.2, 0.7)), dtype=np.float64
    )
    per_layer.load_state_dict(
        {
            **{k: v for k, v in shared.params.items() if not k.startswith("acts")},
            "acts.0.k0": 0.2,
            "acts.0.k1": 0.7,
            "acts.1.k0": 0.2,
            "acts.1.k1": 0.7,
        }
    )
    x, y = batch(16, 6)
    _, g_shared = shared.loss_and_grads(x, y)
    _, g_layer = per_layer.loss_and_grads(x, y)
    for k in ("k0", "k1"):
        assert float(g_shared[f"acts.0.{k}"]) == pytest.approx(
            float(g_layer[f"acts.0.{k}"] + g_layer[f"acts.1.{k}"]), rel=1e-12
        )


def central_difference(model: NumpyMLP, x, y, key: str, index: tuple, eps: float = 1e-6) -> float:
    param = model.params[key]
    original = param[index].copy()
    param[index] = original + eps
    plus = model.loss(x, y)
    param[index] = original - eps
    minus = model.loss(x, y)
    param[index] = original
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize("name", CONFIG_IDS)
def test_gradients_equal_central_finite_differences(name):
    kwargs = CONFIGS[name]
    model = NumpyMLP(in_features=30, n_classes=7, **kwargs, seed=7, dtype=np.float64)
    x, y = batch(12, 8, in_features=30, n_classes=7)
    _, grads = model.loss_and_grads(x, y)
    rng = np.random.default_rng(9)
    checked = 0
    for key, param in model.params.items():
        indices = [()] if param.ndim == 0 else [tuple(int(rng.integers(0, s)) for s in param.shape) for _ in range(4)]
        for index in indices:
            numeric = central_difference(model, x, y, key, index)
            assert grads[key][index] == pytest.approx(numeric, rel=1e-6, abs=1e-9), f"{key}{list(index)}"
            checked += 1
    assert checked >= 4 * 2 * (len(kwargs["hidden"]) + 1)


@pytest.mark.parametrize("name", ["relu", "learnable-layer"])
def test_gradients_with_dropout_equal_finite_differences_under_a_fixed_mask(name):
    kwargs = CONFIGS[name]
    model = NumpyMLP(in_features=30, n_classes=7, **kwargs, dropout=0.4, seed=7, dtype=np.float64)
    x, y = batch(12, 8, in_features=30, n_classes=7)

    def loss_with_mask(seed=123):
        model.rng = np.random.default_rng(seed)  # the same dropout masks on every call
        loss, dlogits = softmax_cross_entropy(model.forward(x, train=True), y)
        return loss, dlogits

    loss, dlogits = loss_with_mask()
    grads = model.backward(dlogits)
    rng = np.random.default_rng(10)
    for key, param in model.params.items():
        for index in (
            [()] if param.ndim == 0 else [tuple(int(rng.integers(0, s)) for s in param.shape) for _ in range(3)]
        ):
            original = param[index].copy()
            param[index] = original + 1e-6
            plus = loss_with_mask()[0]
            param[index] = original - 1e-6
            minus = loss_with_mask()[0]
            param[index] = original
            assert grads[key][index] == pytest.approx((plus - minus) / 2e-6, rel=1e-6, abs=1e-9), f"{key}{list(index)}"


def test_float32_gradients_agree_with_torch_float32():
    kwargs = CONFIGS["learnable-layer"]
    model = NumpyMLP(hidden=(256, 128), activation="learnable", share_k="layer", k_init=kwargs["k_init"], seed=11)
    net = torch_twin(model, dict(hidden=(256, 128), activation="learnable", share_k="layer", k_init=kwargs["k_init"]))
    x, y = batch(128, 12, dtype=np.float32)
    loss, grads = model.loss_and_grads(x, y)
    expected_loss, expected = torch_grads(net, x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for key, g in expected.items():
        assert grads[key].dtype == np.float32
        scale = float(np.abs(g).max())
        torch.testing.assert_close(
            torch.from_numpy(grads[key]), torch.from_numpy(g), rtol=1e-4, atol=1e-5 * scale, msg=key
        )


def test_loss_equals_torch_cross_entropy_and_is_stable_for_huge_logits():
    rng = np.random.default_rng(13)
    y = rng.integers(0, 10, 64)
    for logits in (
        rng.standard_normal((64, 10)),
        1000.0 * rng.standard_normal((64, 10)),
        rng.standard_normal((64, 10)) + 1e4,
    ):
        for dtype in (np.float64, np.float32):
            z = logits.astype(dtype)
            loss, dlogits = softmax_cross_entropy(z.copy(), y)
            t = torch.from_numpy(z).requires_grad_()
            expected = F.cross_entropy(t, torch.from_numpy(y))
            expected.backward()
            assert math.isfinite(loss) and np.all(np.isfinite(dlogits)) and dlogits.dtype == dtype
            assert loss == pytest.approx(expected.item(), rel=1e-12 if dtype == np.float64 else 1e-5)
            torch.testing.assert_close(torch.from_numpy(dlogits), t.grad, rtol=1e-5, atol=1e-7)
    # Exact values: one logit 1000 above the rest gives loss 0 for that class and 1000 otherwise.
    z = np.array([[1000.0, 0.0, 0.0], [1000.0, 0.0, 0.0]])
    loss, dlogits = softmax_cross_entropy(z, np.array([0, 1]))
    assert loss == pytest.approx(500.0) and np.allclose(dlogits, [[0, 0, 0], [0.5, -0.5, 0]])


def test_model_with_huge_logits_gives_finite_loss_and_gradients():
    for name in ("relu", "learnable-network"):
        model = NumpyMLP(**CONFIGS[name], seed=14)
        model.params["out.weight"] *= 1e4
        model.params["out.bias"][:] = np.linspace(-1000, 1000, 10, dtype=np.float32)
        x, y = batch(32, 15, dtype=np.float32)
        assert np.abs(model.forward(x)).max() > 1000
        loss, grads = model.loss_and_grads(x, y)
        assert math.isfinite(loss) and loss > 10
        assert all(np.all(np.isfinite(g)) for g in grads.values())


# ---------------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------------


def run_both(name: str, make_np, make_torch, dtype=np.float64, steps: int = 5, lr_change: float | None = 0.5):
    """Train the NumPy and torch twins ``steps`` steps on the same batches; return both.

    lr is multiplied by ``lr_change`` before step 3 (a schedule changing lr between steps).
    The NumPy run goes first, then the torch one: alternating the two libraries step by step
    makes their idle, spinning thread pools (OpenBLAS, OpenMP) fight for the CPU.
    """
    kwargs = CONFIGS[name]
    model = NumpyMLP(**kwargs, seed=16, dtype=dtype)
    net = torch_twin(model, kwargs)
    batches = [batch(32, 100 + step, dtype=dtype) for step in range(steps)]
    opt_np = make_np(model.params)
    for step, (x, y) in enumerate(batches):
        if lr_change is not None and step == 3:
            opt_np.lr *= lr_change
        _, grads = model.loss_and_grads(x, y)
        opt_np.step(grads)
    opt_torch = make_torch(net.parameters())
    for step, (x, y) in enumerate(batches):
        if lr_change is not None and step == 3:
            for group in opt_torch.param_groups:
                group["lr"] *= lr_change
        opt_torch.zero_grad()
        F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_torch.step()
    return model, net


OPTIMIZERS = {
    "sgd-momentum-wd": (
        lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    ),
    "sgd-plain": (lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "adam-wd": (
        lambda p: Adam(p, lr=1e-2, weight_decay=1e-2),
        lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
    ),
    "adam-betas-eps": (
        lambda p: Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-3),
        lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-3),
    ),
}


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("name", ["relu", "learnable-layer", "learnable-network"])
def test_five_optimizer_steps_give_the_same_weights_as_torch(name, opt):
    make_np, make_torch = OPTIMIZERS[opt]
    model, net = run_both(name, make_np, make_torch)
    start = NumpyMLP(**CONFIGS[name], seed=16, dtype=np.float64).params
    for key, tensor in net.state_dict().items():
        assert not np.allclose(model.params[key], start[key]), f"{key} did not move"
        torch.testing.assert_close(torch.from_numpy(model.params[key]), tensor, rtol=1e-5, atol=1e-8, msg=key)


@pytest.mark.parametrize("opt", ["sgd-momentum-wd", "adam-wd"])
def test_float32_optimizer_steps_stay_float32_and_close_to_torch_float32(opt):
    make_np, make_torch = OPTIMIZERS[opt]
    model, net = run_both("learnable-layer", make_np, make_torch, dtype=np.float32)
    for key, tensor in net.state_dict().items():
        assert model.params[key].dtype == np.float32, key
        torch.testing.assert_close(torch.from_numpy(model.params[key]), tensor, rtol=1e-4, atol=1e-5, msg=key)


def test_float32_training_learns_without_upcasting():
    # Separable data: each class is a fixed random 784-d pattern plus noise.
    rng = np.random.default_rng(17)
    centers = rng.standard_normal((10, 784)).astype(np.float32)
    y = rng.integers(0, 10, 2000)
    x = (centers[y] + 2.0 * rng.standard_normal((2000, 784))).astype(np.float32)
    for name, opt_cls, kwargs in (
        ("learnable-layer", Adam, dict(lr=1e-3, weight_decay=1e-4)),
        ("relu", SGD, dict(lr=0.05, momentum=0.9)),
    ):
        model = NumpyMLP(**CONFIGS[name], dropout=0.1, seed=18)
        opt = opt_cls(model.params, **kwargs)
        first = model.loss(x, y)
        for epoch in range(3):
            order = rng.permutation(len(x))
            for start in range(0, len(x), 100):
                idx = order[start : start + 100]
                loss, grads = model.loss_and_grads(x[idx], y[idx])
                assert isinstance(loss, float) and all(g.dtype == np.float32 for g in grads.values())
                opt.step(grads)
        assert model.loss(x, y) < 0.2 * first
        assert (model.predict(x, batch_size=300) == y).mean() > 0.95
        assert all(p.dtype == np.float32 for p in model.params.values())
        assert all(
            a.dtype == np.float32 for state in opt.state.values() for a in state.values() if isinstance(a, np.ndarray)
        )


# ---------------------------------------------------------------------------------------------
# Prediction, dropout, initialisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu", "learnable-network", "learnable-layer"])
def test_predictions_equal_the_torch_mlp_with_the_same_weights(name):
    kwargs = {**CONFIGS[name], "hidden": (256, 128)}
    if kwargs["activation"] == "learnable":
        kwargs["k_init"] = CONFIGS[name]["k_init"]
    model = NumpyMLP(**kwargs, seed=19)
    net = torch_twin(model, kwargs).eval()
    x = np.random.default_rng(20).random((2500, 28, 28), dtype=np.float32)
    logits = model.predict_logits(x, batch_size=1000)  # 3 batches, the last one partial
    with torch.no_grad():
        expected = net(torch.from_numpy(x))
    assert logits.shape == (2500, 10) and logits.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(logits), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x), expected.argmax(1).numpy())
    # Another batching gives the same logits up to BLAS rounding (kernels depend on the batch shape).
    np.testing.assert_allclose(model.predict_logits(x.reshape(2500, 784), batch_size=777), logits, rtol=1e-5, atol=1e-6)


def test_dropout_mask_is_inverted_and_drops_the_right_fraction():
    rng = np.random.default_rng(21)
    for p in (0.1, 0.5, 0.8):
        mask = dropout_mask(rng, (1000, 1000), p, np.float32)
        assert mask.dtype == np.float32
        assert set(np.unique(mask)) == {0.0, np.float32(1 / (1 - p))}
        assert (mask == 0).mean() == pytest.approx(p, abs=0.005)
        assert mask.mean() == pytest.approx(1.0, abs=0.01)  # E[G ⊙ M] = G


def test_dropout_in_train_mode_preserves_the_expected_output_and_eval_is_deterministic():
    kwargs = dict(in_features=20, hidden=(64, 32), activation="learnable", share_k="network", k_init=((0.3, 0.9),))
    model = NumpyMLP(**kwargs, dropout=0.5, seed=22, dtype=np.float64)
    plain = NumpyMLP(**kwargs, dropout=0.0, seed=0, dtype=np.float64)
    plain.load_state_dict(model.state_dict())
    x = np.random.default_rng(23).standard_normal((3, 20))
    eval_logits = model.forward(x)
    np.testing.assert_array_equal(model.forward(x), eval_logits)  # train=False: no randomness
    np.testing.assert_array_equal(plain.forward(x, train=True), eval_logits)  # no dropout: same
    # train=True: random, but the network is affine in each layer and the masks independent, so
    # the mean over many masks is the evaluation output (inverted dropout needs no rescaling).
    many = model.forward(np.repeat(x, 20000, axis=0), train=True).reshape(3, 20000, -1)
    assert not np.allclose(many[:, 0], many[:, 1])
    spread = many.std(axis=1) / math.sqrt(20000)
    assert np.all(np.abs(many.mean(axis=1) - eval_logits) < 5 * spread + 1e-9)
    # The hidden activations themselves: about half are zero, the rest doubled.
    hidden = model.params["hidden.0.weight"]
    g = 0.3 + 0.9 * (x @ hidden.T)
    model.forward(x, train=True)
    a1 = model._cache["layers"][1][0]  # input of the second hidden layer = dropped-out G of the first
    assert np.all(np.isclose(a1, 0.0) | np.isclose(a1, 2.0 * g))


def test_he_lecun_xavier_initialisation_statistics():
    relu = NumpyMLP(hidden=(800, 800), activation="relu", seed=24)
    for key, fan_in in (("hidden.0.weight", 784), ("hidden.1.weight", 800)):
        w = relu.params[key]
        assert w.mean() == pytest.approx(0.0, abs=0.002)
        assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.01)
    assert relu.params["out.weight"].std() == pytest.approx(1 / math.sqrt(800), rel=0.05)  # linear gain, as torch
    assert all(not relu.params[k].any() for k in relu.params if k.endswith(".bias"))
    # The torch MLP draws with the same spread.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(hidden=(800, 800), activation="relu")
    assert net.hidden[0].weight.std().item() == pytest.approx(relu.params["hidden.0.weight"].std(), rel=0.02)

    lecun = NumpyMLP(hidden=(800, 800), activation="learnable", seed=25)  # default for learnable
    assert lecun.params["hidden.0.weight"].std() == pytest.approx(1 / math.sqrt(784), rel=0.01)
    assert lecun.params["hidden.1.weight"].std() == pytest.approx(1 / math.sqrt(800), rel=0.01)
    xavier = NumpyMLP(hidden=(800, 800), activation="relu", init="xavier", seed=26)
    assert xavier.params["hidden.0.weight"].std() == pytest.approx(math.sqrt(2 / (784 + 800)), rel=0.01)
    assert xavier.params["out.weight"].std() == pytest.approx(math.sqrt(2 / (800 + 10)), rel=0.05)
    assert NumpyMLP(hidden=(800,), activation="relu", init="lecun").params["hidden.0.weight"].std() == pytest.approx(
        1 / math.sqrt(784), rel=0.01
    )

    # Seeded: the same seed gives the same weights, another seed others.
    assert np.array_equal(NumpyMLP(seed=5).params["hidden.0.weight"], NumpyMLP(seed=5).params["hidden.0.weight"])
    assert not np.array_equal(NumpyMLP(seed=5).params["hidden.0.weight"], NumpyMLP(seed=6).params["hidden.0.weight"])
