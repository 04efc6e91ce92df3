"""Working as a team: the pipeline logging to a shared MLflow tracking server.

A real `mlflow server` (SQLite backend store, `--serve-artifacts` into a local
`--artifacts-destination`) on 127.0.0.1 and a free port; `dvc repro --force --single-item
train@ann` and the track stage for ann, in a copy of the reproduced
project (conftest's `reproduced_original`: generated data) with
MLFLOW_TRACKING_URI=http://127.0.0.1:<port>. Read back through the
server's API: one run with the params, per-epoch steps, datasets, history, evaluation and plot
artifacts and the model (registered, loadable through the server), the results attached to the training run,
every artifact on the server's side and nothing in the project's mlruns/.

Where PostgreSQL (initdb) and its driver (requirements-postgres.txt: psycopg) are installed, a second
test runs a server on a private PostgreSQL cluster and logs a run through it.
Servers are always stopped (their process groups).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (
    INITDB,
    DVC,
    VENV_BIN,
    base_env,
    copy_reproduced,
    run,
    stages_ran,
    wait_for,
)

pytestmark = pytest.mark.e2e

MLFLOW = str(VENV_BIN / "mlflow")
PYTHON = str(VENV_BIN / "python")
START_TIMEOUT_S = 120  # a fresh backend store runs MLflow's schema migrations first
# The stages that talk to MLflow: training logs the run, track attaches the evaluate and plot stages'
# files to it (the copy's: a retraining gives the same checkpoint, so they are its files too).
SLICE = ("train@ann",)
ANN_PNGS = {
    "accuracy_train_vs_test.png",
    "confusion_matrix.png",
    "loss_curve.png",
    "loss_train_vs_test.png",
    "misclassified.png",
    "roc_curve.png",
    "activation_first_last.png",
    "k_per_epoch.png",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class Server:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path):
        self.url, self.proc, self.log = url, proc, log

    def wait_ready(self) -> str:
        """Wait (bounded) until the server answers /health; return its URL."""
        try:
            wait_for(f"{self.url}/health", self.proc, START_TIMEOUT_S, "mlflow server")
        except BaseException:
            print(self.log.read_text(errors="replace")[-3000:])
            raise
        return self.url


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log: Path):
    """Start `mlflow server` with ``backend_uri`` and served artifacts in ``artifacts``; yield it
    at once (it starts while the caller prepares; ``wait_ready`` before use), always stop it."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                MLFLOW,
                "server",
                "--backend-store-uri",
                backend_uri,
                "--serve-artifacts",
                "--artifacts-destination",
                str(artifacts),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            # No job runners: the pipeline starts no server jobs (they serve MLflow's GenAI
            # features), and their three processes would take CPU from the other tests' workers.
            env={**base_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=artifacts.parent,
        )
    try:
        yield Server(f"http://127.0.0.1:{port}", proc, log)
    finally:
        stop(proc)


def client(uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_the_pipeline_logs_to_a_tracking_server(reproduced_original, tmp_path):
    import mlflow

    server_dir = tmp_path / "server"
    server_dir.mkdir()
    artifacts = server_dir / "artifacts"
    with mlflow_server(f"sqlite:///{server_dir / 'mlflow.db'}", artifacts, server_dir / "server.log") as server:
        repo = copy_reproduced(reproduced_original, tmp_path).repo
        url = server.wait_ready()
        env = {**base_env(), "MNIST_MIRROR": str(reproduced_original / "mirror"), "MLFLOW_TRACKING_URI": url}
        checkpoint = (repo / "models/ann.pt").read_bytes()
        repro = run([DVC, "repro", "--force", "--single-item", *SLICE], repo, env)
        out = repro.stdout + repro.stderr
        assert stages_ran(out) == set(SLICE), out
        assert (repo / "models/ann.pt").read_bytes() == checkpoint  # what evaluate and plot saw
        tracked = run([PYTHON, "-m", "stages.track", "ann"], repo, env)  # the track stage, for this one model
        # (MLflow adds its "View run … at <url>" lines when a run on a server ends.)
        assert "track ann: test metrics, 4 evaluation files and 8 figures logged" in tracked.stdout.splitlines(), (
            tracked.stdout + tracked.stderr
        )
        again = run([PYTHON, "-m", "stages.track", "ann"], repo, env)
        assert "track ann: up to date" in again.stdout.splitlines(), again.stdout + again.stderr

        c = client(url)
        experiment = c.get_experiment_by_name("mnist")
        assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
        [r] = c.search_runs([experiment.experiment_id])
        run_id = r.info.run_id
        assert r.info.status == "FINISHED" and r.info.run_name == "ann"
        assert r.data.tags["dvc.stage"] == "train@ann" and r.data.tags["model"] == "ann"
        import hashlib

        assert r.data.tags["checkpoint_sha256"] == hashlib.sha256((repo / "models/ann.pt").read_bytes()).hexdigest()
        assert r.data.params["init.k1"] == "1.0" and r.data.params["ann.train.epochs"] == "2"
        assert [m.step for m in c.get_metric_history(run_id, "loss/train")] == [1, 2]
        assert [m.step for m in c.get_metric_history(run_id, "untrained/loss/train")] == [0]
        assert [m.step for m in c.get_metric_history(run_id, "k/k1")] == [0, 1, 2]
        evaluated = (repo / "metrics/ann.json").read_text()
        import json

        assert r.data.metrics["test/accuracy"] == pytest.approx(json.loads(evaluated)["accuracy"])
        assert r.data.metrics["final/k1"] == pytest.approx(
            json.loads((repo / "metrics/ann-train.json").read_text())["k1"]
        )
        assert {i.dataset.name for i in r.inputs.dataset_inputs} == {"mnist-train", "mnist-val", "mnist-test"}

        # Artifacts went through the server into its destination; the project kept none.
        assert {a.path for a in c.list_artifacts(run_id, "history")} == {
            "history/history.csv",
            "history/steps.csv",
            "history/ann-train.json",
        }
        assert {a.path for a in c.list_artifacts(run_id, "evaluation")} == {
            "evaluation/ann.json",
            "evaluation/per_class.csv",
            "evaluation/roc.csv",
            "evaluation/confusion.csv",
        }
        assert {Path(a.path).name for a in c.list_artifacts(run_id, "plots")} == ANN_PNGS
        downloaded = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="evaluation/ann.json", tracking_uri=url, dst_path=str(tmp_path / "dl")
            )
        )
        assert downloaded.read_text() == evaluated
        assert list(artifacts.rglob("ann.json")) and list(artifacts.rglob("MLmodel")), (
            "artifacts are not in the server's destination"
        )
        assert not (repo / "mlruns").exists() and not (repo / "mlflow.db").exists()

        # The model: logged, linked to its test metrics, registered, loadable through the server.
        [output] = r.outputs.model_outputs
        logged = c.get_logged_model(output.model_id)
        assert {m.key: m.dataset_name for m in logged.metrics}["test/accuracy"] == "mnist-test"
        [version] = c.search_model_versions("name = 'mnist-ann'")
        assert version.run_id == run_id
        previous = mlflow.get_tracking_uri()
        try:
            mlflow.set_tracking_uri(url)  # the registry follows it
            served = mlflow.pyfunc.load_model("models:/mnist-ann/latest")
        finally:
            mlflow.set_tracking_uri(previous)
        import numpy as np

        test = np.load(repo / "data/processed/test.npz")
        assert (served.predict(test["x"][:20]).argmax(axis=1) == test["y"][:20]).mean() >= 0.9


