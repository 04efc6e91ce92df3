"""Shared test fixtures and helpers: small, generated MNIST-format data (never the real MNIST),
config objects for unit tests, and what the end-to-end tests use to run the pipeline in a copy of
the project (its venv, `run`, `git`, `copy_project`, `edit_params`, `base_env`)."""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import json
import signal
import time
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
# The project's venv (its python runs the stages, its dvc the pipeline), else the one running pytest.
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "dvc").is_file() else Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")
# The pipeline's results: a copy of the project starts without them.
SKIPPED_PREFIXES = ("dvc.lock", "metrics/", "plots/", "data/", "reports/")
# What the stages write, folder by folder.
WRITTEN = ("data/raw", "data/processed", "models", "metrics", "plots", "reports")
# pytest-xdist runs a worker per core (pyproject.toml): each worker, and every pipeline command it
# starts, gets its share of the cores, as jobs that share a machine must (README, Experiments);
# with a thread per core each, their threads would wait on each other's.
CORE_SHARE = max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


@pytest.fixture(scope="session", autouse=True)
def core_share() -> None:
    """Torch in this worker (the tests that train in-process) on its share of the cores."""
    import torch

    torch.set_num_threads(CORE_SHARE)


# --- programs some tests drive: Chromium and PostgreSQL, found one way ------------------------------


def find_program(names: tuple[str, ...], debian_pattern: str) -> Path | None:
    """The first of ``names`` on PATH, else Debian's own place for it (``debian_pattern``, a glob
    whose ``*`` is a version: the newest wins), else None. Debian's postgresql package keeps
    initdb and postgres off PATH, in /usr/lib/postgresql/<version>/bin."""
    for name in names:
        if found := shutil.which(name):
            return Path(found)
    candidates = [Path(p) for p in glob.glob(debian_pattern) if os.access(p, os.X_OK)]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", str(path)))

    return max(candidates, key=version) if candidates else None


# Headless Chromium for the tests that open pages (`apt-get install chromium`; .ci/run does it).
BROWSER = find_program(("chromium", "chromium-browser", "google-chrome", "chrome"), "/usr/lib/chromium/chromium")
# PostgreSQL's initdb, with postgres beside it (`apt-get install postgresql`; .ci/run does it).
INITDB = find_program(("initdb",), "/usr/lib/postgresql/*/bin/initdb")

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


def write_mnist(
    folder: Path, n_train: int = 600, n_test: int = 200, seed: int = 0, test_label_noise: float = 0.0
) -> dict[str, str]:
    """Write the four MNIST .gz files of synthetic digits; return their content SHA-256s.

    ``test_label_noise``: the share of test images labelled another digit at random, so that
    every model makes errors, off the confusion matrix's diagonal."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = synthetic_digits(n_train, seed)
    test_x, test_y = synthetic_digits(n_test, seed + 1)
    if test_label_noise:
        rng = np.random.default_rng(seed + 2)
        wrong = rng.random(n_test) < test_label_noise
        test_y[wrong] = (test_y[wrong] + rng.integers(1, 10, size=int(wrong.sum()))) % 10
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
        seed=0,
        epochs=20,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        warmup_epochs=0.0,
        device="cpu",
        log_every=50,
        train_eval_size=0,
        augment=AugmentSettings(degrees=0.0, translate=0.0, scale=0.0, elastic_alpha=0.0, elastic_sigma=4.0),
        amp="none",
        channels_last=False,
        label_smoothing=0.0,
        ema_decay=0.0,
        backend="torch",
    )
    values.update(overrides)
    return MLPTraining(**values)


def mlp_model(**overrides):
    from mnistflow.config import MLPModel

    return MLPModel(
        **{
            "arch": "mlp",
            "activation": "learnable",
            "hidden": (256, 128),
            "share_k": "network",
            "dropout": 0.0,
            "degree": 1,
            "denominator": 0,
            "span": 0.0,
            "tta": "none",
            **overrides,
        }
    )


def cnn_model(**overrides):
    from mnistflow.config import CNNModel

    return CNNModel(
        **{
            "arch": "lenet5",
            "channels": (6, 16),
            "dense": (120, 84),
            "dropout": 0.0,
            "dense_dropout": 0.0,
            "downsample": "maxpool",
            "batchnorm": "block",
            "tta": "none",
            "activation": "relu",
            "degree": 1,
            "denominator": 0,
            "span": 0.0,
            **overrides,
        }
    )


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


def served_answer(net, pixels, folder: Path, expected: np.ndarray) -> np.ndarray:
    """``net`` exported as the train stage logs it (``served_module``, torch.export's pt2, a
    signature from ``expected``), loaded back through MLflow's pyfunc and asked about ``pixels``."""
    import mlflow.pyfunc
    import mlflow.pytorch
    from mlflow.models import infer_signature

    from mnistflow.tracking.models import served_module

    mlflow.pytorch.save_model(
        served_module(net).eval(),
        folder,
        serialization_format="pt2",
        input_example=pixels[:2].numpy(),
        signature=infer_signature(pixels.numpy(), expected),
        pip_requirements=["torch"],
    )
    return mlflow.pyfunc.load_model(str(folder)).predict(pixels.numpy())


