"""The convolutional models, the binary task, augmentation and the speed options."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import cnn_model, init_section, prepare_section, synthetic_digits, training
from mnistflow.activations import FAMILIES
from mnistflow.config import AugmentSettings
from mnistflow.data.augment import draw_params, make_augmenter
from mnistflow.data.prepare import prepare, relabel
from mnistflow.inference import predict_logits
from mnistflow.models import build_model, cnn_spec, describe, model_spec
from mnistflow.models.cnn import DeepCNN, LeNet5
from mnistflow.tasks import square_task
from mnistflow.training import fit, seed_everything

SQUARE = square_task((0, 1, 4, 9))


def augment_settings(degrees=0.0, translate=0.0, scale=0.0):
    return AugmentSettings(degrees=degrees, translate=translate, scale=scale, elastic_alpha=0.0, elastic_sigma=4.0)


@pytest.mark.parametrize("n_outputs", [10, 1])
@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 1, 28, 28)])
def test_forward_shapes(n_outputs, shape):
    lenet = dict(channels=(6, 16), dense=(120, 84), dropout=0.0, dense_dropout=0.0)
    deep = dict(dense=(256, 128), dropout=0.25, dense_dropout=0.5)
    for model in (
        LeNet5(**lenet, n_outputs=n_outputs),
        DeepCNN(channels=(32, 48), **deep, n_outputs=n_outputs),
        DeepCNN(channels=(8, 8, 8), **deep, n_outputs=n_outputs),
    ):
        assert model.eval()(torch.rand(*shape)).shape == (5, n_outputs)


def test_lenet5_has_lenet5s_layers_and_parameter_count():
    model = LeNet5(channels=(6, 16), dense=(120, 84), dropout=0.0, dense_dropout=0.0, n_outputs=10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 6, (5, 5), (2, 2)),
        (6, 16, (5, 5), (0, 0)),
    ]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(layer.in_features, layer.out_features) for layer in linears] == [(16 * 5 * 5, 120), (120, 84), (84, 10)]
    # 156 + 2416 (convolutions) + 48120 + 10164 + 850 (dense) = 61706, LeNet-5's classic count.
    assert sum(p.numel() for p in model.parameters()) == 61706


def test_deepcnn_block_order_and_head():
    model = DeepCNN(channels=(32, 64), dense=(256, 128), dropout=0.25, dense_dropout=0.5, n_outputs=10)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d", "Dropout"] * 2
    head = [type(m).__name__ for m in model.head]
    assert head == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.head[1].in_features == 64 * 7 * 7  # computed from a dummy pass, not typed in


def test_cnn_spec_builds_what_params_describe():
    arch, kwargs = cnn_spec(
        cnn_model(arch="deepcnn", channels=(16, 32), dense=(64, 32), dropout=0.1, dense_dropout=0.2), n_outputs=1
    )
    model = build_model(arch, kwargs)
    assert isinstance(model, DeepCNN) and model(torch.rand(2, 28, 28)).shape == (2, 1)
    assert describe(arch, kwargs) == "deep CNN 16-32 / dense 64-32, binary"


def test_square_labels():
    digits = np.arange(10)
    assert SQUARE.labels(digits).tolist() == [1, 1, 0, 0, 1, 0, 0, 0, 0, 1]
    x, y = synthetic_digits(300, seed=3)
    splits = prepare(x, y, x[:50], y[:50], prepare_section())
    binary = relabel(splits, SQUARE)
    for name in ("train", "val", "test"):
        assert np.array_equal(binary[name].x, splits[name].x)
        assert np.array_equal(binary[name].y, np.isin(splits[name].y, [0, 1, 4, 9]).astype(np.int64))
    assert binary.info["positive"] == [0, 1, 4, 9]


def test_augmenter_is_per_image_seeded_and_off_by_default():
    assert make_augmenter(augment_settings()) is None
    augment = make_augmenter(augment_settings(degrees=15, translate=0.1, scale=0.1))
    x = torch.zeros(4, 28, 28)
    x[:, 10:18, 12:16] = 1.0
    x = x.clone()
    torch.manual_seed(0)
    a = augment(x)
    torch.manual_seed(0)
    b = augment(x)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a[0], a[1]), "each image gets its own transform"
    assert not torch.equal(a, x)
    assert abs(a.sum().item() - x.sum().item()) / x.sum().item() < 0.35  # moved, not destroyed
    assert augment(x.unsqueeze(1)).shape == (4, 1, 28, 28)


@pytest.mark.parametrize("fill", [0.0, -0.42])
def test_batched_augmentation_equals_torchvisions_affine_image_by_image(fill):
    from torchvision.transforms import v2

    cfg = augment_settings(degrees=12, translate=0.12, scale=0.15)
    x = torch.rand(16, 28, 28) + fill
    torch.manual_seed(3)
    batched = make_augmenter(cfg, fill=fill)(x)
    torch.manual_seed(3)  # the same draws
    p = draw_params(cfg, 16, 28, 28)
    assert p.tx.abs().max() <= round(0.12 * 28) and torch.equal(p.tx, p.tx.round())  # whole pixels, as v2 shifts
    assert p.angle.abs().max() <= 12 and p.scale.min() >= 0.85 and p.scale.max() <= 1.15
    assert len(set(p.angle.tolist())) == 16  # each image its own transform
    per_image = torch.stack(
        [
            v2.functional.affine(
                image.unsqueeze(0),
                angle=float(p.angle[i]),
                translate=[int(p.tx[i]), int(p.ty[i])],
                scale=float(p.scale[i]),
                shear=[0.0, 0.0],
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=fill,
            )
            for i, image in enumerate(x)
        ]
    ).squeeze(1)
    torch.testing.assert_close(batched, per_image, rtol=0, atol=1e-5)


def test_augmentation_draws_follow_the_params_ranges():
    torch.manual_seed(0)
    p = draw_params(augment_settings(degrees=10, translate=0.1, scale=0.1), 20000, 28, 28)
    assert -10 <= p.angle.min() < -9.9 and 9.9 < p.angle.max() <= 10 and abs(p.angle.mean().item()) < 0.1
    assert set(p.tx.unique().tolist()) == {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0}  # round(U(-2.8, 2.8))
    assert 0.9 <= p.scale.min() < 0.901 and 1.099 < p.scale.max() <= 1.1
    off = draw_params(augment_settings(degrees=10), 100, 28, 28)
    assert torch.equal(off.tx, torch.zeros(100)) and torch.equal(off.scale, torch.ones(100, dtype=torch.float64))


@pytest.fixture(scope="module")
def splits():
    train_x, train_y = synthetic_digits(800, seed=0)
    test_x, test_y = synthetic_digits(200, seed=1)
    return prepare(train_x, train_y, test_x, test_y, prepare_section(val_fraction=0.25))


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_binary_task_trains_a_cnn(splits):
    seed_everything(0)
    model = LeNet5(channels=(4, 8), dense=(16,), dropout=0.0, dense_dropout=0.0, n_outputs=1)
    cfg = training(epochs=3, batch_size=32, lr=0.01, device="cpu")
    history = fit(model, relabel(splits, SQUARE), cfg, SQUARE)
    assert history.last["test_acc"] > 0.9
    assert history.last["test_loss"] < history.epochs[0]["test_loss"] / 2
    p = SQUARE.proba(predict_logits(model, torch.from_numpy(splits.test.x)))
    assert p.shape == (200,) and float(p.min()) >= 0 and float(p.max()) <= 1


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_augmentation_bf16_and_channels_last_train_too(splits):
    seed_everything(0)
    model = DeepCNN(channels=(4, 8), dense=(32, 16), dropout=0.1, dense_dropout=0.1, n_outputs=10)
    cfg = training(
        epochs=2,
        batch_size=32,
        lr=0.005,
        device="cpu",
        amp="bf16",
        channels_last=True,
        train_eval_size=100,
        augment=augment_settings(degrees=5, translate=0.05),
        warmup_epochs=0.5,
        schedule="cosine",
        label_smoothing=0.1,
    )
    history = fit(model, splits, cfg)
    assert history.last["test_acc"] > 0.8
    assert history.epochs[1]["lr"] < cfg.lr  # cosine decay, recorded per epoch
    # Determinism holds with augmentation and bf16: same seed, same numbers.
    seed_everything(0)
    again = fit(DeepCNN(channels=(4, 8), dense=(32, 16), dropout=0.1, dense_dropout=0.1, n_outputs=10), splits, cfg)
    assert again.epochs == history.epochs


def test_deepcnn_strided_downsampling_and_batchnorm_after_every_convolution():
    import yaml

    from mnistflow.config import parse_params

    _, kwargs = cnn_spec(
        cnn_model(arch="deepcnn", channels=(4, 8), dense=(16,), downsample="strided", batchnorm="every")
    )
    model = build_model("deepcnn", kwargs)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert [c.stride for c in convs] == [(1, 1), (1, 1), (2, 2)] * 2 and len(norms) == len(convs) == 6
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.features)
    assert model(torch.rand(3, 28, 28)).shape == (3, 10)
    # lenet5 has no such options: a value other than the neutral one is refused, naming the key.
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["lenet5"]["model"]["batchnorm"] = "every"
    with pytest.raises(ValueError, match=r"lenet5\.model\.batchnorm: is 'every', but only arch deepcnn reads it"):
        parse_params(raw)


# --- the activation (model.activation): ReLU, or a learned family of activations.FAMILIES -----

LEARNED = [name for name, g in FAMILIES.items() if g.learned]
# Each family at keys it reads (degree 3, denominator 2, span 4), the others neutral.
FAMILY_VALUES = {"degree": 3, "denominator": 2, "span": 4.0}
SMALL = {
    "lenet5": dict(channels=(4, 8), dense=(16, 12)),
    "deepcnn": dict(channels=(4, 8), dense=(16, 12), downsample="strided", batchnorm="every", dropout=0.1),
}


def family_model(arch: str, activation: str, **overrides):
    keys = {key: value for key, value in FAMILY_VALUES.items() if key in FAMILIES[activation].reads}
    return cnn_model(arch=arch, activation=activation, **SMALL[arch], **keys, **overrides)


def state_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("arch", ["lenet5", "deepcnn"])
@pytest.mark.parametrize("activation", LEARNED)
def test_every_learned_family_builds_each_cnn_and_trains_through_it(arch, activation):
    arch_name, kwargs = cnn_spec(family_model(arch, activation), init=init_section(), seed=0)
    model = build_model(arch_name, kwargs)
    acts = model.learned_activations()
    # One set per activation, none left as ReLU: every convolution and hidden dense layer.
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert len(acts) == len(kwargs["k_init"]) == n_convs + len(SMALL[arch]["dense"])
    model(torch.rand(2, 1, 28, 28)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for a in acts for p in a.parameters())
    row = model.scalars()
    assert "k0" in row and f"k0_l{len(acts)}" in row and f"k0_l{len(acts) + 1}" not in row


@pytest.mark.parametrize("activation", ["polynomial", "rational"])
def test_a_curved_family_trains_under_bf16_autocast_and_channels_last(activation):
    model = build_model(*cnn_spec(family_model("deepcnn", activation), init=init_section(), seed=0))
    model = model.to(memory_format=torch.channels_last)
    x = torch.rand(2, 1, 28, 28).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    out.float().sum().backward()
    # The coefficients stay float32 and so does g's arithmetic (a float32 k promotes bf16 x).
    for act in model.learned_activations():
        assert act.k.dtype == torch.float32 and torch.isfinite(act.k.grad).all()
    assert torch.isfinite(out.float()).all()
    # A bf16 input is computed in float32: the same numbers as the float32 input gives.
    act, z = model.learned_activations()[0], torch.randn(2, 4, 6, 6).bfloat16()
    assert act(z).dtype == torch.float32 and torch.equal(act(z), act(z.float()))


def test_a_learned_family_starts_from_init_as_anns_does():
    """The sets come from the same draw as an MLP's (``models.activation_kwargs``): k0, k1 from
    ``init``, every further coefficient 0, one set per layer."""
    _, kwargs = cnn_spec(family_model("lenet5", "rational"), init=init_section(k0=0.1, k1=0.9), seed=0)
    assert kwargs["activation"] == "rational" and kwargs["span"] == 4.0
    assert kwargs["k_init"] == [[0.1, 0.9, 0.0, 0.0]] * 4 and kwargs["b_init"] == [[0.0, 0.0]] * 4
    model = build_model("lenet5", kwargs)
    assert describe("lenet5", kwargs) == "LeNet-5 4-8 / dense 16-12, rational g of degrees 3/2"
    probe = model.preactivation_range(torch.rand(6, 28, 28), 0.005, 0.995)
    assert probe["span"] == 4.0 and sorted(probe)[-1] == "x_lo_l4"
    with pytest.raises(ValueError, match="pass init"):
        cnn_spec(family_model("lenet5", "polynomial"))
    for sets in (3, 5):  # one set per activation, no more, no fewer
        with pytest.raises(ValueError, match=r"k_init has \d sets .* build the kwargs with models\.cnn_spec"):
            build_model(
                "lenet5", {**kwargs, "k_init": kwargs["k_init"][:1] * sets, "b_init": kwargs["b_init"][:1] * sets}
            )


# Built from ff56d67's cnn.py (before model.activation) with torch.manual_seed(0): the state
# dict's bytes and the next random number, so the weights and the random stream after building
# are the same (this torch's CPU generator).
BEFORE_ACTIVATION = {
    "lenet5": ("a0d541f35bb4d5c62521ac11501b315a3e32e877fb1751f987f10f982353a6b5", 0.4166261553764343),
    "deepcnn": ("0522fa9b314f22cfd70d8ec0245453e3d720e303643ad636d5392095eb90a8fe", 0.23520225286483765),
}
BEFORE_KWARGS = {
    "lenet5": dict(channels=(6, 16), dense=(120, 84), dropout=0.0, dense_dropout=0.0),
    "deepcnn": dict(
        channels=(8, 16), dense=(32, 16), dropout=0.1, dense_dropout=0.5, downsample="strided", batchnorm="every"
    ),
}


@pytest.mark.parametrize("arch", ["lenet5", "deepcnn"])
def test_relu_builds_the_network_and_weights_of_before(arch):
    arch_name, kwargs = cnn_spec(cnn_model(arch=arch, **BEFORE_KWARGS[arch]), init=init_section(), seed=0)
    assert "activation" not in kwargs and "k_init" not in kwargs  # checkpoints' kwargs as before
    torch.manual_seed(0)
    model = build_model(arch_name, kwargs)
    assert (state_digest(model), torch.rand(1).item()) == BEFORE_ACTIVATION[arch]
    assert model.scalars() == {} and model.learned_activations() == []
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)


def test_cnn_activation_keys_are_checked_like_anns():
    import yaml

    from mnistflow.config import parse_params

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["deepcnn"]["model"]["degree"] = 3
    with pytest.raises(
        ValueError,
        match=r"deepcnn\.model\.degree: is 3, but only activation polynomial or rational reads it; set it to 1 "
        r"\(or activation: polynomial\)",
    ):
        parse_params(raw)
    raw["deepcnn"]["model"].update(activation="gelu", degree=1)
    with pytest.raises(ValueError, match=r"deepcnn\.model\.activation: must be one of 'learnable', .*got 'gelu'"):
        parse_params(raw)
    raw["deepcnn"]["model"].update(activation="polynomial", degree=3, span=4.0)
    spec = model_spec("deepcnn", parse_params(raw))
    assert spec.params["init.k1"] == 1.0 and spec.params["deepcnn.model.activation"] == "polynomial"


def test_a_learned_cnns_history_rows_draw_its_coefficients_and_g():
    """The rows ``fit`` records for a CNN (``scalars`` and the probe) are the ones the plot
    stage and the report read for ann: the per-layer coefficients, g over each layer's inputs."""
    from mnistflow.plotting import activation_shapes, k_per_epoch

    g = FAMILIES["polynomial"]
    model = build_model(*cnn_spec(family_model("lenet5", "polynomial"), init=init_section(), seed=0))
    rows = []
    for epoch in (0, 1):
        rows.append(
            {"epoch": epoch, **model.scalars(), **model.preactivation_range(torch.rand(6, 28, 28), 0.005, 0.995)}
        )
        with torch.no_grad():
            model.learned_activations()[0].k[2] += 0.5  # layer 1 bends, the others stay
    assert rows[1]["k2_l1"] == 0.5 and rows[1]["k2_l2"] == 0.0 and rows[1]["k2"] == 0.125
    assert g.formula(rows[1]).startswith("g(x) = 0.0000 + 1.0000·x + 0.1250·x²")
    for figure in (k_per_epoch(rows, "lenet5"), activation_shapes(rows, "lenet5", g)):
        assert figure.axes