# --- PostgreSQL, where it is installed ---------------------------------------------------------


def postgres_bin() -> Path | None:
    """The folder of initdb and postgres (a PATH entry may be a link into Debian's folder)."""
    return INITDB.resolve().parent if INITDB else None


@contextlib.contextmanager
def postgres_cluster(port: int):
    """A private PostgreSQL cluster on 127.0.0.1:``port`` (trust auth, user ``mlflow``, database
    ``mlflow``) in a temporary folder; run as the ``postgres`` user when we are root."""
    bin_dir = postgres_bin()
    as_user: dict = {}
    data = Path(tempfile.mkdtemp(prefix="mnistflow-pg-"))  # not under tmp_path: the postgres user must reach it
    try:
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(data, pw.pw_uid, pw.pw_gid)
            as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(data)}
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data / "db"),
                "-U",
                "mlflow",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            env=env,
            cwd=data,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            **as_user,
        )
        server = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data / "db"),
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            env=env,
            cwd=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **as_user,
        )
        try:
            import psycopg

            deadline = time.monotonic() + 60
            while True:
                try:
                    con = psycopg.connect(
                        host="127.0.0.1",
                        port=port,
                        user="mlflow",
                        dbname="postgres",
                        connect_timeout=2,
                        autocommit=True,
                    )
                    break
                except psycopg.OperationalError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(
                            "PostgreSQL did not start: "
                            f"{server.stdout.read() if server.poll() is not None else 'no answer in 60 s'}"
                        )
                    time.sleep(0.3)
            con.execute("CREATE DATABASE mlflow")
            con.close()
            yield f"postgresql://mlflow@127.0.0.1:{port}/mlflow"
        finally:
            stop(server)
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed (apt-get install postgresql)")
def test_a_tracking_server_on_postgresql(tmp_path, monkeypatch):
    pytest.importorskip(
        "psycopg", reason="the PostgreSQL driver is not installed (pip install -r requirements-postgres.txt)"
    )
    import numpy as np
    import psycopg
    import torch

    from conftest import init_section, mlp_model, synthetic_digits
    from mnistflow import tracking
    from mnistflow.models import build_model, mlp_spec

    with postgres_cluster(free_port()) as database:
        (tmp_path / "server").mkdir()
        with mlflow_server(database, tmp_path / "server" / "artifacts", tmp_path / "server" / "server.log") as server:
            url = server.wait_ready()
            monkeypatch.chdir(tmp_path)
            monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
            monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
            tracking.forget_checked_stores()
            x, y = synthetic_digits(20, seed=0)
            features = (x / 255).astype(np.float32)
            Path("data").mkdir()
            np.savez("data/train.npz", x=features, y=y)
            arch, kwargs = mlp_spec(mlp_model(hidden=(8,)), init_section(), seed=0)
            torch.manual_seed(0)
            try:
                with tracking.training_run("train@ann", "ann", {"ann.train.lr": 0.001}) as logged:
                    logged.log_dataset("train", "data/train.npz", features, y)
                    logged.log_epoch({"epoch": 1, "lr": 0.1, "train_loss": 2.3, "train_acc": 0.1}, 0.5)
                    logged.log_model(
                        build_model(arch, kwargs), example=features[:2], data_info={"standardize": False}, step=0
                    )
                    run_id = logged.run_id
            finally:
                tracking.forget_checked_stores()
            r = client(url).get_run(run_id)
            assert (
                r.info.status == "FINISHED"
                and r.data.params["ann.train.lr"] == "0.001"
                and "loss/train" in r.data.metrics
            )
            assert str(client(url).search_model_versions("name = 'mnist-ann'")[0].version) == "1"
        with psycopg.connect(database) as con:
            rows = con.execute("SELECT run_uuid, status FROM runs").fetchall()
        assert rows == [(run_id, "FINISHED")]  # the run is in PostgreSQL itself
