"""The perturbed test set (mnistflow.data.perturb) and the evaluate stage's accuracy on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import prepare_section, synthetic_digits
from mnistflow import outputs, paths
from mnistflow.config import ConfigError, PerturbSection, parse_params
from mnistflow.data.perturb import centre_of_mass, draw, move, perturbed_test, restroke
from mnistflow.data.prepare import load_split, prepare, save_splits
from mnistflow.files import read_json
from mnistflow.tasks import MULTICLASS, square_task

ROOT = Path(__file__).resolve().parent.parent


def perturb_section(**overrides) -> PerturbSection:
    return PerturbSection(**{"seed": 0, "degrees": 15.0, "translate": 1.0, "scale": 0.1, "stroke": 1.0, **overrides})


@pytest.fixture(scope="module")
def raw():
    train_x, train_y = synthetic_digits(600, seed=0)
    test_x, test_y = synthetic_digits(200, seed=1)
    return train_x, train_y, test_x, test_y


@pytest.mark.parametrize("standardize", [False, True])
def test_the_perturbed_set_is_deterministic_differs_from_test_and_keeps_labels(raw, standardize):
    splits = prepare(*raw, prepare_section(standardize=standardize))
    first = perturbed_test(raw[2], raw[3], splits.info, perturb_section())
    second = perturbed_test(raw[2], raw[3], splits.info, perturb_section())
    assert first.x.tobytes() == second.x.tobytes()  # same images, same params: same bytes
    assert first.x.dtype == np.float32 and first.x.shape == splits.test.x.shape == (200, 28, 28)
    np.testing.assert_array_equal(first.y, splits.test.y)
    assert first.y.dtype == np.int64
    np.testing.assert_array_equal(first.source_index, np.arange(200))
    # Every image moved, and on the test split's scale: the background is the test's.
    changed = np.abs(first.x - splits.test.x).reshape(200, -1).max(axis=1)
    assert (changed > 0.05).all()
    assert first.x.min() == pytest.approx(float(splits.test.x.min()), abs=1e-6)
    other = perturbed_test(raw[2], raw[3], splits.info, perturb_section(seed=1))
    assert other.x.tobytes() != first.x.tobytes()


def test_nothing_to_draw_leaves_the_test_set_as_it_was(raw):
    splits = prepare(*raw, prepare_section(standardize=True))
    still = perturbed_test(
        raw[2], raw[3], splits.info, perturb_section(degrees=0.0, translate=0.0, scale=0.0, stroke=0.0)
    )
    np.testing.assert_allclose(still.x, splits.test.x, rtol=0, atol=1e-5)


def test_draws_stay_in_their_ranges():
    draws = draw(perturb_section(degrees=15.0, translate=1.0, scale=0.1, stroke=1.0), 5000)
    assert np.abs(np.rad2deg(draws.angle)).max() <= 15.0 and np.abs(np.rad2deg(draws.angle)).max() > 14.9
    assert 0.9 <= draws.scale.min() < 0.901 and 1.099 < draws.scale.max() <= 1.1
    assert draws.shift.shape == (5000, 2) and np.abs(draws.shift).max() <= 1.0
    assert np.abs(draws.stroke).max() <= 1.0 and (draws.stroke > 0).mean() == pytest.approx(0.5, abs=0.03)


def test_move_turns_and_zooms_about_the_centre_of_mass_and_shifts_by_pixels():
    image = np.zeros((28, 28), dtype=np.float32)
    image[10, 14] = 1.0  # one pixel: its own centre of mass
    # Turned about itself, it stays; shifted by (1, -2) it lands one row down, two columns left.
    assert move(image, np.deg2rad(30.0), 1.0, np.zeros(2))[10, 14] == pytest.approx(1.0)
    shifted = move(image, 0.0, 1.0, np.array([1.0, -2.0]))
    assert shifted[11, 12] == pytest.approx(1.0) and shifted.sum() == pytest.approx(1.0)
    # A quarter turn of a horizontal bar (rows 14, columns 10-18: mass at (14, 14)) is a vertical one.
    bar = np.zeros((28, 28), dtype=np.float32)
    bar[14, 10:19] = 1.0
    turned = move(bar, np.deg2rad(90.0), 1.0, np.zeros(2))
    np.testing.assert_allclose(turned[10:19, 14], 1.0, atol=1e-6)
    assert turned.sum() == pytest.approx(9.0)
    # Turned and zoomed by 1.1, the bar keeps its centre of mass (what predict's centring fixes)
    # and grows to about 1.1^2 of its ink.
    grown = move(bar, np.deg2rad(30.0), 1.1, np.zeros(2))
    np.testing.assert_allclose(centre_of_mass(grown), [14.0, 14.0], atol=1e-3)
    assert grown.sum() == pytest.approx(9.0 * 1.1**2, rel=0.05)


def test_restroke_widens_and_narrows_a_stroke_by_the_pixels_asked():
    bar = np.zeros((2, 28, 28), dtype=np.float32)
    bar[:, 4:24, 13:15] = 1.0  # a vertical stroke 2 pixels wide
    out = restroke(bar, np.array([1.0, -1.0]))
    # Mid-stroke, each row's ink is the stroke's width: 2 + 1 and 2 - 1 pixels.
    assert out[0, 14].sum() == pytest.approx(3.0)
    assert out[1, 14].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(out[0, 14, 12:16], [0.5, 1.0, 1.0, 0.5])


def test_params_validate_the_perturb_ranges():
    problems = dict(perturb_section(degrees=90.0).problems())
    assert (
        "degrees" in problems
        and problems["degrees"] == "must be in [0, 45] (a larger turn is no slant a writer gives a digit), got 90.0"
    )
    assert dict(perturb_section(stroke=3.0).problems())["stroke"].startswith("must be in [0, 2]")
    assert dict(perturb_section(scale=-0.1).problems())["scale"] == "must be in [0, 0.5), got -0.1"
    assert list(perturb_section().problems()) == []
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["perturb"]["translate"] = 5.0
    with pytest.raises(ConfigError, match=r"perturb\.translate: must be in \[0, 4\] pixels"):
        parse_params(params)
    del params["perturb"]
    with pytest.raises(ConfigError, match=r"perturb: missing section"):
        parse_params(params)


def test_the_perturbed_split_is_saved_beside_the_others(raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    splits = prepare(*raw, prepare_section(standardize=True))
    perturbed = perturbed_test(raw[2], raw[3], splits.info, perturb_section())
    save_splits(splits, perturbed)
    assert sorted(p.name for p in (tmp_path / "data" / "processed").iterdir()) == [
        "info.json",
        "test.npz",
        "test_perturbed.npz",
        "train.npz",
        "val.npz",
    ]
    loaded = load_split(paths.PERTURBED)
    assert loaded.x.tobytes() == perturbed.x.tobytes()
    np.testing.assert_array_equal(loaded.y, perturbed.y)


# --- evaluate: the accuracy on the perturbed split beside the clean one ----------------------------


def one_hot_logits(labels: np.ndarray) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[labels] * 5.0


def write_answers(raw, model: str, task, test_logits: np.ndarray, perturbed_logits: np.ndarray) -> None:
    splits = prepare(*raw, prepare_section())
    save_splits(splits, perturbed_test(raw[2], raw[3], splits.info, perturb_section()))
    outputs.save(model, test_logits, task, "a test model")
    outputs.save_perturbed(model, perturbed_logits)


def test_evaluate_reports_the_perturbed_accuracy_and_drop(raw, tmp_path, monkeypatch):
    from mnistflow.workflow.evaluate import evaluate

    monkeypatch.chdir(tmp_path)
    labels = raw[3].astype(np.int64)
    wrong = (labels + 1) % 10
    perturbed_answers = np.where(np.arange(200) < 30, wrong, labels)  # 30 of 200 wrong
    test_answers = np.where(np.arange(200) < 4, wrong, labels)  # 4 of 200 wrong
    write_answers(raw, "digits", MULTICLASS, one_hot_logits(test_answers), one_hot_logits(perturbed_answers))
    metrics = evaluate("digits")
    assert metrics["accuracy"] == pytest.approx(0.98)
    assert metrics["perturbed_accuracy"] == pytest.approx(0.85)
    assert metrics["perturbed_drop"] == pytest.approx(13.0)  # points: 98% - 85%
    written = read_json(paths.eval_metrics("digits"))
    assert (
        written["perturbed_accuracy"] == 0.85 and written["perturbed_drop"] == 13.0
    )  # exact in the file: no float noise


def test_evaluate_decides_a_binary_models_perturbed_answers_at_its_threshold(raw, tmp_path, monkeypatch):
    from mnistflow.workflow.evaluate import evaluate

    monkeypatch.chdir(tmp_path)
    task = square_task((0, 1, 4, 9)).with_threshold(0.8)
    positive = task.labels(raw[3])
    # P(square) 0.9 for squares, 0.1 for the others; on the perturbed split the first 20
    # squares get 0.7: above one half but below the threshold, so they count as wrong.
    p_test = np.where(positive == 1, 0.9, 0.1)
    p_perturbed = p_test.copy()
    p_perturbed[np.flatnonzero(positive == 1)[:20]] = 0.7
    logit = lambda p: np.log(p / (1 - p)).astype(np.float32)[:, None]  # noqa: E731
    write_answers(raw, "square", task, logit(p_test), logit(p_perturbed))
    metrics = evaluate("square")
    assert metrics["accuracy"] == pytest.approx(1.0)
    assert metrics["perturbed_accuracy"] == pytest.approx(0.9)
    assert metrics["perturbed_drop"] == pytest.approx(10.0)


def test_evaluate_names_the_fix_when_the_perturbed_answers_are_missing(raw, tmp_path, monkeypatch):
    from mnistflow.errors import UserError
    from mnistflow.workflow.evaluate import evaluate

    monkeypatch.chdir(tmp_path)
    labels = raw[3].astype(np.int64)
    write_answers(raw, "digits", MULTICLASS, one_hot_logits(labels), one_hot_logits(labels))
    paths.perturbed_logits("digits").unlink()
    with pytest.raises(UserError, match=r"^models/digits-perturbed\.npy is missing; .*`dvc repro train@digits`"):
        evaluate("digits")
