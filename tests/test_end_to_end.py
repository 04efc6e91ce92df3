"""End to end: the real `dvc repro` / `dvc exp run` / `dvc metrics diff` on a copy of the project.

Runs every stage (download, preprocess, the five models' train, evaluate and plot stages, the
summary, the MLflow track stage, the report) on small generated MNIST files (never the real MNIST)
served through $MNIST_MIRROR, with an unreachable http mirror configured after it, and tiny,
quick models; then checks the outputs, what `dvc exp run -S init.k1=0.5` reruns, and the MLflow store.
The first `dvc repro` is conftest's shared one (`reproduced_original`), run once per test session
and copied here. Slow: deselect with ``-m "not e2e"``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import (
    WRITTEN,
    DVC,
    ROOT,
    VENV_BIN,
    base_env,
    copy_reproduced,
    git,
    read_json,
    run,
    search_runs,
    stages_ran,
)
from mnistflow.paths import pipeline_models

pytestmark = pytest.mark.e2e

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
PNGS = {
    "accuracy_train_vs_test.png",
    "confusion_matrix.png",
    "loss_curve.png",
    "loss_train_vs_test.png",
    "misclassified.png",
    "roc_curve.png",
}
ANN_PNGS = PNGS | {"activation_first_last.png", "k_per_epoch.png"}
EVAL_KEYS = {
    "accuracy",
    "f1",
    "precision",
    "recall",
    "roc_auc",
    "log_loss",
    "n",
    "perturbed_accuracy",
    "perturbed_drop",
}
SQUARE_KEYS = EVAL_KEYS | {"threshold", "tn", "fp", "fn", "tp"}
N_TEST = 300
# Ten classes: chance is 0.10 (square: 0.6, the share of non-squares). The synthetic digits (a
# bright block whose position is the class) reach 1.0 test accuracy with every model below after
# 2 epochs in these tests (ann: ~1.0 at batch 64); 0.9 leaves room for other CPUs and BLAS builds.
MIN_ACCURACY = 0.9


def ran(output: str, stage: str) -> bool:
    # DVC prints "Running stage 'train@lenet5':"; foreach stages by their full name.
    return f"Running stage '{stage}':" in output


def skipped(output: str, stage: str) -> bool:
    return f"Stage '{stage}' didn't change, skipping" in output


def exp_name(output: str) -> str:
    match = re.search(r"Ran experiment\(s\): (\S+)", output)
    assert match, f"no experiment name in the output:\n{output}"
    return match.group(1)


@dataclass
class Project:
    repo: Path
    env: dict[str, str]
    mlflow_uri: str
    repro: subprocess.CompletedProcess
    status: subprocess.CompletedProcess
    train_metrics: dict  # metrics/ann-train.json after the first repro
    eval_metrics: dict  # metrics/<model>.json after the first repro, by model


@pytest.fixture(scope="module")
def project(reproduced_original: Path, tmp_path_factory) -> Project:
    """A committed copy of the project after a first full `dvc repro` on generated data."""
    copy = copy_reproduced(reproduced_original, tmp_path_factory.mktemp("e2e"))
    return Project(
        repo=copy.repo,
        env=copy.env,
        mlflow_uri=copy.mlflow_uri,
        repro=copy.repro,
        status=copy.status,
        train_metrics=read_json(copy.repo / "metrics/ann-train.json"),
        eval_metrics={m: read_json(copy.repo / f"metrics/{m}.json") for m in MODELS},
    )


# The tests below share one project and run in file order: first what the first `dvc repro`
# left (each phase its own test), then the `init.k1` experiment, which changes ann's files.


def test_first_repro_ran_every_stage(project: Project) -> None:
    out = project.repro.stdout + project.repro.stderr
    assert stages_ran(out) == set(STAGES), out


@pytest.mark.parametrize("model", MODELS)
def test_first_repro_evaluation_metrics(project: Project, model: str) -> None:
    """metrics/<model>.json: every key, in range, and learned from the generated data."""
    metrics = project.eval_metrics[model]
    if model == "square":
        assert set(metrics) == SQUARE_KEYS, metrics
        assert 0.0 <= metrics["threshold"] <= 1.0
        assert metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"] == N_TEST
        assert metrics["tp"] + metrics["fn"] == N_TEST * 4 // 10  # digits 0, 1, 4 and 9
    else:
        assert set(metrics) == EVAL_KEYS, metrics
    assert metrics["n"] == N_TEST
    assert metrics["accuracy"] >= MIN_ACCURACY, metrics
    for key in ("f1", "precision", "recall", "roc_auc"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics)
    assert metrics["log_loss"] >= 0.0
    # The perturbed test split is scored beside the clean one, the drop in points.
    assert 0.0 <= metrics["perturbed_accuracy"] <= 1.0
    assert metrics["perturbed_drop"] == pytest.approx(
        100 * (metrics["accuracy"] - metrics["perturbed_accuracy"]), abs=1e-6
    )


@pytest.mark.parametrize("model", MODELS)
def test_first_repro_training_metrics_agree_with_evaluation(project: Project, model: str) -> None:
    """metrics/<model>-train.json: the epochs asked for, and the evaluate stage's test accuracy."""
    train = read_json(project.repo / f"metrics/{model}-train.json")
    metrics = project.eval_metrics[model]
    assert train["epochs"] == 2
    assert train["test_acc"] == pytest.approx(metrics["accuracy"], abs=1e-9)
    if model == "square":
        assert train["threshold"] == pytest.approx(metrics["threshold"])
    if model == "ann":
        assert project.train_metrics["test_acc"] >= MIN_ACCURACY


