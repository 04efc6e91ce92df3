"""End to end: the real `dvc repro` / `dvc exp run` / `dvc metrics diff` on a copy of the project.

Runs every stage (download, preprocess, the five models' train, evaluate and plot stages, the
summary, the MLflow track stage, the report) on small generated MNIST files (never the real MNIST) served through $MNIST_MIRROR,
with an unreachable http mirror configured after it, and tiny, quick models; then checks the
outputs, what `dvc exp run -S init.k1=0.5` reruns, and the MLflow store.
Slow (about three minutes on 2 CPU cores, mostly the stages' imports): deselect with
``-m "not e2e"``.
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
from mnistflow.paths import pipeline_models

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
# The project's venv (its python runs the stages, its dvc the pipeline), else the one running pytest.
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "dvc").is_file() else Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")
MODELS = tuple(pipeline_models(ROOT / "dvc.yaml"))
TRAIN_STAGES = {m: f"train@{m}" for m in MODELS}
STAGES = (
    "download",
    "preprocess",
    *TRAIN_STAGES.values(),
    *(f"evaluate@{m}" for m in MODELS),
    *(f"plot@{m}" for m in MODELS),
    "summary",
    "track",
    "report",
)
# What a new `init` (read by train@ann only) reruns; everything else is skipped.
INIT_STAGES = ("train@ann", "evaluate@ann", "plot@ann", "summary", "track", "report")
SKIPPED_PREFIXES = ("dvc.lock", "metrics/", "plots/", "data/", "reports/")
PNGS = {
    "accuracy_train_vs_test.png",
    "confusion_matrix.png",
    "loss_curve.png",
    "loss_train_vs_test.png",
    "misclassified.png",
    "roc_curve.png",
}
ANN_PNGS = PNGS | {"activation_first_last.png", "k_per_epoch.png"}
EVAL_KEYS = {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss", "n", "perturbed_accuracy", "perturbed_drop"}
SQUARE_KEYS = EVAL_KEYS | {"threshold", "tn", "fp", "fn", "tp"}
N_TEST = 300
# Ten classes: chance is 0.10 (square: 0.6, the share of non-squares). The synthetic digits (a
# bright block whose position is the class) reach 1.0 test accuracy with every model below after
# 2 epochs in these tests (ann: ~1.0 at batch 64); 0.9 leaves room for other CPUs and BLAS builds.
MIN_ACCURACY = 0.9


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def ran(output: str, stage: str) -> bool:
    # DVC prints "Running stage 'train@lenet5':"; foreach stages by their full name.
    return f"Running stage '{stage}':" in output


def skipped(output: str, stage: str) -> bool:
    return f"Stage '{stage}' didn't change, skipping" in output


def stages_ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)':", output))


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
    train_metrics: dict  # metrics/ann-train.json after the first repro
    eval_metrics: dict  # metrics/<model>.json after the first repro, by model


def base_env() -> dict[str, str]:
    # Nothing of the caller's pipeline settings: CI exports MNIST_MIRROR (the real MNIST), and each
    # test that downloads names its own generated mirror.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_", "GIT_", "MNISTFLOW_")) and k != "MNIST_MIRROR"}
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
    """Generated data, and every model tiny and quick (2 epochs of a few dozen steps, on CPU).

    Between them the models still take every path: augmentation (lenet5), bf16 autocast with
    channels-last (deepcnn), dropout (mlp, deepcnn), the binary task with its threshold (square).
    """
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments and block-style lists survive
    yaml.indent(mapping=2, sequence=4, offset=2)  # params.yaml's own indentation
    yaml.width = 4096  # no wrapped checksums
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
    assert "- http://127.0.0.1:9/" in text and "    channels:\n      - 4\n      - 8\n" in text  # still block style


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
    git(repo, "commit", "-q", "-am", "small generated data, tiny models, 2 epochs")

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
        eval_metrics={m: read_json(repo / f"metrics/{m}.json") for m in MODELS},
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first run")
    return project


def test_repro_then_experiment(project: Project) -> None:
    repo, env = project.repo, project.env

    # 3. The first `dvc repro` ran every stage, from the generated data, and wrote every output.
    out = project.repro.stdout + project.repro.stderr
    assert stages_ran(out) == set(STAGES), out
    for model in MODELS:
        metrics = project.eval_metrics[model]
        if model == "square":
            assert set(metrics) == SQUARE_KEYS, metrics
            assert 0.0 <= metrics["threshold"] <= 1.0
            assert metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"] == N_TEST
            assert metrics["tp"] + metrics["fn"] == N_TEST * 4 // 10  # digits 0, 1, 4 and 9
        else:
            assert set(metrics) == EVAL_KEYS, metrics
        assert metrics["n"] == N_TEST
        assert metrics["accuracy"] >= MIN_ACCURACY, (model, metrics)
        for key in ("f1", "precision", "recall", "roc_auc"):
            assert 0.0 <= metrics[key] <= 1.0, (model, key, metrics)
        assert metrics["log_loss"] >= 0.0
        # The perturbed test split is scored beside the clean one, the drop in points.
        assert 0.0 <= metrics["perturbed_accuracy"] <= 1.0
        assert metrics["perturbed_drop"] == pytest.approx(100 * (metrics["accuracy"] - metrics["perturbed_accuracy"]), abs=1e-6)
        train = read_json(repo / f"metrics/{model}-train.json")
        assert train["epochs"] == 2
        assert train["test_acc"] == pytest.approx(metrics["accuracy"], abs=1e-9), model
        if model == "square":
            assert train["threshold"] == pytest.approx(metrics["threshold"])
        pngs = {p.name for p in (repo / f"plots/{model}/images").glob("*.png")}
        assert pngs == (ANN_PNGS if model == "ann" else PNGS), (model, pngs)
        roc = (repo / f"plots/{model}/roc.csv").read_text(encoding="utf-8").splitlines()
        assert roc[0] == "fpr,tpr,threshold" and len(roc) >= 3, (model, roc)
        per_class = (repo / f"plots/{model}/per_class.csv").read_text(encoding="utf-8").splitlines()
        assert per_class[0] == "class,precision,recall,f1,support", (model, per_class)
        assert len(per_class) == 1 + (2 if model == "square" else 10), (model, per_class)  # header + a row per class
    assert project.train_metrics["test_acc"] >= MIN_ACCURACY
    summary = read_json(repo / "reports/summary.json")
    assert list(summary) == list(MODELS)
    for model in MODELS:
        assert summary[model]["accuracy"] == pytest.approx(project.eval_metrics[model]["accuracy"])
    assert (repo / "plots/summary/images/comparison.png").is_file()
    status = project.status.stdout + project.status.stderr
    assert "Data and pipelines are up to date." in status, status
    assert git(repo, "status", "--porcelain") == ""  # the fixture committed every result

    # `dvc metrics show` reads every model's metrics files: one table row per model.
    shown = json.loads(run([DVC, "metrics", "show", "--json"], repo, env).stdout)
    files = shown[""]["data"]  # workspace -> {path: {"data": metrics}}
    assert set(files) == {f"metrics/{m}{suffix}.json" for m in MODELS for suffix in ("", "-train")}, list(files)
    for model in MODELS:
        assert files[f"metrics/{model}.json"]["data"] == project.eval_metrics[model]

    # 4. A new k1 start: only the stages that read `init` (and those after them) run again.
    exp = run([DVC, "exp", "run", "-S", "init.k1=0.5"], repo, env)
    out = exp.stdout + exp.stderr
    assert stages_ran(out) == set(INIT_STAGES), out
    for stage in set(STAGES) - set(INIT_STAGES):
        assert skipped(out, stage) and not ran(out, stage), f"stage {stage} ran again:\n{out}"
    name = exp_name(out)
    train2 = read_json(repo / "metrics/ann-train.json")
    assert train2["k1"] != pytest.approx(project.train_metrics["k1"], abs=1e-6)
    assert read_json(repo / "metrics/ann.json")["accuracy"] >= MIN_ACCURACY
    for model in MODELS[1:]:
        assert read_json(repo / f"metrics/{model}.json") == project.eval_metrics[model]

    # 5. `dvc metrics diff` sees the change between HEAD and the workspace, and only in ann's files.
    diff = json.loads(run([DVC, "metrics", "diff", "--json"], repo, env).stdout)
    k1 = diff["metrics/ann-train.json"]["k1"]
    assert k1["old"] == pytest.approx(project.train_metrics["k1"])
    assert k1["new"] == pytest.approx(train2["k1"])
    assert not any(path.startswith(tuple(f"metrics/{m}" for m in MODELS[1:])) for path in diff), diff

    # 6. MLflow: one run per training; the experiment's run is tagged with its name and holds
    # the evaluate stage's test metrics (added by the track stage) beside the training's own.
    runs = search_runs(project.mlflow_uri)
    by_stage: dict[str, list] = {}
    for r in runs:
        by_stage.setdefault(r.data.tags["dvc.stage"], []).append(r)
    assert {s: len(rs) for s, rs in by_stage.items()} == {s: 2 if s == "train@ann" else 1 for s in TRAIN_STAGES.values()}
    for model, stage in TRAIN_STAGES.items():
        for r in by_stage[stage]:
            assert r.data.tags["model"] == model
            assert r.data.metrics["test/accuracy"] >= MIN_ACCURACY, (model, r.data.metrics)
            assert "test/roc_auc" in r.data.metrics and "final/train_loss" in r.data.metrics
    by_k1 = {r.data.params["init.k1"]: r for r in by_stage["train@ann"]}
    assert set(by_k1) == {"1.0", "0.5"}
    first, second = by_k1["1.0"], by_k1["0.5"]
    assert "dvc.exp_name" not in first.data.tags
    assert second.data.tags["dvc.exp_name"] == name
    assert second.info.run_name == f"ann-{name}"
    for r, train in ((first, project.train_metrics), (second, train2)):
        assert r.data.metrics["final/k1"] == pytest.approx(train["k1"])
    assert by_stage["train@square"][0].data.metrics["test/threshold"] == pytest.approx(project.eval_metrics["square"]["threshold"])


def test_the_saved_test_answers_are_the_checkpoints_own(project: Project) -> None:
    """evaluate, plot and summary read models/<m>-test.npy instead of running the network: for
    every model those logits are what its checkpoint computes on the test split, with its own
    precision and layout."""
    import numpy as np
    import torch

    from mnistflow import checkpoint
    from mnistflow.inference import predict_logits

    test = np.load(project.repo / "data/processed/test.npz")
    perturbed = np.load(project.repo / "data/processed/test_perturbed.npz")
    np.testing.assert_array_equal(perturbed["y"], test["y"])
    assert perturbed["x"].shape == test["x"].shape and perturbed["x"].tobytes() != test["x"].tobytes()
    for model in MODELS:
        net, task, payload = checkpoint.load(project.repo / f"models/{model}.pt")
        channels_last = payload["train"][f"{model}.train.channels_last"]
        if channels_last:  # the weights' layout in training too: bf16 convolutions then round alike
            net = net.to(memory_format=torch.channels_last)
        expected = predict_logits(net, torch.from_numpy(test["x"]), 1000, amp=payload["amp"], channels_last=channels_last)
        saved = np.load(project.repo / f"models/{model}-test.npy")
        assert saved.shape == (N_TEST, task.n_outputs) and saved.dtype == np.float32
        np.testing.assert_allclose(saved, expected.numpy(), rtol=0, atol=1e-5, err_msg=model)
        # The answers on the perturbed split too: the checkpoint's own, by the same path.
        expected = predict_logits(net, torch.from_numpy(perturbed["x"]), 1000, amp=payload["amp"], channels_last=channels_last)
        saved = np.load(project.repo / f"models/{model}-perturbed.npy")
        assert saved.shape == (N_TEST, task.n_outputs) and saved.dtype == np.float32
        np.testing.assert_allclose(saved, expected.numpy(), rtol=0, atol=1e-5, err_msg=model)
        info = read_json(project.repo / f"models/{model}-test.json")
        assert info["task"] == task.to_dict() and info["n"] == N_TEST


def test_evaluate_plot_and_summary_import_neither_torch_nor_mlflow(project: Project) -> None:
    """What keeps each of them to a second or two: no torch (3 s to import), no MLflow, no
    scikit-learn. Run on the project's own outputs; a stage's rerun writes the same bytes."""
    before = (project.repo / "metrics/ann.json").read_bytes()
    for args in (["stages.evaluate", "ann"], ["stages.plot", "square"], ["stages.summary"]):
        probe = f"import runpy, sys; sys.argv = {args!r}; runpy.run_module({args[0]!r}, run_name='__main__')"
        check = "; import sys; bad = sorted({'torch', 'mlflow', 'sklearn', 'torchvision'} & set(sys.modules)); assert not bad, bad"
        proc = subprocess.run([str(VENV_BIN / "python"), "-c", probe + check], cwd=project.repo, env=project.env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    assert (project.repo / "metrics/ann.json").read_bytes() == before


def test_temp_experiment_logs_to_project_store(project: Project) -> None:
    """Without MLFLOW_TRACKING_URI, a `--temp` experiment's run lands in <project>/mlflow.db.

    It also trains `ann` with the from-scratch NumPy backend, through the same stages."""
    repo = project.repo
    env = {k: v for k, v in project.env.items() if k != "MLFLOW_TRACKING_URI"}
    store = repo / "mlflow.db"
    assert not store.exists()

    exp = run([DVC, "exp", "run", "--temp", "-S", "init.k1=0.7", "-S", "ann.train.backend=numpy"], repo, env)
    out = exp.stdout + exp.stderr
    name = exp_name(out)
    assert stages_ran(out) == set(INIT_STAGES), out

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
    assert run_.data.params["ann.train.backend"] == "numpy"
    assert "(numpy)" in out and "train@ann: MLP" in out
    assert run_.data.metrics["test/accuracy"] >= 0.9
    assert run_.data.metrics["final/k1"] != pytest.approx(0.7)  # k1 was trained by the NumPy engine
    # The track stage, run in the temporary copy, attached the evaluate and plot files to the same run.
    assert run_.info.artifact_uri.startswith((repo / "mlruns").as_uri()), run_.info.artifact_uri
    artifacts = repo / "mlruns" / run_.info.artifact_uri[len((repo / "mlruns").as_uri()) + 1 :]
    assert (artifacts / "evaluation" / "ann.json").is_file()
    assert {p.name for p in (artifacts / "plots").glob("*.png")} == ANN_PNGS


# --- Working as a team: a DVC remote ----------------------------------------------------------
# Issue 10. The DVC cache (data and checkpoints) travels through a DVC remote, the rest (code,
# params, dvc.lock, and the `cache: false` metrics, plot data and report) through git.
RESULTS = ("params.yaml", "dvc.lock", "metrics", "plots", "reports")  # what `git add` takes after a run
# The evaluate stages the clone re-runs on its pulled checkpoints. One is enough to show the pulled
# checkpoint and test split give the owner's bytes (every checkpoint is compared byte for byte, and
# `dvc status` checks every hash); each costs 6-12 s on 2 cores (imports, a new MLflow store), all five 30 s.
REEVALUATED = ("ann",)


def git_run(repo: Path, *args: str) -> str:
    """`git` in ``repo`` with a time limit; fails the test with git's output."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"git {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def evaluation_files(repo: Path, models: tuple[str, ...]) -> dict[str, bytes]:
    """What the models' evaluate stages write, by path: metrics/<model>.json and its plot data."""
    names = ("metrics/{}.json", "plots/{}/per_class.csv", "plots/{}/roc.csv", "plots/{}/confusion.csv")
    return {n.format(m): (repo / n.format(m)).read_bytes() for m in models for n in names}


