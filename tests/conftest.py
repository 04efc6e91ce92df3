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


# --- config objects for unit tests ----------------------------------------------------------------
# The code has no defaults (params.yaml writes every value); these are the tests' own baselines:
# a small, quick, constant-rate, CPU, float32 training without augmentation.

def training(**overrides):
    from mnistflow.config import AugmentSettings, MLPTraining

    values = dict(
        seed=0, epochs=20, batch_size=128, optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=0.0,
        schedule="constant", warmup_epochs=0.0, device="cpu", log_every=50, train_eval_size=0,
        augment=AugmentSettings(degrees=0.0, translate=0.0, scale=0.0), amp="none", channels_last=False,
        label_smoothing=0.0, backend="torch",
    )
    values.update(overrides)
    return MLPTraining(**values)


def mlp_model(**overrides):
    from mnistflow.config import MLPModel

    return MLPModel(**{"activation": "learnable", "hidden": (256, 128), "share_k": "network", "dropout": 0.0, "degree": 1, "denominator": 0, "span": 0.0, **overrides})


def cnn_model(**overrides):
    from mnistflow.config import CNNModel

    return CNNModel(**{"arch": "lenet5", "channels": (6, 16), "dense": (120, 84), "dropout": 0.0, "dense_dropout": 0.0, **overrides})


def init_section(**overrides):
    from mnistflow.config import InitSection

    return InitSection(**{"k0": 0.0, "k1": 1.0, "sampling": "constant", "spread": 0.1, **overrides})


def prepare_section(**overrides):
    from mnistflow.config import PrepareSection

    return PrepareSection(**{"seed": 0, "val_fraction": 0.1, "standardize": False, "train_subset": 0, **overrides})


def wait_for(url: str, proc, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers 200, failing the test if ``proc`` exits or ``timeout`` passes."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} did not answer {url} within {timeout:.0f} s")
