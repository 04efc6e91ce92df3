"""The learnable activation, the MLP, k sampling and checkpoints."""

from __future__ import annotations

import torch

from conftest import init_section, mlp_model
from mnistflow.models import build_model, describe, mlp_spec
from mnistflow.models.activation import LearnableAffine, affine, sample_k
from mnistflow import checkpoint
from mnistflow.tasks import MULTICLASS


def test_affine_gradients_match_gradcheck_and_closed_form():
    torch.manual_seed(0)
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    k0 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    k1 = torch.tensor(-1.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(affine, (x, k0, k1), eps=1e-6, atol=1e-8)
    assert torch.autograd.gradgradcheck(affine, (x, k0, k1))
    upstream = torch.randn(5, 7, dtype=torch.float64)
    gx, g0, g1 = torch.autograd.grad(affine(x, k0, k1), (x, k0, k1), upstream)
    # dL/dx = k1 * dL/dg,  dL/dk0 = sum dL/dg,  dL/dk1 = sum dL/dg * x
    torch.testing.assert_close(gx, k1.detach() * upstream)
    torch.testing.assert_close(g0, upstream.sum())
    torch.testing.assert_close(g1, (upstream * x.detach()).sum())


def test_learnable_affine_module_computes_k0_plus_k1_x():
    act = LearnableAffine(k0=0.5, k1=2.0)
    assert torch.equal(act(torch.tensor([-1.0, 0.0, 3.0])), torch.tensor([-1.5, 0.5, 6.5]))
    assert {name for name, _ in act.named_parameters()} == {"k0", "k1"}


def test_sample_k_constant_normal_uniform():
    g = torch.Generator().manual_seed(0)
    assert sample_k(init_section(k0=0.2, k1=0.5), g) == (0.2, 0.5)
    draws = torch.tensor(
        [sample_k(init_section(k0=1.0, k1=-2.0, sampling="uniform", spread=0.25), g) for _ in range(2000)]
    )
    assert draws[:, 0].min() >= 0.75 and draws[:, 0].max() <= 1.25
    assert draws[:, 1].min() >= -2.25 and draws[:, 1].max() <= -1.75
    normal = torch.tensor(
        [sample_k(init_section(k0=0.0, k1=1.0, sampling="normal", spread=0.1), g) for _ in range(4000)]
    )
    assert abs(normal[:, 1].mean().item() - 1.0) < 0.01
    assert abs(normal[:, 1].std().item() - 0.1) < 0.01
    # Same seed, same draw: the spec records the sampled values, so a rebuild starts identically.
    spec_a = mlp_spec(mlp_model(), init_section(sampling="normal", spread=0.3), seed=7)
    spec_b = mlp_spec(mlp_model(), init_section(sampling="normal", spread=0.3), seed=7)
    assert spec_a == spec_b and spec_a[1]["k_init"] != [[0.0, 1.0]]


def test_mlp_shapes_k_sharing_and_relu_variant():
    arch, kwargs = mlp_spec(mlp_model(hidden=(32, 16), share_k="layer"), init_section(k0=0.1, k1=0.9), seed=0)
    model = build_model(arch, kwargs)
    assert model(torch.rand(4, 28, 28)).shape == (4, 10)
    assert len(model.acts) == 2
    scalars = model.scalars()
    assert set(scalars) == {"k0", "k1", "k0_l1", "k1_l1", "k0_l2", "k1_l2"}
    assert abs(scalars["k1"] - 0.9) < 1e-6
    shared = build_model(*mlp_spec(mlp_model(hidden=(32, 16)), init_section(), seed=0))
    assert len(shared.acts) == 1 and set(shared.scalars()) == {"k0", "k1"}
    relu = build_model(*mlp_spec(mlp_model(activation="relu", hidden=(64,)), init_section(), seed=0))
    assert relu.scalars() == {} and isinstance(relu.acts[0], torch.nn.ReLU)
    # He initialisation: weight variance ~ 2 / fan_in.
    assert abs(relu.hidden[0].weight.var().item() * 784 / 2 - 1) < 0.05
    assert describe("mlp", {"hidden": [64], "activation": "relu"}) == "MLP 64, ReLU"


def test_k0_k1_receive_gradients_through_the_network():
    model = build_model(*mlp_spec(mlp_model(hidden=(8,)), init_section(), seed=0))
    loss = torch.nn.functional.cross_entropy(model(torch.rand(6, 28, 28)), torch.arange(6))
    loss.backward()
    assert model.acts[0].k0.grad is not None and model.acts[0].k0.grad.abs() > 0
    assert model.acts[0].k1.grad is not None and model.acts[0].k1.grad.abs() > 0


def test_checkpoint_round_trip_rebuilds_identical_model(tmp_path):
    arch, kwargs = mlp_spec(mlp_model(hidden=(16,)), init_section(k0=0.2, k1=0.4), seed=3)
    model = build_model(arch, kwargs)
    with torch.no_grad():
        model.acts[0].k1.fill_(0.77)
    path = tmp_path / "m.pt"
    checkpoint.save(path, model, arch, kwargs, MULTICLASS, {"model": "ann"})
    rebuilt, task, payload = checkpoint.load(path)
    assert task == MULTICLASS
    assert payload["model"] == "ann" and payload["kwargs"] == kwargs
    x = torch.rand(5, 28, 28)
    torch.testing.assert_close(rebuilt(x), model.eval()(x), rtol=0, atol=0)
    assert rebuilt.acts[0].k1.item() == model.acts[0].k1.item() == torch.tensor(0.77).item() and not list(
        tmp_path.glob(".*tmp*")
    )


# --- the architecture registry (config.ARCHITECTURES): every network in it, each entry working ---


def _networks() -> list[type]:
    """Every network class the models package defines: an nn.Module subclass whose module is
    one of mnistflow.models' and that is not an activation or a base class of another."""
    import importlib
    import inspect
    import pkgutil

    import mnistflow.models as package

    classes = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"mnistflow.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, torch.nn.Module):
                classes.append(cls)
    bases = {base for cls in classes for base in cls.__mro__[1:]}
    return [cls for cls in classes if cls not in bases and not cls.__module__.endswith(".activation")]


def test_every_network_class_has_an_entry_in_the_architecture_registry():
    from mnistflow.config import ARCHITECTURES

    registered = {entry.network for entry in ARCHITECTURES.values()}
    for cls in _networks():
        reference = f"{cls.__module__}:{cls.__name__}"
        assert reference in registered, (
            f"{reference} is a network without an entry in config.ARCHITECTURES; add one: "
            f'"<arch>": Architecture("<title>", <its params section type>, "{reference}")'
        )


def test_each_architecture_builds_from_its_section_and_is_described_by_its_title():
    """Every entry's network, built from a params.yaml section of its section type with
    ``model.arch`` set to its name, maps a batch of digits to logits."""
    import dataclasses

    import yaml

    from conftest import ROOT
    from mnistflow.config import ARCHITECTURES, model_section_type, parse_params
    from mnistflow.models import model_spec

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for arch, entry in ARCHITECTURES.items():
        assert dataclasses.is_dataclass(entry.section) and entry.title, f"ARCHITECTURES[{arch!r}]: {entry}"
        template = next(
            (
                name
                for name, section in raw.items()
                if isinstance(section, dict)
                and "model" in section
                and "positive" not in section
                and model_section_type(section) is entry.section
            ),
            None,
        )
        assert template, f"params.yaml has no section of {entry.section.__name__} to build {arch!r} from"
        section = {**raw[template], "model": {**raw[template]["model"], "arch": arch}}
        params = parse_params({**raw, template: section})
        spec = model_spec(template, params)
        model = build_model(spec.arch, spec.kwargs)
        assert model(torch.zeros(2, 28, 28)).shape == (2, 10), arch
        assert describe(spec.arch, spec.kwargs).startswith(f"{entry.title} "), arch