# --- running the pipeline in a copy of the project (the end-to-end tests) ------------------------


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a command to completion; with ``check``, a non-zero exit fails the test with its output."""
    # Bounded below pytest-timeout's 600 s: a full `dvc repro` of a copy shares the cores with the
    # other test files' workers (pytest-xdist).
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=540)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def stages_ran(output: str) -> set[str]:
    """The stages a DVC command's output says it ran ("Running stage 'train@lenet5':")."""
    return set(re.findall(r"Running stage '([^']+)':", output))


def search_runs(uri: str) -> list:
    """Every run of the "mnist" experiment in the store at ``uri``."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=["mnist"], output_format="list")
    finally:
        mlflow.set_tracking_uri(previous)


def base_env() -> dict[str, str]:
    """The caller's environment with the project's venv first on PATH, none of its pipeline
    settings, and this worker's share of the cores (``CORE_SHARE``)."""
    # Nothing of the caller's pipeline settings: CI exports MNIST_MIRROR (the real MNIST), and each
    # test that downloads names its own generated mirror.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DVC_", "MLFLOW_", "GIT_", "MNISTFLOW_")) and k != "MNIST_MIRROR"
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MNISTFLOW_THREADS"] = str(CORE_SHARE)
    env["DVC_NO_ANALYTICS"] = "1"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.pop("PYTHONPATH", None)
    return env