@pytest.mark.parametrize("model", MODELS)
def test_first_repro_wrote_every_plot(project: Project, model: str) -> None:
    """The plot stage's PNGs and the evaluate stage's ROC and per-class CSVs."""
    repo = project.repo
    pngs = {p.name for p in (repo / f"plots/{model}/images").glob("*.png")}
    assert pngs == (ANN_PNGS if model == "ann" else PNGS), pngs
    roc = (repo / f"plots/{model}/roc.csv").read_text(encoding="utf-8").splitlines()
    assert roc[0] == "fpr,tpr,threshold" and len(roc) >= 3, roc
    per_class = (repo / f"plots/{model}/per_class.csv").read_text(encoding="utf-8").splitlines()
    assert per_class[0] == "class,precision,recall,f1,support", per_class
    assert len(per_class) == 1 + (2 if model == "square" else 10), per_class  # header + a row per class


def test_first_repro_summary_holds_every_model(project: Project) -> None:
    summary = read_json(project.repo / "reports/summary.json")
    assert list(summary) == list(MODELS)
    for model in MODELS:
        assert summary[model]["accuracy"] == pytest.approx(project.eval_metrics[model]["accuracy"])
    assert (project.repo / "plots/summary/images/comparison.png").is_file()


def test_after_the_first_repro_dvc_status_is_clean(project: Project) -> None:
    status = project.status.stdout + project.status.stderr
    assert "Data and pipelines are up to date." in status, status
    assert git(project.repo, "status", "--porcelain") == ""  # the fixture committed every result


def test_dvc_metrics_show_lists_every_models_metrics(project: Project) -> None:
    """`dvc metrics show` reads every model's metrics files: one table row per model."""
    shown = json.loads(run([DVC, "metrics", "show", "--json"], project.repo, project.env).stdout)
    files = shown[""]["data"]  # workspace -> {path: {"data": metrics}}
    assert set(files) == {f"metrics/{m}{suffix}.json" for m in MODELS for suffix in ("", "-train")}, list(files)
    for model in MODELS:
        assert files[f"metrics/{model}.json"]["data"] == project.eval_metrics[model]


@dataclass
class Experiment:
    output: str  # stdout and stderr of `dvc exp run -S init.k1=0.5`
    train_metrics: dict  # metrics/ann-train.json after it
    eval_metrics: dict  # metrics/<model>.json after it, by model


