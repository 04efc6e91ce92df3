"""Adding an architecture, or an activation family, is one entry in its registry.

On a copy of the project: a new network class without its entry in config.ARCHITECTURES makes
the registry's test name it; with the one entry added, params.yaml accepts it, the registry's
tests pass, and a model section naming it trains, is described by the entry's title and
round-trips through a checkpoint. Likewise a new activation family is one entry in
activations.FAMILIES: params.yaml refuses the name before, and after it the network builds with
it (and a convolutional network with it), trains, and its coefficients, NumPy g and formula
come out of the entry. The copy's own
package is imported (PYTHONPATH), never this checkout's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import VENV_BIN, base_env, copy_project

pytestmark = pytest.mark.e2e  # copies of the project, each run in subprocesses
PYTHON = str(VENV_BIN / "python")
# pytest in the copy, in its one process: a few tests do not pay for starting xdist's workers.
PYTEST = ("-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider")

NETWORK = '''

class WideCNN(ImageClassifier):
    """One wide 5x5 convolution, pooling, then the dense head."""

    def __init__(self, *, channels, dense, dropout, dense_dropout, n_outputs, tta, image_size=28):
        super().__init__()
        self.n_outputs, self.tta = n_outputs, tta
        self.features = nn.Sequential(nn.Conv2d(1, channels[0], kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(4))
        self.head = _dense_head(_feature_size(self.features, image_size), dense, dense_dropout, n_outputs)
'''
ARCH_ENTRY = '    "widecnn": Architecture("wide CNN", CNNSection, "mnistflow.models.cnn:WideCNN"),\n'
FAMILY_ENTRY = (
    '    "pade": Family("pade", "Padé g of degrees {degree}/{denominator}", '
    '"mnistflow.models.activation:LearnableRational", reads=("degree", "denominator")),\n'
)

# Run in the copy: a model section of the new kind, trained for one epoch on random digits.
TRAIN_ONE_EPOCH = """
import sys, numpy as np, yaml
from mnistflow import checkpoint
from mnistflow.config import parse_params
from mnistflow.data.prepare import Split, Splits
from mnistflow.models import build_model, describe, model_spec
from mnistflow.training import fit

name, section = sys.argv[1], yaml.safe_load(sys.argv[2])
raw = yaml.safe_load(open("params.yaml"))
raw[name] = {**raw[sys.argv[3]], **section, "model": {**raw[sys.argv[3]]["model"], **section["model"]}}
raw[name]["train"].update(epochs=1, batch_size=32, device="cpu", amp="none", channels_last=False, train_eval_size=0)
spec = model_spec(name, parse_params(raw))
model = build_model(spec.arch, spec.kwargs)
rng = np.random.default_rng(0)
split = lambda n: Split(rng.random((n, 28, 28), dtype=np.float32), np.arange(n) % 10, np.arange(n))
history = fit(model, Splits(split(96), split(32), split(32), info={}), spec.train, spec.task, eval_batch_size=64)
checkpoint.save("model.pt", model, spec.arch, spec.kwargs, spec.task, {"model": name})
loaded = checkpoint.load("model.pt")[0]
assert type(loaded) is type(model)
print(describe(spec.arch, spec.kwargs))
print(sorted(k for k in history.last if k[0] in "kb" and k[1:].isdigit()))
"""


def in_copy(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = base_env()
    env["PYTHONPATH"] = str(repo / "src")  # the copy's package, not the editable install's
    env["MNISTFLOW_THREADS"] = "1"
    return subprocess.run([PYTHON, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def add_line_after(path: Path, anchor: str, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    start = text.index(anchor)
    end = text.index("\n", start) + 1
    path.write_text(text[:end] + line + text[end:], encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy_project(tmp_path)
    return tmp_path


def test_a_new_architecture_is_its_network_plus_one_registry_entry(repo: Path):
    with (repo / "src/mnistflow/models/cnn.py").open("a", encoding="utf-8") as fh:
        fh.write(NETWORK)
    registry_tests = [*PYTEST, "tests/test_models.py", "-k", "architecture"]
    before = in_copy(repo, *registry_tests)
    assert before.returncode == 1, before.stdout
    assert "mnistflow.models.cnn:WideCNN is a network without an entry in config.ARCHITECTURES" in before.stdout

    add_line_after(repo / "src/mnistflow/config.py", '    "deepcnn": Architecture(', ARCH_ENTRY)
    after = in_copy(repo, *registry_tests)
    assert after.returncode == 0, after.stdout
    trained = in_copy(repo, "-c", TRAIN_ONE_EPOCH, "wide", "{model: {arch: widecnn, channels: [8]}}", "lenet5")
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.splitlines() == ["wide CNN 8 / dense 120-84", "[]"]


def test_a_new_activation_family_is_one_registry_entry(repo: Path):
    section = "{model: {activation: pade, degree: 2, denominator: 1, span: 0.0}}"
    before = in_copy(repo, "-c", TRAIN_ONE_EPOCH, "ann2", section, "ann")
    assert before.returncode == 1
    assert (
        "ann2.model.activation: must be one of 'learnable', 'polynomial', 'rational', 'relu', got 'pade'"
        in before.stderr
    )

    text = (repo / "src/mnistflow/activations.py").read_text(encoding="utf-8")
    (repo / "src/mnistflow/activations.py").write_text(
        text.replace('    "relu": Family(', FAMILY_ENTRY + '    "relu": Family(', 1), encoding="utf-8"
    )
    trained = in_copy(repo, "-c", TRAIN_ONE_EPOCH, "ann2", section, "ann")
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.splitlines() == ["MLP 256-128, Padé g of degrees 2/1", "['b1', 'k0', 'k1', 'k2']"]
    # The convolutional networks take it too, one set per layer, with no other edit.
    cnn = in_copy(repo, "-c", TRAIN_ONE_EPOCH, "cnn2", section, "lenet5")
    assert cnn.returncode == 0, cnn.stderr
    padé = "LeNet-5 12-24 / dense 120-84, Padé g of degrees 2/1"
    assert cnn.stdout.splitlines() == [padé, "['b1', 'k0', 'k1', 'k2']"]
    # The registry's own tests take the new family through its torch, NumPy and text forms.
    checks = in_copy(repo, *PYTEST, "tests/test_activations.py", "-k", "family_is_one or registry")
    assert checks.returncode == 0, checks.stdout
    assert "6 passed" in checks.stdout, checks.stdout