def copy_project(dest: Path) -> None:
    """The git-tracked files, with their working-tree content, minus the pipeline's results."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for rel in tracked.stdout.split("\0"):
        if not rel or rel.startswith(SKIPPED_PREFIXES) or not (ROOT / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)


def init_repo(repo: Path) -> None:
    """``git init`` in ``repo`` with a local identity and no signing, so tests can commit there."""
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", "t"),
        ("config", "user.email", "t@example.invalid"),
        ("config", "commit.gpgsign", "false"),
    ):
        git(repo, *args)


def edit_params(path: Path, checksums: dict[str, str]) -> None:
    """Generated data, and every model tiny and quick (2 epochs of a few dozen steps, on CPU).

    Between them the models still take every path: augmentation (lenet5), bf16 autocast with
    channels-last (deepcnn), dropout (mlp, deepcnn), the binary task with its threshold (square).
    """
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip, with the defaults `dvc exp run -S` writes: params.yaml's own layout
    params = yaml.load(path)
    params["download"]["sha256"].update(checksums)  # the same keys, new values: layout kept
    params["download"]["mirrors"] = ["http://127.0.0.1:9/"]
    params["download"]["timeout_s"] = 2.0
    train = params["ann"]["train"]
    train["epochs"] = 2
    train["batch_size"] = 64
    train["device"] = "cpu"
    train["log_every"] = 5

    params["mlp"]["model"]["hidden"] = [32]
    for name in ("lenet5", "deepcnn", "square"):
        params[name]["model"]["channels"] = [4, 8]
        params[name]["model"]["dense"] = [16, 16] if name != "square" else [16]
    for name in ("mlp", "lenet5", "deepcnn", "square"):
        train = params[name]["train"]
        # Batches of 16: 57 steps an epoch, enough for these small nets to learn the blocks.
        train.update(epochs=2, batch_size=16, lr=0.005, device="cpu", log_every=10, train_eval_size=200)
        train["augment"].update(degrees=5.0 if name == "lenet5" else 0.0, translate=0.0, scale=0.0)
        train["amp"] = "bf16" if name == "deepcnn" else "none"
        train["channels_last"] = name == "deepcnn"
    params["plot"]["gallery_size"] = 16
    yaml.dump(params, path)
    text = path.read_text(encoding="utf-8")
    assert "- http://127.0.0.1:9/" in text and "    channels:\n    - 4\n    - 8\n" in text  # still block style


# --- one reproduced project that the end-to-end tests copy ---------------------------------------
# A full `dvc repro` of a copy is most of what the end-to-end files cost. It is run once per test
# session; each file that needs a reproduced project copies it (git history, DVC cache, run cache,
# MLflow store) and goes on from there, as a user goes on from a finished `dvc repro`.


@dataclass(frozen=True)
class Reproduced:
    """A committed copy of the project after a first full `dvc repro` on generated data."""

    repo: Path
    env: dict[str, str]  # MNIST_MIRROR: the generated data; MLFLOW_TRACKING_URI: this copy's store
    mlflow_uri: str
    repro: subprocess.CompletedProcess  # the first `dvc repro` (run once, in the shared original)
    status: subprocess.CompletedProcess  # `dvc status` right after it


# The generated data: a twentieth of the test labels wrong, so that every model errs (the confusion
# charts have errors to colour) and still scores far above chance.
REPRODUCED_DATA = {"n_train": 1000, "n_test": 300, "seed": 0, "test_label_noise": 0.05}


def _build_reproduced(base: Path) -> None:
    """The shared original: base/project (committed after `dvc repro`), base/mirror, base/mlflow."""
    repo, mirror, store = base / "project", base / "mirror", base / "mlflow"
    for folder in (repo, store):
        folder.mkdir(parents=True)
    copy_project(repo)
    init_repo(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "copy of the project")
    edit_params(repo / "params.yaml", write_mnist(mirror, **REPRODUCED_DATA))
    git(repo, "commit", "-q", "-am", "small generated data, tiny models, 2 epochs")
    env = {**base_env(), "MNIST_MIRROR": str(mirror), "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    umask = os.umask(0o022)  # the stages inherit it (test_operations checks the modes it gives)
    try:
        repro = run([DVC, "repro"], repo, env)
    finally:
        os.umask(umask)
    status = run([DVC, "status"], repo, env)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first run")
    done = {"repro": [repro.stdout, repro.stderr], "status": [status.stdout, status.stderr]}
    (base / "done.json").write_text(json.dumps(done), encoding="utf-8")  # last: the build is complete


@pytest.fixture(scope="session")
def reproduced_original(tmp_path_factory) -> Path:
    """The folder of the shared original, built by the first test that asks for it in this session."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    base = root / "reproduced"
    with FileLock(root / "reproduced.lock"):  # the other workers wait for the one building it
        if not (base / "done.json").is_file():
            shutil.rmtree(base, ignore_errors=True)  # a build that failed half-way
            _build_reproduced(base)
    return base


def copy_reproduced(original: Path, dest: Path) -> Reproduced:
    """A copy of the shared original in ``dest``, with its own copy of the MLflow store.

    The store's experiment keeps the original's artifact folder (MLflow records it as an absolute
    path), so new runs of every copy put their artifacts there, each under its own run id; the
    copies leave out that folder and never write into the original's project otherwise."""
    repo, store = dest / "project", dest / "mlflow"
    top = str(original / "project")
    shutil.copytree(original / "project", repo, symlinks=True, ignore=lambda d, _: {"mlruns"} if d == top else set())
    shutil.copytree(original / "mlflow", store)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    env = {**base_env(), "MNIST_MIRROR": str(original / "mirror"), "MLFLOW_TRACKING_URI": uri}
    done = json.loads((original / "done.json").read_text(encoding="utf-8"))
    repro, status = (subprocess.CompletedProcess([DVC, cmd], 0, *done[cmd]) for cmd in ("repro", "status"))
    return Reproduced(repo, env, uri, repro, status)


# --- failures: what a stage said, and bringing the last good outputs back -----------------------


def snapshot(repo: Path) -> dict[str, str]:
    """SHA-256 of the train stage's outputs and the data (what a failure must not touch)."""
    files = [
        "models/ann.pt",
        "plots/ann/history.csv",
        "plots/ann/steps.csv",
        "metrics/ann-train.json",
        *(f"data/processed/{n}" for n in ("train.npz", "val.npz", "test.npz", "info.json")),
    ]
    return {f: hashlib.sha256((repo / f).read_bytes()).hexdigest() for f in files}