@pytest.fixture(scope="module")
def experiment(project: Project) -> Experiment:
    """`dvc exp run -S init.k1=0.5` on the committed first run: a new k1 start for ann."""
    exp = run([DVC, "exp", "run", "-S", "init.k1=0.5"], project.repo, project.env)
    return Experiment(
        output=exp.stdout + exp.stderr,
        train_metrics=read_json(project.repo / "metrics/ann-train.json"),
        eval_metrics={m: read_json(project.repo / f"metrics/{m}.json") for m in MODELS},
    )


def test_experiment_reruns_only_train_ann_and_what_follows(experiment: Experiment) -> None:
    """Only the stages that read `init` (and those after them) run again."""
    out = experiment.output
    assert stages_ran(out) == set(INIT_STAGES), out
    for stage in set(STAGES) - set(INIT_STAGES):
        assert skipped(out, stage) and not ran(out, stage), f"stage {stage} ran again:\n{out}"


def test_experiment_changes_ann_and_no_other_model(project: Project, experiment: Experiment) -> None:
    assert experiment.train_metrics["k1"] != pytest.approx(project.train_metrics["k1"], abs=1e-6)
    assert experiment.eval_metrics["ann"]["accuracy"] >= MIN_ACCURACY
    for model in MODELS[1:]:
        assert experiment.eval_metrics[model] == project.eval_metrics[model], model


def test_metrics_diff_shows_the_experiment_in_ann_files_only(project: Project, experiment: Experiment) -> None:
    """`dvc metrics diff` sees the change between HEAD and the workspace, and only in ann's files."""
    diff = json.loads(run([DVC, "metrics", "diff", "--json"], project.repo, project.env).stdout)
    k1 = diff["metrics/ann-train.json"]["k1"]
    assert k1["old"] == pytest.approx(project.train_metrics["k1"])
    assert k1["new"] == pytest.approx(experiment.train_metrics["k1"])
    assert not any(path.startswith(tuple(f"metrics/{m}" for m in MODELS[1:])) for path in diff), diff


@pytest.fixture(scope="module")
def runs_by_stage(project: Project, experiment: Experiment) -> dict[str, list]:
    """The MLflow runs after the first repro and the experiment, by their dvc.stage tag."""
    by_stage: dict[str, list] = {}
    for r in search_runs(project.mlflow_uri):
        by_stage.setdefault(r.data.tags["dvc.stage"], []).append(r)
    return by_stage


def test_mlflow_holds_one_run_per_training(project: Project, runs_by_stage: dict[str, list]) -> None:
    """Each run holds the evaluate stage's test metrics (added by the track stage) beside the training's own."""
    assert {s: len(rs) for s, rs in runs_by_stage.items()} == {
        s: 2 if s == "train@ann" else 1 for s in TRAIN_STAGES.values()
    }
    for model, stage in TRAIN_STAGES.items():
        for r in runs_by_stage[stage]:
            assert r.data.tags["model"] == model
            assert r.data.metrics["test/accuracy"] >= MIN_ACCURACY, (model, r.data.metrics)
            assert "test/roc_auc" in r.data.metrics and "final/train_loss" in r.data.metrics
    square = runs_by_stage["train@square"][0]
    assert square.data.metrics["test/threshold"] == pytest.approx(project.eval_metrics["square"]["threshold"])


