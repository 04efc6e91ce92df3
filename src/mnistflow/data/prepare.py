"""Shuffle, subset, split and normalise MNIST; save and load the resulting arrays.

Pure functions over numpy arrays: ``prepare`` takes the raw uint8 images and labels and a
:class:`PrepareSection`, and returns :class:`Splits`. The test set keeps its canonical order
(so prediction ``i`` is test image ``i``); training and validation are shuffled by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnistflow import paths
from mnistflow.config import ConfigError, PrepareSection
from mnistflow.files import read_json, staged, write_json
from mnistflow.tasks import Task


@dataclass
class Split:
    x: np.ndarray  # (N, 28, 28) float32, normalised
    y: np.ndarray  # (N,) int64 labels
    source_index: np.ndarray  # (N,) index of each image in its original IDX file

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split
    info: dict = field(default_factory=dict)  # sizes and normalisation statistics

    def __getitem__(self, name: str) -> Split:
        return getattr(self, name)


def prepare(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    cfg: PrepareSection,
) -> Splits:
    """Subset (optional, stratified), split train/val (stratified, shuffled), normalise."""
    from sklearn.model_selection import train_test_split  # here, not at the top: only the preprocess stage splits

    index = np.arange(len(train_labels))
    if cfg.train_subset:
        if cfg.train_subset >= len(index):
            raise ConfigError(
                f"prepare.train_subset={cfg.train_subset} is not smaller than the {len(index)} training images; "
                "set it to 0 to use them all"
            )
        index, _ = train_test_split(index, train_size=cfg.train_subset, stratify=train_labels, random_state=cfg.seed)
    train_idx, val_idx = train_test_split(
        index, test_size=cfg.val_fraction, stratify=train_labels[index], shuffle=True, random_state=cfg.seed
    )
    scaled = {
        "train": train_images[train_idx].astype(np.float32) / 255.0,
        "val": train_images[val_idx].astype(np.float32) / 255.0,
        "test": test_images.astype(np.float32) / 255.0,
    }
    mean, std = 0.0, 1.0
    if cfg.standardize:
        # Statistics of the training split only, so nothing leaks from validation or test.
        mean = float(scaled["train"].mean(dtype=np.float64))
        std = float(scaled["train"].std(dtype=np.float64))
        for name in scaled:
            scaled[name] = (scaled[name] - np.float32(mean)) / np.float32(std)
    splits = Splits(
        train=Split(scaled["train"], train_labels[train_idx].astype(np.int64), train_idx),
        val=Split(scaled["val"], train_labels[val_idx].astype(np.int64), val_idx),
        test=Split(scaled["test"], test_labels.astype(np.int64), np.arange(len(test_labels))),
    )
    splits.info = {
        "sizes": {name: len(splits[name]) for name in paths.SPLITS},
        "class_counts": {name: np.bincount(splits[name].y, minlength=10).tolist() for name in paths.SPLITS},
        "standardize": cfg.standardize,
        "mean": mean,
        "std": std,
        "seed": cfg.seed,
    }
    return splits


def save_splits(splits: Splits, perturbed: Split | None = None) -> None:
    """Write ``data/processed/{train,val,test}.npz`` (and ``test_perturbed.npz`` when given) and
    ``info.json``: all of them or none."""
    named = [(name, splits[name]) for name in paths.SPLITS] + (
        [(paths.PERTURBED, perturbed)] if perturbed is not None else []
    )
    with staged() as stage:
        for name, split in named:
            # The same arrays give the same bytes (np.savez dates every zip member 1980-01-01, not
            # now), so a forced preprocess leaves the training stages skipped; test_prepare checks it.
            np.savez(stage(paths.split_file(name)), x=split.x, y=split.y, source_index=split.source_index)
        write_json(stage(paths.PREPARE_INFO), splits.info)


def load_split(name: str, root: Path = Path(".")) -> Split:
    path = root / paths.split_file(name)
    try:
        with np.load(path) as data:
            return Split(data["x"], data["y"], data["source_index"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; run the preprocess stage first (dvc repro preprocess)") from None


def load_splits(root: Path = Path(".")) -> Splits:
    return Splits(*(load_split(name, root) for name in paths.SPLITS), info=read_json(root / paths.PREPARE_INFO))


def relabel(splits: Splits, task: Task) -> Splits:
    """The same images with the task's labels (binary for a yes/no task; unchanged otherwise)."""
    if not task.binary:
        return splits
    return Splits(
        *(Split(splits[name].x, task.labels(splits[name].y), splits[name].source_index) for name in paths.SPLITS),
        info={**splits.info, "positive": list(task.positive)},
    )
