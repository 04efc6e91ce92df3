"""MLflow tracking (src/mnistflow/tracking.py): what a run records, and how the store fails.

- A training run records the datasets it read (by content hash), per-epoch metrics under
  grouped names, the model (logged, registered as mnist-<model>, servable), and the evaluate
  stage's test metrics linked to that model and the test dataset.
- The store is checked before a stage works: an unreachable or silent server, a damaged or
  read-only SQLite file, a deleted experiment: one line naming it and the fix, in seconds.
- Parallel processes share a fresh SQLite store (MLflow's own schema creation races).
- Runs end FINISHED, FAILED (an exception) or KILLED (an interruption).

Stores live in tmp_path; servers are plain sockets on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, VENV_BIN, base_env, init_section, mlp_model, synthetic_digits
from mnistflow import tracking
from mnistflow.errors import Interrupted, UserError
from mnistflow.models import build_model, mlp_spec

PYTHON = str(VENV_BIN / "python")


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite database with its tables and nothing else. Creating them runs MLflow's
    schema migrations, which take far longer than a copy; each test copies this file instead."""
    import mlflow

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store) -> str:
    """A new SQLite store in tmp_path, the project root being tmp_path (artifacts in mlruns/)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlflow.db").write_bytes(empty_store.read_bytes())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    tracking.forget_checked_stores()
    yield uri
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()
    tracking.forget_checked_stores()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client(uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def tiny_model(seed: int = 0):
    arch, kwargs = mlp_spec(mlp_model(hidden=(8,)), init_section(), seed=seed)
    torch.manual_seed(seed)
    return build_model(arch, kwargs)


# --- names -------------------------------------------------------------------------------------


def test_metric_names_are_grouped_as_the_mlflow_ui_charts_them():
    row = {
        "epoch": 3,
        "lr": 0.01,
        "train_loss": 0.5,
        "val_loss": 0.6,
        "test_loss": 0.7,
        "train_acc": 0.9,
        "val_acc": 0.8,
        "test_acc": 0.85,
        "k0": 0.1,
        "k1": 0.9,
        "k0_l1": 0.2,
    }
    assert tracking.epoch_metrics(row, 1.5) == {
        "lr": 0.01,
        "loss/train": 0.5,
        "loss/val": 0.6,
        "loss/test": 0.7,
        "acc/train": 0.9,
        "acc/val": 0.8,
        "acc/test": 0.85,
        "k/k0": 0.1,
        "k/k1": 0.9,
        "k/k0_l1": 0.2,
        "time/epoch_seconds": 1.5,
    }
    # Epoch 0, the untrained network: its scores under their own keys, the rest as a step 0.
    untrained = tracking.epoch_metrics({**row, "epoch": 0}, 1.5)
    assert untrained["untrained/acc/test"] == 0.85 and untrained["untrained/loss/train"] == 0.5
    assert not [k for k in untrained if k.startswith(("acc/", "loss/"))]
    assert untrained["k/k1"] == 0.9 and untrained["lr"] == 0.01
    assert tracking.registered_name("deepcnn") == "mnist-deepcnn"
    assert tracking.redact("postgresql://mlflow:s3cret@db:5432/mlflow") == "postgresql://mlflow:***@db:5432/mlflow"


# --- what a run records ------------------------------------------------------------------------
@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_a_training_run_records_data_model_and_linked_test_metrics(store, tmp_path):
    import mlflow

    x, y = synthetic_digits(40, seed=0)
    mean, std = 0.2, 0.3  # a standardised pipeline: the served model must undo nothing the client did
    features = ((x.astype(np.float32) / 255 - mean) / std).astype(np.float32)
    Path("data/processed").mkdir(parents=True)
    for split in ("train", "test"):
        np.savez(f"data/processed/{split}.npz", x=features, y=y.astype(np.int64))
    checkpoint = Path("models/ann.pt")
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"weights")
    model = tiny_model()

    with tracking.training_run("train@ann", "ann", {"ann.train.lr": 0.001}) as run:
        run.log_dataset("train", "data/processed/train.npz", features, y)
        for epoch in range(3):
            run.log_epoch(
                {"epoch": epoch, "lr": 0.1, "train_loss": 2.0 - epoch, "train_acc": 0.1 * epoch, "k0": 0.0, "k1": 1.0},
                seconds=0.5,
            )
        run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint)})
        model_id = run.log_model(
            model, example=features[:2], data_info={"standardize": True, "mean": mean, "std": std}, step=2
        )
        run.log_metrics({"final/train_loss": 0.0}, for_model=True)
        run_id = run.run_id
    with tracking.attach(checkpoint) as attached:
        assert attached is not None and attached.run_id == run_id and attached.model_id == model_id
        attached.log_dataset("test", "data/processed/test.npz", features, y)
        attached.log_metrics({"test/accuracy": 0.75}, dataset="test", for_model=True)

    c = client(store)
    recorded = c.get_run(run_id)
    assert recorded.info.status == "FINISHED"
    # The curves start at epoch 1; the untrained network's scores are logged once, under their own keys.
    assert [(m.step, m.value) for m in c.get_metric_history(run_id, "loss/train")] == [(1, 1.0), (2, 0.0)]
    assert [(m.step, m.value) for m in c.get_metric_history(run_id, "untrained/loss/train")] == [(0, 2.0)]
    assert [(m.step, m.value) for m in c.get_metric_history(run_id, "k/k1")] == [(0, 1.0), (1, 1.0), (2, 1.0)]
    assert {"lr", "acc/train", "k/k0", "k/k1", "time/epoch_seconds", "final/train_loss", "test/accuracy"} <= set(
        recorded.data.metrics
    )
    assert "epoch" not in recorded.data.metrics and "train_loss" not in recorded.data.metrics
    sha = hashlib.sha256(Path("data/processed/train.npz").read_bytes()).hexdigest()
    inputs = {i.dataset.name: i for i in recorded.inputs.dataset_inputs}
    assert set(inputs) == {"mnist-train", "mnist-test"}
    assert inputs["mnist-train"].dataset.digest == sha[:32]
    assert {t.key: t.value for t in inputs["mnist-train"].tags}["mlflow.data.context"] == "training"
    assert {t.key: t.value for t in inputs["mnist-train"].tags}["sha256"] == sha

    # The model: its metrics are the trained ones (step 2), the test metric carries the dataset.
    logged = mlflow.get_logged_model(model_id)
    linked = {m.key: m for m in logged.metrics}
    assert linked["loss/train"].value == 0.0 and linked["loss/train"].step == 2
    assert linked["final/train_loss"].value == 0.0
    assert linked["test/accuracy"].value == 0.75 and linked["test/accuracy"].dataset_name == "mnist-test"
    assert (
        linked["test/accuracy"].dataset_digest
        == hashlib.sha256(Path("data/processed/test.npz").read_bytes()).hexdigest()[:32]
    )

    # Registered as mnist-ann, with the input format in its description; the served model takes
    # pixels in [0, 1] and answers the network's softmax on standardised pixels.
    [version] = c.search_model_versions("name = 'mnist-ann'")
    assert (
        str(version.version) == "1"
        and version.run_id == run_id
        and "float32 pixel values in [0, 1]" in version.description
    )
    served = mlflow.pyfunc.load_model("models:/mnist-ann/latest")
    pixels = (x[:3].astype(np.float32) / 255).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(model.eval()(torch.from_numpy(features[:3])), dim=1).numpy()
    answer = served.predict(pixels)
    assert answer.shape == (3, 10)
    np.testing.assert_allclose(answer, expected, atol=1e-5)
    signature = served.metadata.get_input_schema().inputs[0]
    assert signature.type == np.dtype("float32") and signature.shape == (-1, 28, 28)


def test_a_yes_no_model_serves_the_positive_class_probability():
    model = tiny_model()
    model.out = torch.nn.Linear(8, 1)  # one logit
    served = tracking.served_module(model, binary=True).eval()
    x = torch.rand(4, 28, 28)
    with torch.no_grad():
        p = served(x)
        assert p.shape == (4,)
        torch.testing.assert_close(p, torch.sigmoid(model(x).squeeze(1)))


@pytest.mark.parametrize("context", ["training_run", "attach"])
@pytest.mark.parametrize(
    "raised, status",
    [
        (None, "FINISHED"),
        (RuntimeError("a bug"), "FAILED"),
        (UserError("bad params"), "FAILED"),
        (Interrupted(signal.SIGTERM), "KILLED"),
        (KeyboardInterrupt(), "KILLED"),
    ],
)
def test_a_run_ends_finished_failed_or_killed(store, context, raised, status):
    checkpoint = Path("ann.pt")
    checkpoint.write_bytes(b"checkpoint")
    with tracking.training_run("train@ann", "ann", {}) as run:
        run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint)})
        run_id = run.run_id
    opened = tracking.training_run("train@ann", "ann", {}) if context == "training_run" else tracking.attach(checkpoint)
    with pytest.raises(type(raised)) if raised is not None else _nothing():
        with opened as run:
            run_id = run.run_id
            if raised is not None:
                raise raised
    assert client(store).get_run(run_id).info.status == status


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- the experiment --------------------------------------------------------------------------


def test_the_experiment_name_comes_from_the_environment(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mnist-sweep")
    with tracking.training_run("train@ann", "ann", {}) as run:
        run_id = run.run_id
    c = client(store)
    assert c.get_experiment(c.get_run(run_id).info.experiment_id).name == "mnist-sweep"
    assert c.get_experiment_by_name("mnist") is None


def test_another_process_creating_the_experiment_first_is_no_error(store, monkeypatch):
    """The create/create race: our lookup says "missing", another process creates it, ours
    gets RESOURCE_ALREADY_EXISTS and reads it again."""
    import mlflow

    mlflow.set_tracking_uri(store)
    winner = mlflow.MlflowClient().create_experiment("mnist")  # the other process
    real = mlflow.MlflowClient.get_experiment_by_name
    calls = []

    def stale_then_real(self, name):
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)

    monkeypatch.setattr(mlflow.MlflowClient, "get_experiment_by_name", stale_then_real)
    assert tracking.check_store() == winner
    assert len(calls) == 2


def test_a_deleted_experiment_is_one_line_saying_how_to_restore_it(store):
    import mlflow

    mlflow.set_tracking_uri(store)
    experiment_id = mlflow.MlflowClient().create_experiment("mnist")
    mlflow.MlflowClient().delete_experiment(experiment_id)
    with pytest.raises(UserError) as caught:
        tracking.check_store()
    assert str(caught.value) == (
        f"MLflow experiment 'mnist' in {store} is deleted; restore it "
        f"(`mlflow experiments restore --experiment-id {experiment_id}`) "
        "or log to another one (`export MLFLOW_EXPERIMENT_NAME=…`)"
    )


WORKER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    import mlflow  # imported before the start signal, so the processes reach the store together
    from mnistflow import tracking
    deadline = time.monotonic() + 60
    while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
        time.sleep(0.005)
    with tracking.training_run("train@ann", "ann", {"worker": sys.argv[3]}) as run:
        run.log_metrics({"loss/train": 1.0}, step=0)
    """
)


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_parallel_processes_share_a_fresh_sqlite_store(tmp_path):
    """`dvc queue start --jobs 2` on a fresh project: every job creates the store and the
    experiment at once. Unguarded, MLflow's schema creation fails in all but one ("table ...
    already exists", "duplicate column name")."""
    db = tmp_path / "store" / "mlflow.db"
    go = tmp_path / "go"
    env = base_env()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{db}"
    workers = [
        subprocess.Popen(
            [PYTHON, "-c", WORKER, str(ROOT / "src"), str(go), str(i)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for i in range(4)
    ]
    try:
        time.sleep(4)  # their imports (mlflow: 2 s alone)
        go.touch()
        results = [(w.wait(timeout=120), w.stderr.read()) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
    assert [rc for rc, _ in results] == [0, 0, 0, 0], "\n---\n".join(err for _, err in results)
    runs = client(env["MLFLOW_TRACKING_URI"]).search_runs(
        [client(env["MLFLOW_TRACKING_URI"]).get_experiment_by_name("mnist").experiment_id]
    )
    assert sorted(r.data.params["worker"] for r in runs) == ["0", "1", "2", "3"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT name FROM experiments ORDER BY experiment_id").fetchall() == [
            ("Default",),
            ("mnist",),
        ]


# --- failures: one line, in seconds, before any work ---------------------------------------------


def minimal_project(dest: Path) -> Path:
    """What `python -m stages.<name>` needs to start: the code and params (no data, no models)."""
    dest.mkdir()
    for name in ("stages", "src"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(dest / name)], check=True)
    for name in ("params.yaml", "dvc.yaml"):
        (dest / name).write_bytes((ROOT / name).read_bytes())
    return dest


def stage_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_unreachable_server_or_damaged_store_stop_stages_in_one_line_before_any_work(tmp_path):
    """train against a dead server fails in seconds (it hung 4 minutes, then 120 lines of
    traceback); the track stage too, before it looks for any file; a damaged SQLite file is
    named with the command that moves it away. Nothing is written."""
    project = minimal_project(tmp_path / "project")
    port = free_port()  # nothing listens there any more
    dead = f"http://127.0.0.1:{port}"
    env = {**base_env(), "MLFLOW_TRACKING_URI": dead}
    expected = (
        f"error: MLflow tracking server {dead} is unreachable (connection refused); start it "
        "(`mlflow server --host <host> --port <port> …`, "
        "see README) or unset MLFLOW_TRACKING_URI to use the local mlflow.db"
    )

    start = time.monotonic()
    train = subprocess.run(
        [PYTHON, "-m", "stages.train", "ann"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - start
    assert train.returncode == 1 and stage_lines(train.stderr) == [expected], train.stderr
    assert elapsed < 10, f"train took {elapsed:.1f} s to report a dead server"

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not a SQLite database" * 100)
    runs = {
        "dead": subprocess.Popen(
            [PYTHON, "-m", "stages.track"],
            cwd=project,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ),
        "damaged": subprocess.Popen(
            [PYTHON, "-m", "stages.track"],
            cwd=project,
            env={**env, "MLFLOW_TRACKING_URI": f"sqlite:///{damaged}"},
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ),
    }
    try:
        out = {name: (p.wait(timeout=120), p.stderr.read()) for name, p in runs.items()}
    finally:
        for p in runs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    assert out["dead"] == (1, expected + "\n"), out["dead"]
    assert out["damaged"][0] == 1 and stage_lines(out["damaged"][1]) == [
        f"error: MLflow store {damaged} is damaged (file is not a database); move it away "
        f"(`mv {damaged} {damaged}.broken`) "
        "and the next stage starts a new, empty store, or set MLFLOW_TRACKING_URI to another store"
    ], out["damaged"]
    written = sorted(
        str(p.relative_to(project))
        for p in project.rglob("*")
        if not str(p.relative_to(project)).startswith(("stages", "src", "params.yaml", "dvc.yaml"))
    )
    assert written == [], written  # no models/, metrics/, plots/, mlruns/, mlflow.db, staging folders


def test_a_silent_server_is_one_line_after_the_timeout(store, monkeypatch):
    """A server that accepts connections and never answers (hung, or a firewall that drops
    replies): one bounded request, not MLflow's seven retries of 120 s."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts; nobody answers
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        start = time.monotonic()
        with pytest.raises(UserError) as caught:
            tracking.check_store()
        elapsed = time.monotonic() - start
    assert str(caught.value).startswith(
        f"MLflow tracking server {uri} is unreachable (no answer within {tracking.CHECK_TIMEOUT_S:g} s); start it"
    )
    assert elapsed < tracking.CHECK_TIMEOUT_S + 3, elapsed


def test_a_truncated_store_is_one_line(store):
    with tracking.training_run("train@ann", "ann", {"a": 1}) as run:
        run.log_metrics({"loss/train": 1.0})
    path = tracking.sqlite_file(store)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    tracking.forget_checked_stores()
    with pytest.raises(UserError) as caught:
        tracking.check_store()
    assert str(caught.value).startswith(
        f"MLflow store {path} is damaged (database disk image is malformed); move it away (`mv {path} {path}.broken`)"
    )


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` made unwritable for this process: ``chattr +i`` as root (root ignores
    permissions, not the immutable flag), else ``chmod a-w``."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make {path} read-only as root: {made.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_is_one_line(store, tmp_path, what):
    path = tracking.sqlite_file(store)
    with read_only(path if what == "file" else tmp_path), pytest.raises(UserError) as caught:
        tracking.check_store()
    if what == "file":
        assert (
            str(caught.value)
            == f"MLflow store {path} is read-only (no write permission); make it writable (`chmod u+w {path}`) or set "
            "MLFLOW_TRACKING_URI to another store"
        )
    else:
        assert str(caught.value).startswith(
            f"MLflow store {path} is read-only: its folder {tmp_path} is not writable (SQLite writes a journal beside "
            "it); make it writable"
        )


@pytest.mark.parametrize(
    "message, says",
    [
        (
            "(sqlite3.OperationalError) attempt to write a readonly database",
            "is read-only (logging metrics); make it writable",
        ),
        ("(sqlite3.DatabaseError) database disk image is malformed", "is damaged (logging metrics: "),
        (
            "Detected out-of-date database schema (found version 1, but expected 2)",
            "run `mlflow db upgrade sqlite:////tmp/x/mlflow.db`",
        ),
    ],
)
def test_store_failures_during_a_stage_are_one_line(message, says):
    line = tracking.describe_failure(RuntimeError(message), "sqlite:////tmp/x/mlflow.db", "logging metrics")
    assert "\n" not in line and line.startswith("MLflow store /tmp/x/mlflow.db ") and says in line


def test_a_server_or_driver_failing_during_a_stage_is_one_line():
    refused = RuntimeError(
        "API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch failed with exception "
        "HTTPConnectionPool(host='127.0.0.1', "
        "port=5000): Max retries exceeded with url: /api/2.0/mlflow/runs/log-batch (Caused by "
        "NewConnectionError('Failed to establish "
        "a new connection: [Errno 111] Connection refused'))"
    )
    assert tracking.describe_failure(refused, "http://127.0.0.1:5000", "logging metrics") == (
        "MLflow tracking server http://127.0.0.1:5000 stopped answering (logging metrics: connection refused); restart "
        "it and run the stage again, or unset MLFLOW_TRACKING_URI to use the local mlflow.db"
    )
    missing = ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    assert tracking.describe_failure(missing, "postgresql://mlflow:pw@db/mlflow", "opening it") == (
        "MLflow store postgresql://mlflow:***@db/mlflow needs the database driver psycopg (`.venv/bin/pip install -r "
        "requirements-postgres.txt`); install it or unset MLFLOW_TRACKING_URI to use the local mlflow.db"
    )


# --- the registry's champion, the run's end time, the experiment's kind -------------------------


def _train(val_acc: float, seed: int) -> str:
    """One training run that logs and registers a tiny model, then offers it as champion."""
    with tracking.training_run("train@ann", "ann", {}) as run:
        model = tiny_model(seed)
        run.log_model(model, example=np.zeros((2, 28, 28), np.float32), data_info={"standardize": False}, step=1)
        run.promote(val_acc)
        return run.version


def test_champion_moves_only_to_a_strictly_better_version(store):
    import mlflow

    c = client(store)
    first = _train(0.90, seed=0)
    assert str(c.get_model_version_by_alias("mnist-ann", tracking.CHAMPION).version) == first  # the first is champion
    better = _train(0.95, seed=1)
    assert str(c.get_model_version_by_alias("mnist-ann", tracking.CHAMPION).version) == better
    for val_acc in (0.93, 0.95):  # worse, and equal: a queued experiment finishing later moves nothing
        _train(val_acc, seed=2)
        assert str(c.get_model_version_by_alias("mnist-ann", tracking.CHAMPION).version) == better
    versions = {str(v.version): v for v in c.search_model_versions("name = 'mnist-ann'")}
    assert {k: float(v.tags[tracking.VAL_ACC_TAG]) for k, v in versions.items()} == {
        "1": 0.90,
        "2": 0.95,
        "3": 0.93,
        "4": 0.95,
    }
    served = mlflow.pyfunc.load_model("models:/mnist-ann@champion")  # what `mlflow models serve -m` and predict load
    assert served.metadata.run_id == versions[better].run_id


def test_a_version_without_a_recorded_accuracy_loses_the_alias(store):
    """A champion set by hand on a version registered before ``val_acc`` tags existed."""
    first = _train(0.5, seed=0)
    c = client(store)
    c.delete_model_version_tag("mnist-ann", first, tracking.VAL_ACC_TAG)
    second = _train(0.1, seed=1)
    assert str(c.get_model_version_by_alias("mnist-ann", tracking.CHAMPION).version) == second


def test_the_registry_record_says_which_checkpoint_is_champion(store):
    checkpoint = Path("ann.pt")
    checkpoint.write_bytes(b"champion weights")
    with tracking.training_run("train@ann", "ann", {}) as run:
        run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint)})
        run.log_model(tiny_model(), example=np.zeros((2, 28, 28), np.float32), data_info={"standardize": False}, step=1)
        run.promote(0.875)
    found = tracking.champions({"ann": tracking.file_sha256(checkpoint), "mlp": "0" * 64})
    assert found == {
        "ann": {
            "registered_model": "mnist-ann",
            "champion_version": "1",
            "champion_val_acc": 0.875,
            "checkpoint_is_champion": True,
        },
        "mlp": None,  # never registered
    }
    assert tracking.champions({"ann": "f" * 64})["ann"]["checkpoint_is_champion"] is False


def test_reopening_a_run_keeps_its_training_end_time(store):
    checkpoint = Path("ann.pt")
    checkpoint.write_bytes(b"checkpoint")
    with tracking.training_run("train@ann", "ann", {}) as run:
        run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint)})
        run_id = run.run_id
    trained = client(store).get_run(run_id).info
    time.sleep(0.05)
    with tracking.attach(checkpoint) as attached:
        attached.log_metrics({"test/accuracy": 0.5})
    info = client(store).get_run(run_id).info
    assert (info.status, info.start_time, info.end_time) == ("FINISHED", trained.start_time, trained.end_time)
    assert client(store).get_run(run_id).data.metrics["test/accuracy"] == 0.5


def test_the_experiment_is_marked_as_model_training(store):
    import mlflow

    key, kind = tracking.EXPERIMENT_KIND
    assert client(store).get_experiment(tracking.check_store()).tags[key] == kind
    # An experiment made before (or by hand, without the tag) gets it; one given a kind keeps it.
    mlflow.set_tracking_uri(store)
    for name, tags, expected in (("old", {}, kind), ("chosen", {key: "genai_development"}, "genai_development")):
        experiment_id = client(store).create_experiment(name, tags=tags)
        tracking.forget_checked_stores()
        os.environ["MLFLOW_EXPERIMENT_NAME"] = name
        try:
            assert tracking.check_store() == experiment_id
        finally:
            del os.environ["MLFLOW_EXPERIMENT_NAME"]
        assert client(store).get_experiment(experiment_id).tags[key] == expected