def test_mlflow_experiment_run_is_tagged_with_its_name(
    project: Project, experiment: Experiment, runs_by_stage: dict[str, list]
) -> None:
    name = exp_name(experiment.output)
    by_k1 = {r.data.params["init.k1"]: r for r in runs_by_stage["train@ann"]}
    assert set(by_k1) == {"1.0", "0.5"}
    first, second = by_k1["1.0"], by_k1["0.5"]
    assert "dvc.exp_name" not in first.data.tags
    assert second.data.tags["dvc.exp_name"] == name
    assert second.info.run_name == f"ann-{name}"
    for r, train in ((first, project.train_metrics), (second, experiment.train_metrics)):
        assert r.data.metrics["final/k1"] == pytest.approx(train["k1"])


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
        expected = predict_logits(
            net, torch.from_numpy(test["x"]), 1000, amp=payload["amp"], channels_last=channels_last
        )
        saved = np.load(project.repo / f"models/{model}-test.npy")
        assert saved.shape == (N_TEST, task.n_outputs) and saved.dtype == np.float32
        np.testing.assert_allclose(saved, expected.numpy(), rtol=0, atol=1e-5, err_msg=model)
        # The answers on the perturbed split too: the checkpoint's own, by the same path.
        expected = predict_logits(
            net, torch.from_numpy(perturbed["x"]), 1000, amp=payload["amp"], channels_last=channels_last
        )
        saved = np.load(project.repo / f"models/{model}-perturbed.npy")
        assert saved.shape == (N_TEST, task.n_outputs) and saved.dtype == np.float32
        np.testing.assert_allclose(saved, expected.numpy(), rtol=0, atol=1e-5, err_msg=model)
        info = read_json(project.repo / f"models/{model}-test.json")
        assert info["task"] == task.to_dict() and info["n"] == N_TEST


