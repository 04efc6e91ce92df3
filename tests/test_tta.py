"""Test-time augmentation (mnistflow.tta): in the CNNs' own forward, so evaluate, predict and MLflow agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cnn_model, init_section, mlp_model, served_answer

from mnistflow import checkpoint
from mnistflow.models import build_model, cnn_spec, mlp_spec
from mnistflow.tasks import MULTICLASS
from mnistflow.tta import SHIFTS, shift, suspended


def net(tta: str, n_outputs: int = 10, arch: str = "lenet5") -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {"channels": (4, 8)} if arch == "deepcnn" else {}
    _, kwargs = cnn_spec(cnn_model(arch=arch, dense=(16,), tta=tta, **extra), n_outputs=n_outputs)
    model = build_model(arch, kwargs)
    with torch.no_grad():  # BatchNorm statistics other than the identity, and confident answers
        model.train()(torch.rand(64, 28, 28))
        model.head[-1].weight.mul_(50.0)
    return model.eval()


def images(n: int = 6) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.zeros(n, 28, 28)
    x[:, 6:22, 8:20] = torch.rand(n, 16, 12)
    return x


def test_shift_moves_the_content_and_fills_with_the_background():
    x = torch.arange(16.0).view(1, 1, 4, 4) + 5
    right = shift(x, 1, 0)
    assert torch.equal(right[..., 1:], x[..., :-1]) and torch.equal(right[..., 0], torch.full((1, 1, 4), 5.0))
    up = shift(x, 0, -1)
    assert torch.equal(up[..., :-1, :], x[..., 1:, :]) and torch.equal(up[..., -1, :], torch.full((1, 1, 4), 5.0))


@pytest.mark.parametrize("arch", ["lenet5", "deepcnn"])
def test_no_shifts_is_plain_inference(arch):
    x = images()
    plain, with_none = net("none", arch=arch), net("none", arch=arch)
    with torch.no_grad():
        expected = plain.head(plain.features(x.unsqueeze(1)))
        assert torch.equal(with_none(x), expected)
        tta = net("plus", arch=arch)
        with suspended(tta):
            assert torch.equal(tta(x), expected)  # suspended: the plain answer
        assert tta.tta == "plus"


@pytest.mark.parametrize("mode", ["plus", "ring"])
def test_the_answer_is_the_mean_probability_over_the_shifted_images(mode):
    x = images()
    model = net(mode)
    with torch.no_grad():
        proba = torch.softmax(model(x), dim=1)
        views = [torch.softmax(model.head(model.features(shift(x.unsqueeze(1), dx, dy))), 1) for dx, dy in SHIFTS[mode]]
    expected = torch.stack(views).mean(0)
    assert len(views) == {"plus": 5, "ring": 9}[mode]
    np.testing.assert_allclose(proba.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(proba, views[0], atol=1e-4)  # and not the plain answer
    model.train()  # training steps see the image alone
    assert model(x).shape == (6, 10)


def test_a_yes_no_model_averages_its_sigmoid():
    x = images()
    model = net("plus", n_outputs=1)
    with torch.no_grad():
        p = torch.sigmoid(model(x)).squeeze(1)
        views = [torch.sigmoid(model.head(model.features(shift(x.unsqueeze(1), dx, dy)))) for dx, dy in SHIFTS["plus"]]
    np.testing.assert_allclose(p.numpy(), torch.stack(views).mean(0).squeeze(1).numpy(), rtol=1e-5, atol=1e-6)


def test_the_mlp_averages_over_the_same_shifts():
    """The fully connected networks take model.tta too; its default (none) adds nothing to the
    spec, so a checkpoint without it keeps its bytes."""
    init = init_section()
    _, plain_kwargs = mlp_spec(mlp_model(activation="relu", hidden=(32,)), init, seed=0)
    assert "tta" not in plain_kwargs
    _, kwargs = mlp_spec(mlp_model(activation="relu", hidden=(32,), tta="ring"), init, seed=0)
    torch.manual_seed(0)
    model = build_model("mlp", kwargs).eval()
    x = images()
    with torch.no_grad():
        proba = torch.softmax(model(x), dim=1)
        flat = torch.softmax(model(x.flatten(1)), dim=1)  # the same picture, flattened
        views = [torch.softmax(model.logits(shift(x, dx, dy)), 1) for dx, dy in SHIFTS["ring"]]
        with suspended(model):
            plain = model(x)
    np.testing.assert_allclose(proba.numpy(), torch.stack(views).mean(0).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(flat.numpy(), proba.numpy(), rtol=1e-6, atol=1e-7)
    assert torch.equal(plain, model.logits(x)) and not torch.allclose(torch.softmax(plain, 1), proba, atol=1e-4)


def test_checkpoint_predict_and_the_mlflow_model_apply_the_same_tta_as_evaluate(tmp_path):
    """The saved answers (evaluate), the checkpoint predict loads and the served MLflow model."""
    from mnistflow.predict import checkpoint_classifier

    x = images()
    model = net("ring", arch="deepcnn")
    with torch.no_grad():
        evaluated = torch.softmax(model(x), 1).numpy()  # what fit's last evaluation saves for evaluate
        plain = torch.softmax(model.head(model.features(x.unsqueeze(1))), 1).numpy()
    assert np.abs(evaluated - plain).max() > 1e-4
    arch, kwargs = cnn_spec(cnn_model(arch="deepcnn", channels=(4, 8), dense=(16,), tta="ring"))
    checkpoint.save(tmp_path / "deepcnn.pt", model, arch, kwargs, MULTICLASS, {"amp": "none", "data": {}})
    predicted = checkpoint_classifier(tmp_path / "deepcnn.pt").proba(x.numpy())
    np.testing.assert_allclose(predicted, evaluated, rtol=1e-5, atol=1e-6)

    answer = served_answer(model, x, tmp_path / "model", evaluated)
    np.testing.assert_allclose(answer, evaluated, rtol=1e-5, atol=1e-6)


def test_fit_saves_the_answers_with_tta():
    """The last evaluation's answers (what evaluate scores) are the model's own, with its TTA."""
    from conftest import training

    from mnistflow.data.prepare import Split, Splits
    from mnistflow.inference import predict_logits
    from mnistflow.training import fit

    x = images(96).numpy()
    y = np.arange(96) % 10
    splits = Splits(*(Split(x, y, np.arange(96)) for _ in range(3)), info={})
    model = net("plus")
    history = fit(model, splits, training(epochs=2, batch_size=32))
    with torch.no_grad():
        with_tta = predict_logits(model, torch.from_numpy(x), 48)
        with suspended(model):
            plain = predict_logits(model, torch.from_numpy(x), 48)
    np.testing.assert_allclose(history.logits["val"].numpy(), with_tta.numpy(), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(with_tta, plain, atol=1e-4)
