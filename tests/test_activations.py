"""The learnable activation families (polynomial, rational): values, gradients, config, export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import init_section, mlp_model, served_answer
from mnistflow.activations import FAMILIES
from mnistflow.config import ConfigError, parse_params
from mnistflow.models import build_model, describe, mlp_spec
from mnistflow.models.activation import LearnablePolynomial, LearnableRational, polynomial, rational, with_tangents

FLOAT64 = dict(dtype=torch.float64, requires_grad=True)


def test_polynomial_and_its_slope_by_horner():
    k = torch.tensor([1.0, 2.0, 3.0])  # 1 + 2x + 3x^2, slope 2 + 6x
    value, slope = polynomial(torch.tensor([-1.0, 0.0, 2.0]), k)
    assert value.tolist() == [2.0, 1.0, 17.0]
    assert slope.tolist() == [-4.0, 2.0, 14.0]


def test_tangent_beyond_span_keeps_value_and_slope_continuous():
    square = LearnablePolynomial([0.0, 0.0, 1.0], span=1.0)  # x^2 on [-1, 1]
    out = square(torch.tensor([-3.0, -1.0, 0.5, 1.0, 3.0]))
    # beyond 1: 1 + 2 (x - 1); beyond -1: 1 - 2 (x + 1)
    assert out.tolist() == [5.0, 1.0, 0.25, 1.0, 5.0]
    assert LearnablePolynomial([0.0, 0.0, 1.0], span=0.0)(torch.tensor([3.0])).item() == 9.0


def test_every_family_starts_as_the_seeds_affine_g():
    x = torch.linspace(-6, 6, 13)
    expected = 0.25 + 1.5 * x
    for act in (
        LearnablePolynomial([0.25, 1.5, 0.0, 0.0], span=4.0),
        LearnableRational([0.25, 1.5, 0.0], [0.0, 0.0], span=4.0),
    ):
        torch.testing.assert_close(act(x), expected)


def test_rational_denominator_is_bounded_away_from_zero_and_b_learns_from_zero():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    for b in ([-40.0, 0.0], [3.0, -7.0], [0.0, -50.0]):
        s, _ = polynomial(x, torch.tensor([0.0, *b], dtype=torch.float64))
        q = 1 + torch.nn.functional.softplus(s) - math.log(2)
        assert q.min().item() >= 1 - math.log(2) - 1e-12
    act = LearnableRational([0.0, 1.0, 0.0], [0.0, 0.0], span=0.0)
    act(torch.tensor([0.5, 1.0, 2.0])).sum().backward()
    # At b = 0: dg/db_j = -P(x) x^j / 2, so sum over x = 0.5, 1, 2 of -x^(j+1)/2.
    torch.testing.assert_close(act.b.grad, torch.tensor([-(0.25 + 1 + 4) / 2, -(0.125 + 1 + 8) / 2]))


def test_polynomial_gradients_match_finite_differences():
    x = torch.tensor([[-3.5, -1.2, -0.1], [0.0, 0.7, 2.9]], **FLOAT64)  # both sides of span 2
    k = torch.tensor([0.1, 0.9, -0.3, 0.05], **FLOAT64)
    for span in (0.0, 2.0):
        assert torch.autograd.gradcheck(
            lambda x, k: with_tangents(lambda t: polynomial(t, k), x, span), (x, k), eps=1e-6, atol=1e-8
        )


def test_rational_gradients_match_finite_differences_at_zero_and_near_its_would_be_poles():
    x = torch.tensor([[-3.5, -1.2, -0.1], [0.05, 0.7, 2.9]], **FLOAT64)
    k = torch.tensor([0.1, 0.9, -0.3, 0.05], **FLOAT64)
    # b = 0 (the start); then s(x) = -30 x: Q is at its floor 1 - log 2 for x > 0 and steep near 0,
    # where a denominator free to cross zero would have its pole.
    for b_values, span in (([0.0, 0.0], 0.0), ([0.5, -0.8], 2.0), ([-30.0, 0.0], 0.0)):
        b = torch.tensor(b_values, **FLOAT64)

        def g(x, k, b, span=span):
            return with_tangents(lambda t: rational(t, k, b), x, span)

        assert torch.autograd.gradcheck(g, (x, k, b), eps=1e-6, atol=1e-7)
    s = -30.0 * x.detach()
    assert (1 + torch.nn.functional.softplus(s) - math.log(2))[1].min().item() == pytest.approx(
        1 - math.log(2), abs=1e-12
    )


def test_mlp_spec_starts_new_coefficients_at_zero_or_draws_them_like_init():
    _, kwargs = mlp_spec(
        mlp_model(activation="rational", degree=3, denominator=2, span=4.0), init_section(k0=0.1, k1=0.9), seed=0
    )
    assert kwargs["k_init"] == [[0.1, 0.9, 0.0, 0.0]] and kwargs["b_init"] == [[0.0, 0.0]] and kwargs["span"] == 4.0
    _, kwargs = mlp_spec(
        mlp_model(activation="polynomial", degree=3, share_k="layer", span=4.0),
        init_section(sampling="uniform", spread=0.1),
        seed=0,
    )
    assert len(kwargs["k_init"]) == 2 and "b_init" not in kwargs
    for k in kwargs["k_init"]:
        assert np.all(np.abs(np.array(k) - [0.0, 1.0, 0.0, 0.0]) <= 0.1) and len(set(k)) == 4
    model = build_model("mlp", kwargs)
    assert set(model.scalars()) == {f"k{j}{suffix}" for j in range(4) for suffix in ("", "_l1", "_l2")}
    assert describe("mlp", kwargs) == "MLP 256-128, polynomial g of degree 3"


def test_rational_mlp_reports_coefficients_and_preactivation_ranges():
    torch.manual_seed(0)
    _, kwargs = mlp_spec(
        mlp_model(activation="rational", hidden=(16, 8), degree=2, denominator=1, span=3.0), init_section(), seed=0
    )
    model = build_model("mlp", kwargs)
    assert model.scalars() == {"k0": 0.0, "k1": 1.0, "k2": 0.0, "b1": 0.0}
    x = torch.rand(200, 28, 28)
    ranges = model.preactivation_range(x, 0.005, 0.995)
    z = model.hidden[0](x.flatten(1)).detach().flatten().double()
    assert ranges["x_lo_l1"] == pytest.approx(torch.quantile(z, 0.005).item())
    assert ranges["x_hi_l1"] == pytest.approx(torch.quantile(z, 0.995).item())
    assert (
        set(ranges) == {"span", "x_lo_l1", "x_hi_l1", "x_lo_l2", "x_hi_l2"} and ranges["span"] == 3.0 and model.training
    )


def _params(**model):
    import yaml

    raw = yaml.safe_load(open("params.yaml", encoding="utf-8"))
    raw["ann"]["model"].update(model)
    return raw


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"degree": 3}, "ann.model.degree: is 3, but only activation polynomial or rational reads it; set it to 1"),
        (
            {"activation": "polynomial", "denominator": 2, "span": 4.0},
            "ann.model.denominator: is 2, but only activation rational reads it; set it to 0",
        ),
        (
            {"activation": "relu", "span": 4.0},
            "ann.model.span: is 4.0, but only activation polynomial or rational reads it",
        ),
        (
            {"activation": "rational", "degree": 3, "span": 4.0},
            "ann.model.denominator: must be 1 to 8 for a rational activation",
        ),
        ({"activation": "polynomial", "degree": 12}, "ann.model.degree: must be 1 to 8, got 12"),
        ({"activation": "polynomial", "span": -1.0}, "ann.model.span: must be >= 0"),
    ],
)
def test_family_keys_are_checked_and_rejected_where_they_do_not_apply(model, message):
    with pytest.raises(ConfigError, match="^params: " + message.replace(".", r"\.").replace("(", r"\(")):
        parse_params(_params(**model))


def test_numpy_backend_refuses_the_new_families_in_one_line():
    raw = _params(activation="rational", degree=2, denominator=1)
    raw["ann"]["train"]["backend"] = "numpy"
    with pytest.raises(ConfigError) as info:
        parse_params(raw)
    assert str(info.value).startswith(
        "params: ann.train.backend: is numpy, whose from-scratch engine has only activation learnable and relu, not "
        "activation rational; set backend: torch."
    )
    assert "\n" not in str(info.value)
    assert parse_params(_params(activation="polynomial", degree=3, span=4.0)).models["ann"].model.degree == 3


@pytest.mark.parametrize(
    "model",
    [
        dict(),
        dict(activation="polynomial", degree=3, span=4.0),
        dict(activation="rational", degree=3, denominator=2, span=4.0),
    ],
)
def test_each_family_exports_to_pt2_and_serves_through_mlflow(model, tmp_path):
    from mnistflow.tracking.models import served_module

    torch.manual_seed(0)
    _, kwargs = mlp_spec(mlp_model(hidden=(16, 8), **model), init_section(sampling="normal", spread=0.3), seed=0)
    net = build_model("mlp", kwargs).eval()
    pixels = torch.rand(4, 28, 28)
    with torch.no_grad():
        expected = served_module(net).eval()(pixels).numpy()
    answer = served_answer(net, pixels, tmp_path / "model", expected)
    np.testing.assert_allclose(answer, expected, atol=1e-6)


@pytest.mark.parametrize(
    "model",
    [
        dict(activation="polynomial", degree=3, span=4.0),
        dict(activation="rational", degree=3, denominator=2, span=4.0, share_k="layer"),
    ],
)
def test_predict_reads_each_familys_checkpoint(model, tmp_path):
    from mnistflow import checkpoint, predict
    from mnistflow.tasks import MULTICLASS

    torch.manual_seed(0)
    arch, kwargs = mlp_spec(mlp_model(hidden=(16, 8), **model), init_section(sampling="normal", spread=0.3), seed=0)
    net = build_model(arch, kwargs).eval()
    path = tmp_path / "ann.pt"
    checkpoint.save(path, net, arch, kwargs, MULTICLASS, {"data": {"standardize": False}, "amp": "none"})
    images = torch.rand(5, 28, 28)
    with torch.no_grad():
        expected = torch.softmax(net(images), dim=1).numpy()
    np.testing.assert_allclose(predict.checkpoint_classifier(path).proba(images.numpy()), expected, atol=1e-6)
    loaded, _, _ = checkpoint.load(path)
    assert loaded.scalars() == net.scalars()


def test_history_redraws_the_modules_g():

    act = LearnableRational([0.1, 1.1, 0.4, -0.05], [-0.3, 0.02], span=4.0)
    x = torch.linspace(-7, 7, 57)
    row = {**act.coefficients(), "span": 4.0}
    np.testing.assert_allclose(
        FAMILIES["rational"].values(row, x.numpy().astype(np.float64)),
        act(x).detach().numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    poly = LearnablePolynomial([0.0, 1.2, 0.5, -0.04], span=4.0)
    np.testing.assert_allclose(
        FAMILIES["polynomial"].values({**poly.coefficients(), "span": 4.0}, x.numpy().astype(np.float64)),
        poly(x).detach().numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_coefficients_are_named_alike_in_mlflow_and_the_report():
    from mnistflow.activations import COEFFICIENT as K_KEY
    from mnistflow.tracking.runs import metric_name

    assert [metric_name(c) for c in ("k0", "k3", "b2", "b1_l2", "x_lo_l1", "span")] == [
        "k/k0",
        "k/k3",
        "k/b2",
        "k/b1_l2",
        "x/x_lo_l1",
        "x/span",
    ]
    assert all(K_KEY.fullmatch(key) for key in ("k0", "k5", "b1", "k2_l1")) and not K_KEY.fullmatch("x_lo_l1")
    assert FAMILIES["learnable"].formula({"k0": 0.1314, "k1": 0.8807}) == "g(x) = 0.1314 + 0.8807·x"
    rational = {"k0": 0.0156, "k1": 1.1636, "k2": 0.4715, "k3": -0.0371, "b1": -0.34, "b2": -0.046}
    assert FAMILIES["rational"].formula(rational) == (
        "g(x) = (0.0156 + 1.1636·x + 0.4715·x² - 0.0371·x³) / (1 + softplus(-0.3400·x - 0.0460·x²) - log 2)"
    )


@pytest.fixture(scope="module")
def splits():
    from conftest import prepare_section, synthetic_digits
    from mnistflow.data.prepare import prepare

    train_x, train_y = synthetic_digits(800, seed=0)
    test_x, test_y = synthetic_digits(200, seed=1)
    return prepare(train_x, train_y, test_x, test_y, prepare_section(val_fraction=0.25))


def _family_net(**model):
    from mnistflow.training import seed_everything

    seed_everything(0)
    return build_model(*mlp_spec(mlp_model(hidden=(32, 16), **model), init_section(), 0))


def test_a_rational_network_learns_and_its_history_holds_coefficients_and_ranges(splits):
    from conftest import training
    from mnistflow.training import fit, format_row

    history = fit(
        _family_net(activation="rational", degree=3, denominator=2, span=4.0),
        splits,
        training(epochs=3, batch_size=50, lr=0.01),
        eval_batch_size=100,
    )
    first, last = history.epochs[0], history.last
    assert last["test_acc"] > 0.9 > first["test_acc"]
    assert [first[k] for k in ("k0", "k1", "k2", "k3", "b1", "b2", "span")] == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 4.0]
    assert last["b1"] != 0.0 and last["k2"] != 0.0  # the new coefficients left 0
    assert first["x_lo_l1"] < 0 < first["x_hi_l1"] and first["x_lo_l2"] < 0 < first["x_hi_l2"]
    assert "k2 " in format_row(last, 3, 1.0) and "b2 " in format_row(last, 3, 1.0)


def test_an_exploding_polynomial_is_stopped_in_one_line(splits):
    from conftest import training
    from mnistflow.training import Diverged, fit

    with pytest.raises(Diverged) as caught:
        fit(
            _family_net(activation="polynomial", degree=5),
            splits,
            training(epochs=2, batch_size=32, optimizer="sgd", lr=1e3),
        )
    assert caught.value.epoch == 1 and set(caught.value.scalars) == {f"k{j}" for j in range(6)}
    assert str(caught.value).startswith(
        f"training diverged at epoch 1 of 2, step {caught.value.step}: loss "
    ) and "\n" not in str(caught.value)


# --- the family registry (activations.FAMILIES): each entry's torch, NumPy and text forms agree ---


def test_every_activation_module_has_an_entry_in_the_family_registry():
    import inspect

    from mnistflow.models import activation

    registered = {family.module for family in FAMILIES.values()}
    for _, cls in inspect.getmembers(activation, inspect.isclass):
        reference = f"{cls.__module__}:{cls.__name__}"
        if cls.__module__ == activation.__name__ and issubclass(cls, torch.nn.Module):
            assert reference in registered, (
                f"{reference} is an activation without an entry in activations.FAMILIES; add one: "
                f'"<name>": Family("<name>", "<title>", "{reference}", reads=(...))'
            )


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_is_one_definition(name):
    """From the entry alone: params.yaml accepts it, the network builds with it, its
    coefficients are named as the registry says, and g in NumPy (plots) and as text (report)
    agree with the torch module on random coefficients."""
    import yaml

    from conftest import ROOT
    from mnistflow.activations import FAMILY_KEYS

    g = FAMILIES[name]
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    keys = {"degree": 3, "denominator": 2, "span": 4.0}
    raw["ann"]["model"].update(
        activation=name, **{key: keys[key] if key in g.reads else neutral for key, neutral in FAMILY_KEYS.items()}
    )
    raw["ann"]["train"]["backend"] = "torch"
    model_cfg = parse_params(raw).models["ann"].model
    arch, kwargs = mlp_spec(model_cfg, parse_params(raw).init, seed=0)
    net = build_model(arch, kwargs)
    assert describe(arch, kwargs) == f"MLP 256-128, {g.describe(kwargs)}"
    names = g.coefficient_names(model_cfg.degree, model_cfg.denominator)
    assert list(net.scalars()) == names, f"FAMILIES[{name!r}]: the module's coefficients are not {names}"
    if not g.learned:
        return
    module = g.module_class()
    coefficients = dict(zip(names, torch.linspace(-0.4, 0.9, len(names)).tolist()))
    k, b = g.coefficients(coefficients)
    act = module.build(k, b, model_cfg.span)
    row = {**act.coefficients(), "span": model_cfg.span}
    x = torch.linspace(-6, 6, 49)
    np.testing.assert_allclose(g.values(row, x.numpy().astype(np.float64)), act(x).detach().numpy(), atol=1e-5)
    text = g.formula(row)
    assert text.startswith("g(x) = ") and all(f"{abs(v):.4f}" in text for v in row.values() if v != row["span"])