def test_evaluate_plot_and_summary_import_neither_torch_nor_mlflow(project: Project) -> None:
    """What keeps each of them light: they read the saved answers, so none imports torch or
    MLflow; evaluate computes its metrics with scikit-learn's, and the summary needs neither.
    Run on the project's own outputs; a stage's rerun writes the same bytes."""
    before = (project.repo / "metrics/ann.json").read_bytes()
    for args in (["stages.evaluate", "ann"], ["stages.plot", "square"], ["stages.summary"]):
        probe = f"import runpy, sys; sys.argv = {args!r}; runpy.run_module({args[0]!r}, run_name='__main__')"
        heavy = {"torch", "mlflow", "torchvision"} | ({"sklearn"} if args[0] == "stages.summary" else set())
        check = f"; import sys; bad = sorted({heavy!r} & set(sys.modules)); assert not bad, bad"
        proc = subprocess.run(
            [str(VENV_BIN / "python"), "-c", probe + check],
            cwd=project.repo,
            env=project.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
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
# `dvc status` checks every hash); each costs a process's imports and a new MLflow store.
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


@dataclass
class Remote:
    storage: Path  # the local-folder DVC remote
    status: str  # `dvc status` before the push
    porcelain: str  # `git status --porcelain` after committing the results
    pushed: str  # `dvc push`'s output
    cloud: str  # `dvc status --cloud` after the push
    expected: dict[str, bytes]  # the owner's evaluation files of REEVALUATED


@pytest.fixture(scope="module")
def remote(project: Project, tmp_path_factory) -> Remote:
    """The owner: add a local-folder remote, commit it with the results (after the other tests the
    workspace holds an applied experiment: that is what gets shared), push the cache."""
    repo, env = project.repo, project.env
    storage = tmp_path_factory.mktemp("remote") / "dvc-storage"
    run([DVC, "remote", "add", "--force", "-d", "storage", str(storage)], repo, env)
    status = run([DVC, "status"], repo, env)
    git_run(repo, "add", ".dvc/config", *RESULTS)
    git_run(repo, "commit", "-q", "-m", "DVC remote; results")
    porcelain = git_run(repo, "status", "--porcelain")
    pushed = run([DVC, "push"], repo, env)
    cloud = run([DVC, "status", "--cloud"], repo, env)
    return Remote(storage, status.stdout, porcelain, pushed.stdout, cloud.stdout, evaluation_files(repo, REEVALUATED))


@dataclass
class Clone:
    path: Path
    env: dict[str, str]  # a teammate's: no MNIST mirror, no MLflow store
    before_pull: list[Path]  # checkpoints and raw data present before `dvc pull`
    pulled: str  # `dvc pull`'s output


@pytest.fixture(scope="module")
def clone(remote: Remote, project: Project, tmp_path_factory) -> Clone:
    """The teammate: a git clone of the owner's repository, then `dvc pull`."""
    path = tmp_path_factory.mktemp("teammate") / "clone"
    git_run(path.parent, "clone", "-q", str(project.repo), str(path))
    mate = base_env()
    before = [*path.glob("models/*.pt"), *path.glob("data/raw")]
    pulled = run([DVC, "pull"], path, mate)
    return Clone(path, mate, before, pulled.stdout + pulled.stderr)


def test_dvc_remote_the_owner_commits_the_results_and_pushes_the_cache(remote: Remote) -> None:
    """Push a full run to a local-folder DVC remote (issue 10)."""
    assert "Data and pipelines are up to date." in remote.status, remote.status
    assert remote.porcelain == "", "`git add` of the results left files out"
    assert re.search(r"\d+ files? pushed", remote.pushed), remote.pushed
    assert "Cache and remote 'storage' are in sync." in remote.cloud, remote.cloud


def test_dvc_remote_a_clone_pulls_every_checkpoint(project: Project, clone: Clone) -> None:
    """A fresh clone, with no mirror and no MLflow store, gets the owner's cache from the remote
    (nothing is downloaded) and `dvc status` is clean."""
    assert "MNIST_MIRROR" not in clone.env and "MLFLOW_TRACKING_URI" not in clone.env
    assert clone.before_pull == []  # git has none of the cache
    assert re.search(r"\d+ files? fetched", clone.pulled), clone.pulled
    for model in MODELS:
        assert (clone.path / f"models/{model}.pt").read_bytes() == (project.repo / f"models/{model}.pt").read_bytes(), (
            model
        )
    status = run([DVC, "status"], clone.path, clone.env)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout


def test_dvc_remote_repro_in_the_clone_reruns_nothing(clone: Clone) -> None:
    noop = run([DVC, "repro"], clone.path, clone.env)
    out = noop.stdout + noop.stderr
    assert stages_ran(out) == set(), out
    assert all(skipped(out, stage) for stage in STAGES), out


def test_dvc_remote_the_clone_reevaluates_to_the_owners_bytes(remote: Remote, clone: Clone) -> None:
    """Evaluate again on the pulled test answers: the same bytes as the owner's run, dvc.lock and
    every committed file unchanged; track goes on without an MLflow store."""
    stages = [*(f"evaluate@{m}" for m in REEVALUATED), "track"]
    forced = run([DVC, "repro", "--force", "--single-item", *stages], clone.path, clone.env)
    out = forced.stdout + forced.stderr
    assert stages_ran(out) == set(stages), out
    assert "no MLflow run" in out, out  # the teammate has no store; track went on without it
    assert evaluation_files(clone.path, REEVALUATED) == remote.expected
    assert git_run(clone.path, "status", "--porcelain") == ""
    status = run([DVC, "status"], clone.path, clone.env)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout


# --- Going back: DVC's run-cache --------------------------------------------------------------------

EPOCH_LINE = re.compile(r"^epoch +\d+/\d+", re.M)


def outputs(repo: Path) -> dict[str, bytes]:
    """Every file the stages wrote, and dvc.lock, by path."""
    files = [repo / "dvc.lock", *(p for top in WRITTEN for p in (repo / top).rglob("*") if p.is_file())]
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in files}


def test_going_to_params_run_before_restores_from_the_run_cache(
    project: Project, remote: Remote, reproduced_original: Path
) -> None:
    """The owner's commit holds the experiment (k1=0.5). `dvc exp run` back to the first run's
    k1 comes from DVC's run-cache (no epoch trained), and every output, dvc.lock too, is then the
    first run's bytes (the shared original holds them)."""
    repo, env = project.repo, project.env
    committed = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))["init"]["k1"]
    first = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["init"]["k1"]
    assert committed != first
    moved = run([DVC, "exp", "run", "-S", f"init.k1={first}"], repo, env)
    out = moved.stdout + moved.stderr
    assert "Stage 'train@ann' is cached - skipping run, checking out outputs" in out, out
    assert not EPOCH_LINE.search(out), out  # no epoch trained
    after, first_run = outputs(repo), outputs(reproduced_original / "project")
    assert set(after) == set(first_run)
    assert sorted(path for path in first_run if after[path] != first_run[path]) == []