def test_dvc_remote_push_clone_pull(project: Project, tmp_path: Path) -> None:
    """Push a full run to a local-folder DVC remote; a fresh clone pulls it and is complete.

    The clone runs as a teammate's machine would: no MNIST mirror (the data comes from the
    remote, nothing is downloaded) and no MLflow store (evaluate goes on without one). In it
    `dvc status` is clean, `dvc repro` reruns nothing, and re-running evaluate on the pulled
    checkpoints rewrites the committed metrics byte for byte."""
    repo, env = project.repo, project.env
    storage = tmp_path / "dvc-storage"

    # The owner: add the remote, commit it with the results (after the other tests the workspace
    # holds an applied experiment: that is what gets shared), push the cache.
    run([DVC, "remote", "add", "--force", "-d", "storage", str(storage)], repo, env)
    status = run([DVC, "status"], repo, env)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout
    git_run(repo, "add", ".dvc/config", *RESULTS)
    git_run(repo, "commit", "-q", "-m", "DVC remote; results")
    assert git_run(repo, "status", "--porcelain") == "", "`git add` of the results left files out"
    pushed = run([DVC, "push"], repo, env)
    assert re.search(r"\d+ files? pushed", pushed.stdout), pushed.stdout
    cloud = run([DVC, "status", "--cloud"], repo, env)
    assert "Cache and remote 'storage' are in sync." in cloud.stdout, cloud.stdout
    expected = evaluation_files(repo, REEVALUATED)

    # The teammate: clone, pull. No mirror, no MLflow store, no cache of the owner's.
    clone = tmp_path / "clone"
    git_run(tmp_path, "clone", "-q", str(repo), str(clone))
    mate = base_env()
    assert "MNIST_MIRROR" not in mate and "MLFLOW_TRACKING_URI" not in mate
    assert not list(clone.glob("models/*.pt")) and not (clone / "data/raw").exists()  # git has none of the cache
    pulled = run([DVC, "pull"], clone, mate)
    out = pulled.stdout + pulled.stderr
    assert re.search(r"\d+ files? fetched", out), out
    for model in MODELS:
        assert (clone / f"models/{model}.pt").read_bytes() == (repo / f"models/{model}.pt").read_bytes()
    status = run([DVC, "status"], clone, mate)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout

    noop = run([DVC, "repro"], clone, mate)
    out = noop.stdout + noop.stderr
    assert stages_ran(out) == set(), out
    assert all(skipped(out, stage) for stage in STAGES), out

    # Evaluate again on the pulled test answers: the same bytes as the owner's run.
    stages = [*(f"evaluate@{m}" for m in REEVALUATED), "track"]
    forced = run([DVC, "repro", "--force", "--single-item", *stages], clone, mate)
    out = forced.stdout + forced.stderr
    assert stages_ran(out) == set(stages), out
    assert "no MLflow run" in out, out  # the teammate has no store; track went on without it
    assert evaluation_files(clone, REEVALUATED) == expected
    assert git_run(clone, "status", "--porcelain") == ""  # dvc.lock and every committed file unchanged
    status = run([DVC, "status"], clone, mate)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout
