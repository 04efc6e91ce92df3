"""End to end: the real `dvc repro` / `dvc exp run` / `dvc metrics diff` on a copy of the project.

Runs the five stages on small generated MNIST files (never the real MNIST) served through
$MNIST_MIRROR, with an unreachable http mirror configured after it, and checks the MLflow store.
Slow (about a minute or two on 2 CPU cores): deselect with ``-m "not e2e"``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import write_mnist

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
# The project's venv (its python runs the stages, its dvc the pipeline), else the one running pytest.
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "dvc").is_file() else Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")
STAGES = ("download", "preprocess", "train-ann", "evaluate", "plot")
SKIPPED_PREFIXES = ("dvc.lock", "metrics/", "plots/", "data/")
PNGS = {
    "accuracy_train_vs_test.png",
    "activation_first_last.png",
    "confusion_matrix.png",
    "k_per_epoch.png",
    "loss_curve.png",
    "loss_train_vs_test.png",
}
# Ten classes: chance is 0.10. The synthetic digits (a bright block whose position is the class)
# reach ~1.0 test accuracy after 2 epochs here; 0.9 leaves room for other CPUs and BLAS builds.
MIN_ACCURACY = 0.9


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def ran(output: str, stage: str) -> bool:
    return f"Running stage '{stage}'" in output


def skipped(output: str, stage: str) -> bool:
    return f"Stage '{stage}' didn't change, skipping" in output


def exp_name(output: str) -> str:
    match = re.search(r"Ran experiment\(s\): (\S+)", output)
    assert match, f"no experiment name in the output:\n{output}"
    return match.group(1)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def search_runs(uri: str) -> list:
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=["mnist"], output_format="list")
    finally:
        mlflow.set_tracking_uri(previous)


@dataclass
class Project:
    repo: Path
    env: dict[str, str]
    mlflow_uri: str
    repro: subprocess.CompletedProcess
    status: subprocess.CompletedProcess
    train_metrics: dict
    eval_metrics: dict


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_", "GIT_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
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


def edit_params(path: Path, checksums: dict[str, str]) -> None:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments and block-style lists survive
    params = yaml.load(path)
    params["download"]["sha256"] = dict(checksums)
    params["download"]["mirrors"] = ["http://127.0.0.1:9/"]
    params["download"]["timeout_s"] = 2.0
    train = params["ann"]["train"]
    train["epochs"] = 2
    train["batch_size"] = 64
    train["device"] = "cpu"
    train["log_every"] = 5
    yaml.dump(params, path)
    assert "- http://127.0.0.1:9/" in path.read_text(encoding="utf-8")  # still block style


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Project:
    """A committed copy of the project after a first full `dvc repro` on generated data."""
    repo = tmp_path_factory.mktemp("project")
    copy_project(repo)
    assert not (repo / "dvc.lock").exists() and not (repo / "metrics").exists()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "e2e test")
    git(repo, "config", "user.email", "e2e@example.invalid")
    git(repo, "config", "commit.gpgsign", "false")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "copy of the project")

    mirror = tmp_path_factory.mktemp("mirror")
    checksums = write_mnist(mirror, n_train=1000, n_test=300, seed=0)
    edit_params(repo / "params.yaml", checksums)
    git(repo, "commit", "-q", "-am", "small generated data, 2 epochs")

    env = base_env()
    env["MNIST_MIRROR"] = str(mirror)
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    env["MLFLOW_TRACKING_URI"] = uri

    repro = run([DVC, "repro"], repo, env)
    status = run([DVC, "status"], repo, env)
    project = Project(
        repo=repo,
        env=env,
        mlflow_uri=uri,
        repro=repro,
        status=status,
        train_metrics=read_json(repo / "metrics/ann-train.json"),
        eval_metrics=read_json(repo / "metrics/ann.json"),
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first run")
    return project


def test_repro_then_experiment(project: Project) -> None:
    repo, env = project.repo, project.env

    # 3. The first `dvc repro` ran every stage, from the generated data.
    out = project.repro.stdout + project.repro.stderr
    for stage in STAGES:
        assert ran(out, stage), f"stage {stage} did not run:\n{out}"
    assert project.eval_metrics["n"] == 300
    assert project.eval_metrics["accuracy"] >= MIN_ACCURACY
    assert project.train_metrics["epochs"] == 2
    assert project.train_metrics["test_acc"] >= MIN_ACCURACY
    assert project.train_metrics["test_acc"] == pytest.approx(project.eval_metrics["accuracy"], abs=1e-9)
    assert {p.name for p in (repo / "plots/ann/images").glob("*.png")} == PNGS
    status = project.status.stdout + project.status.stderr
    assert "Data and pipelines are up to date." in status, status
    assert git(repo, "status", "--porcelain") == ""  # the fixture committed every result

    # 4. A new k1 start: only the stages that read `init` (and those after them) run again.
    exp = run([DVC, "exp", "run", "-S", "init.k1=0.5"], repo, env)
    out = exp.stdout + exp.stderr
    for stage in ("download", "preprocess"):
        assert skipped(out, stage) and not ran(out, stage), f"stage {stage} ran again:\n{out}"
    for stage in ("train-ann", "evaluate", "plot"):
        assert ran(out, stage), f"stage {stage} did not run:\n{out}"
    name = exp_name(out)
    train2 = read_json(repo / "metrics/ann-train.json")
    assert train2["k1"] != pytest.approx(project.train_metrics["k1"], abs=1e-6)
    assert read_json(repo / "metrics/ann.json")["accuracy"] >= MIN_ACCURACY

    # 5. `dvc metrics diff` sees the change between HEAD and the workspace.
    diff = json.loads(run([DVC, "metrics", "diff", "--json"], repo, env).stdout)
    k1 = diff["metrics/ann-train.json"]["k1"]
    assert k1["old"] == pytest.approx(project.train_metrics["k1"])
    assert k1["new"] == pytest.approx(train2["k1"])

    # 6. MLflow: one run per training; the experiment's run is tagged with its name and holds
    # the evaluate stage's test metrics beside the training's own.
    runs = search_runs(project.mlflow_uri)
    assert len(runs) == 2, [r.info.run_name for r in runs]
    by_k1 = {r.data.params["init.k1"]: r for r in runs}
    assert set(by_k1) == {"1.0", "0.5"}
    first, second = by_k1["1.0"], by_k1["0.5"]
    assert "dvc.exp_name" not in first.data.tags
    assert second.data.tags["dvc.exp_name"] == name
    assert second.info.run_name == f"ann-{name}"
    for r, train in ((first, project.train_metrics), (second, train2)):
        assert r.data.tags["dvc.stage"] == "train-ann"
        assert r.data.metrics["test_accuracy"] >= MIN_ACCURACY
        assert r.data.metrics["final_k1"] == pytest.approx(train["k1"])


def test_temp_experiment_logs_to_project_store(project: Project) -> None:
    """Without MLFLOW_TRACKING_URI, a `--temp` experiment's run lands in <project>/mlflow.db."""
    repo = project.repo
    env = {k: v for k, v in project.env.items() if k != "MLFLOW_TRACKING_URI"}
    store = repo / "mlflow.db"
    assert not store.exists()

    exp = run([DVC, "exp", "run", "--temp", "-S", "init.k1=0.7"], repo, env)
    out = exp.stdout + exp.stderr
    name = exp_name(out)
    assert ran(out, "train-ann"), out

    assert store.is_file(), f"no {store}; the run went elsewhere:\n{out}"
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT r.run_uuid, r.name FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE t.key = 'dvc.exp_name' AND t.value = ?",
            (name,),
        ).fetchall()
    assert len(rows) == 1, rows
    [run_] = search_runs(f"sqlite:///{store}")
    assert run_.data.tags["dvc.exp_name"] == name
    assert run_.data.params["init.k1"] == "0.7"
    assert "test_accuracy" in run_.data.metrics