def error_lines(stderr: str) -> list[str]:
    """The stage's own lines in DVC's output (DVC adds its ERROR line about the failed command)."""
    return [line for line in stderr.splitlines() if line.startswith(("error: ", "interrupted"))]


RESTORE = re.compile(r"; `([^`]+)` brings back the last good outputs$")
# What brings train@ann's outputs back: DVC's cache has the checkpoint and test answers, git the
# metrics and plot data (`dvc checkout` skips `cache: false` outputs).
RESTORE_ANN = (
    "dvc checkout train@ann && git checkout -- metrics/ann-train.json plots/ann/steps.csv plots/ann/history.csv"
)


def restore(repo: Path, env: dict[str, str], line: str) -> None:
    """Run the command ``line`` names for bringing the last good outputs back."""
    match = RESTORE.search(line)
    assert match, line
    env = {**env, "PATH": f"{Path(DVC).parent}{os.pathsep}{env['PATH']}"}
    proc = subprocess.run(match.group(1), shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (match.group(1), proc.stdout, proc.stderr)


def mlflow_statuses(env: dict[str, str]) -> list[str]:
    """The status of every run in the store ``env`` logs to, oldest first (read in this process:
    a new Python importing MLflow for each look would cost more than the look)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["attributes.start_time ASC"], max_results=1000)
    return [r.info.status for r in runs]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def training_at_epoch_2(repo: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """A `dvc repro train@ann` of 400 epochs, in a session of its own, once its second epoch is
    done: yields the process and its output so far. Afterwards whatever is left of the session
    is killed and params.yaml is put back."""
    import yaml

    text = (repo / "params.yaml").read_text(encoding="utf-8")
    epochs = yaml.safe_load(text)["ann"]["train"]["epochs"]
    (repo / "params.yaml").write_text(text.replace(f"    epochs: {epochs}\n", "    epochs: 400\n", 1), encoding="utf-8")
    proc = subprocess.Popen(
        [DVC, "repro", "train@ann"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            output.append(line)
            if line.startswith("epoch   2/400"):
                break
            assert time.monotonic() < deadline, "training never reached epoch 2"
        yield proc, output
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        (repo / "params.yaml").write_text(text, encoding="utf-8")


# --- the order pytest-xdist hands out the files ---------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """The files with slow (e2e) tests first: pytest-xdist (``--dist loadfile
    --no-loadscope-reorder``, pyproject.toml) gives each worker a whole file at a time in this
    order, so the long ones start first and the quick files fill in around them, and the workers
    finish together. Among the slow files, the longest that copies the reproduced project
    (``reproduced_original``) goes first, so its worker builds that project while the others
    take the slow files that need none; the other files that copy it come after those. Within
    each of these groups the longer files go first (``LONGEST_FIRST``), so that no worker ends
    the suite alone on a long one. The order inside a file is kept; no test depends on another
    file's."""
    slow = {item.path for item in items if item.get_closest_marker("e2e")}
    copying = {item.path for item in items if "reproduced_original" in item.fixturenames}

    def rank(item) -> tuple[int, int]:
        name = item.path.name
        length = LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
        if name == FIRST_BUILDER:
            return 0, length
        if item.path in slow:
            return (2 if item.path in copying else 1), length
        return (3 if name in LONGEST_FIRST else 4), length

    items.sort(key=rank)


# The file whose worker builds the reproduced project: the longest of those that copy it.
FIRST_BUILDER = "test_end_to_end.py"
# The files that take longest, longest first: the slow (e2e) ones, then those without slow tests
# that still take a while (a browser, a server). The rest are quick, in any order.
LONGEST_FIRST = (
    "test_end_to_end.py",
    "test_add_model.py",
    "test_failures.py",
    "test_tracking_server.py",
    "test_seeds.py",
    "test_serve.py",
    "test_add_registry_entry.py",
    "test_distributed.py",
    "test_tracking.py",
    "test_plots_compare.py",
    "test_predict.py",
    "test_operations.py",
    "test_serve_page.py",
    "test_offline_plots.py",
    "test_report.py",
)
