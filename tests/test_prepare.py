"""Subset, stratified train/val split and normalisation of MNIST-shaped arrays."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_digits
from mnistflow import paths
from conftest import prepare_section
from mnistflow.data.prepare import load_split, load_splits, prepare, save_splits


@pytest.fixture(scope="module")
def raw():
    """600 training images (60 per class) and 200 test images (20 per class)."""
    train_x, train_y = synthetic_digits(600, seed=0)
    test_x, test_y = synthetic_digits(200, seed=1)
    return train_x, train_y, test_x, test_y


def run(raw, **kwargs):
    return prepare(*raw, prepare_section(**kwargs))


def test_split_sizes(raw):
    splits = run(raw, seed=0, val_fraction=0.1)
    assert len(splits.train) == 540
    assert len(splits.val) == 60
    assert len(splits.test) == 200
    assert splits.info["sizes"] == {"train": 540, "val": 60, "test": 200}
    for name in paths.SPLITS:
        split = splits[name]
        assert split.x.shape == (len(split), 28, 28)
        assert split.x.dtype == np.float32
        assert split.y.dtype == np.int64
        assert split.y.shape == split.source_index.shape == (len(split),)


@pytest.mark.parametrize("fraction, n_val", [(0.1, 60), (0.2, 120), (0.5, 300)])
def test_split_sizes_other_fractions(raw, fraction, n_val):
    splits = run(raw, val_fraction=fraction)
    assert len(splits.val) == n_val
    assert len(splits.train) == 600 - n_val


def test_test_split_untouched_and_in_order(raw):
    _, _, test_x, test_y = raw
    splits = run(raw, seed=3)
    np.testing.assert_array_equal(splits.test.source_index, np.arange(200))
    np.testing.assert_array_equal(splits.test.y, test_y.astype(np.int64))
    np.testing.assert_array_equal(splits.test.x, test_x.astype(np.float32) / 255.0)


def test_stratification(raw):
    splits = run(raw, seed=0, val_fraction=0.1)
    # 60 of each class in the source: 10% of each, i.e. 6, goes to validation.
    assert np.bincount(splits.val.y, minlength=10).tolist() == [6] * 10
    assert np.bincount(splits.train.y, minlength=10).tolist() == [54] * 10
    assert splits.info["class_counts"] == {"train": [54] * 10, "val": [6] * 10, "test": [20] * 10}


def test_stratification_with_unequal_classes():
    # Class c has 20 + 10*c images (20..110, 650 in all); a 20% validation split takes ~20% of each.
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(10), 20 + 10 * np.arange(10)).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    test_x, test_y = synthetic_digits(20, seed=2)
    splits = prepare(images, labels, test_x, test_y, prepare_section(val_fraction=0.2))
    val_counts = np.bincount(splits.val.y, minlength=10)
    expected = 0.2 * (20 + 10 * np.arange(10))
    assert val_counts.sum() == 130
    assert np.all(np.abs(val_counts - expected) <= 1), (val_counts, expected)


def test_labels_follow_their_images(raw):
    train_x, train_y, _, _ = raw
    splits = run(raw, seed=1)
    for split in (splits.train, splits.val):
        np.testing.assert_array_equal(split.y, train_y[split.source_index])
        np.testing.assert_array_equal(split.x, train_x[split.source_index].astype(np.float32) / 255.0)


def test_train_and_val_indices_disjoint_and_from_source(raw):
    splits = run(raw, seed=0)
    train_idx, val_idx = splits.train.source_index, splits.val.source_index
    assert len(np.unique(train_idx)) == len(train_idx)
    assert len(np.unique(val_idx)) == len(val_idx)
    assert np.intersect1d(train_idx, val_idx).size == 0
    both = np.union1d(train_idx, val_idx)
    assert set(both.tolist()) <= set(range(600))
    assert both.size == 600  # without a subset every training image is used once


def test_deterministic_for_a_seed(raw):
    a, b = run(raw, seed=7), run(raw, seed=7)
    for name in paths.SPLITS:
        assert a[name].x.tobytes() == b[name].x.tobytes()
        assert a[name].y.tobytes() == b[name].y.tobytes()
        assert a[name].source_index.tobytes() == b[name].source_index.tobytes()
    assert a.info == b.info


def test_different_seed_different_order(raw):
    a, b = run(raw, seed=0), run(raw, seed=1)
    assert not np.array_equal(a.train.source_index, b.train.source_index)
    assert not np.array_equal(a.val.source_index, b.val.source_index)
    # Validation picks a different set of images, not just a different order.
    assert set(a.val.source_index.tolist()) != set(b.val.source_index.tolist())
    # The test set does not depend on the seed.
    assert a.test.x.tobytes() == b.test.x.tobytes()


def test_train_is_shuffled(raw):
    splits = run(raw, seed=0)
    assert not np.all(np.diff(splits.train.source_index) > 0)


def test_pixel_range_without_standardize(raw):
    train_x, _, _, _ = raw
    splits = run(raw, standardize=False)
    for name in paths.SPLITS:
        x = splits[name].x
        assert x.min() >= 0.0 and x.max() <= 1.0
    # The synthetic images hold both near-black and bright pixels: the full range is used.
    assert splits.train.x.min() == 0.0
    assert splits.train.x.max() == pytest.approx(train_x.max() / 255.0)
    assert splits.info["standardize"] is False
    assert splits.info["mean"] == 0.0 and splits.info["std"] == 1.0


def test_standardize_uses_train_statistics(raw):
    train_x, _, test_x, _ = raw
    splits = run(raw, seed=0, standardize=True)
    # The train split is standardised...
    assert abs(float(splits.train.x.mean(dtype=np.float64))) < 1e-5
    assert abs(float(splits.train.x.std(dtype=np.float64)) - 1.0) < 1e-5
    # ...with statistics of its own raw pixels only (not of val or test).
    train_raw = train_x[splits.train.source_index].astype(np.float64) / 255.0
    mean, std = train_raw.mean(), train_raw.std()
    assert splits.info["standardize"] is True
    assert splits.info["mean"] == pytest.approx(mean, rel=1e-6)
    assert splits.info["std"] == pytest.approx(std, rel=1e-6)
    all_raw = train_x.astype(np.float64) / 255.0
    assert splits.info["mean"] != pytest.approx(all_raw.mean(), rel=1e-9)
    # Val and test are transformed with the same train mean/std.
    val_raw = train_x[splits.val.source_index].astype(np.float64) / 255.0
    np.testing.assert_allclose(splits.val.x, (val_raw - mean) / std, atol=1e-5)
    np.testing.assert_allclose(splits.test.x, (test_x.astype(np.float64) / 255.0 - mean) / std, atol=1e-5)
    # So their means are not exactly 0 (they are not standardised on their own statistics).
    assert abs(float(splits.val.x.mean(dtype=np.float64))) > 1e-4
    assert splits.val.x.dtype == splits.test.x.dtype == np.float32


def test_train_subset(raw):
    splits = run(raw, seed=0, train_subset=200, val_fraction=0.1)
    assert len(splits.train) + len(splits.val) == 200
    assert len(splits.val) == 20 and len(splits.train) == 180
    assert len(splits.test) == 200  # the test set is never subset
    # Stratified: 20 of each class in the subset, 2 of each in validation.
    assert np.bincount(splits.val.y, minlength=10).tolist() == [2] * 10
    assert np.bincount(splits.train.y, minlength=10).tolist() == [18] * 10
    used = np.concatenate([splits.train.source_index, splits.val.source_index])
    assert len(np.unique(used)) == 200
    assert used.min() >= 0 and used.max() < 600


def test_train_subset_deterministic(raw):
    a = run(raw, seed=5, train_subset=100)
    b = run(raw, seed=5, train_subset=100)
    c = run(raw, seed=6, train_subset=100)
    np.testing.assert_array_equal(a.train.source_index, b.train.source_index)
    used_a = set(np.concatenate([a.train.source_index, a.val.source_index]).tolist())
    used_c = set(np.concatenate([c.train.source_index, c.val.source_index]).tolist())
    assert len(used_a) == len(used_c) == 100
    assert used_a != used_c


@pytest.mark.parametrize("subset", [600, 601, 10_000])
def test_train_subset_too_large(raw, subset):
    with pytest.raises(ValueError, match=rf"train_subset={subset}.*600 training images"):
        run(raw, train_subset=subset)


def test_info_is_json_serialisable(raw):
    splits = run(raw, standardize=True, seed=2)
    assert json.loads(json.dumps(splits.info)) == splits.info
    assert splits.info["seed"] == 2


@pytest.mark.parametrize("standardize", [False, True])
def test_save_and_load_round_trip(raw, tmp_path, monkeypatch, standardize):
    monkeypatch.chdir(tmp_path)
    splits = run(raw, seed=4, standardize=standardize)
    save_splits(splits)
    written = sorted(p.name for p in (tmp_path / "data" / "processed").iterdir())
    assert written == ["info.json", "test.npz", "train.npz", "val.npz"]  # no temporary files left
    loaded = load_splits()
    for name in paths.SPLITS:
        assert loaded[name].x.dtype == np.float32
        assert loaded[name].y.dtype == np.int64
        assert loaded[name].x.tobytes() == splits[name].x.tobytes()
        np.testing.assert_array_equal(loaded[name].y, splits[name].y)
        np.testing.assert_array_equal(loaded[name].source_index, splits[name].source_index)
    assert loaded.info == splits.info
    # load_splits also works from elsewhere given the root.
    monkeypatch.chdir(tmp_path.parent)
    again = load_splits(tmp_path)
    assert again.train.x.tobytes() == splits.train.x.tobytes()


def test_saving_the_same_splits_again_later_writes_the_same_bytes(raw, tmp_path, monkeypatch):
    """A forced preprocess must leave data/processed/*.npz byte for byte as they were, or DVC sees
    new inputs and retrains every model. np.savez dates each zip member with zipfile's fixed
    1980-01-01, not the clock; this catches a numpy or Python that starts stamping the time."""
    monkeypatch.chdir(tmp_path)
    splits = run(raw, seed=4)
    npz = [paths.split_file(name) for name in paths.SPLITS]
    save_splits(splits)
    first = {path: Path(path).read_bytes() for path in npz}
    time.sleep(2.1)  # zip dates count in two-second steps: a shorter wait could fall in the same step
    save_splits(splits)
    assert {path: Path(path).read_bytes() for path in npz} == first
    for name in paths.SPLITS:
        with np.load(paths.split_file(name), allow_pickle=False) as data:
            assert sorted(data.files) == ["source_index", "x", "y"]
            assert data["x"].tobytes() == splits[name].x.tobytes() and data["x"].dtype == np.float32
            np.testing.assert_array_equal(data["y"], splits[name].y)
            np.testing.assert_array_equal(data["source_index"], splits[name].source_index)


def test_save_overwrites_previous_splits(raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_splits(run(raw, seed=0))
    second = run(raw, seed=1, train_subset=300)
    save_splits(second)
    loaded = load_splits()
    assert len(loaded.train) == 270 and len(loaded.val) == 30
    np.testing.assert_array_equal(loaded.train.source_index, second.train.source_index)
    assert loaded.info["seed"] == 1


def test_load_missing_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data/processed/val\.npz is missing.*preprocess"):
        load_split("val")
