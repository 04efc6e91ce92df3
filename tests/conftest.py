"""Shared test fixtures: small, generated MNIST-format data (never the real MNIST)."""
from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mnistflow.config import MNIST_FILES  # noqa: E402
from mnistflow.data.idx import encode_idx  # noqa: E402


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images whose class decides where a bright 6x6 square sits, plus noise.

    Linearly separable enough that a few epochs of any model learn it.
    """
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        r, c = 3 + row * 13 + rng.integers(0, 3), 1 + col * 5 + rng.integers(0, 2)
        images[i, r : r + 6, c : c + 4] = rng.integers(180, 256, size=(6, 4), dtype=np.uint8)
    return images, labels


def write_mnist(folder: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> dict[str, str]:
    """Write the four MNIST .gz files of synthetic digits; return their content SHA-256s."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = synthetic_digits(n_train, seed)
    test_x, test_y = synthetic_digits(n_test, seed + 1)
    arrays = dict(zip(MNIST_FILES, (train_x, train_y, test_x, test_y)))
    checksums = {}
    for name, array in arrays.items():
        data = encode_idx(array)
        (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        checksums[name] = hashlib.sha256(data).hexdigest()
    return checksums


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder holding small generated MNIST .gz files, and their content checksums."""
    folder = tmp_path_factory.mktemp("tiny_mnist")
    return folder, write_mnist(folder)
