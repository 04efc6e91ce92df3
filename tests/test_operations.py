"""Operating the pipeline as a team would (docs/operations.md), end to end on generated data.

One committed copy of the project after a full `dvc repro` under umask 022 (conftest's shared
`reproduced_original`), then:
- every file and folder the pipeline wrote has the umask's mode (0644, 0755);
- each MLflow training run keeps its training's end time after the track stage reopened it, and
  the experiment is marked as model training (the MLflow UI opens on its runs);
- the track stage records each model's @champion for the report;
- SIGKILL to `dvc repro` mid-training: the orphaned training stops within seconds, its run ends
  KILLED or FAILED, and the command its last line names brings the last good outputs back;
- after `dvc exp run -S init.k1=0.5`, going back to the committed k1 restores train@ann from
  DVC's run-cache (no epoch trained) and every output is the committed bytes.
Slow (the pipeline on 2 cores): deselect with ``-m "not e2e"``.
"""

from __future__ import annotations

import json
import re
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import (
    DVC,
    ROOT,
    copy_reproduced,
    error_lines,
    git,
    mlflow_statuses,
    read_json,
    restore,
    run,
    snapshot,
    stages_ran,
    training_at_epoch_2,
)
from mnistflow.paths import pipeline_models

MODELS = tuple(pipeline_models(ROOT / "dvc.yaml"))

pytestmark = pytest.mark.e2e

WRITTEN = ("data/raw", "data/processed", "models", "metrics", "plots", "reports")  # what the stages write
STORE_STATE = ("reports/registry.json", "reports/index.html")  # what describes the MLflow store, not only the params
EPOCH_LINE = re.compile(r"^epoch +\d+/\d+", re.M)


@dataclass
class Ops:
    repo: Path
    env: dict[str, str]
    uri: str


@pytest.fixture(scope="module")
def ops(reproduced_original: Path, tmp_path_factory) -> Ops:
    copy = copy_reproduced(reproduced_original, tmp_path_factory.mktemp("ops"))
    return Ops(copy.repo, copy.env, copy.mlflow_uri)


def outputs(repo: Path) -> dict[str, bytes]:
    """Every file the stages wrote, and dvc.lock, by path."""
    files = [repo / "dvc.lock", *(p for top in WRITTEN for p in (repo / top).rglob("*") if p.is_file())]
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in files}


def test_outputs_have_the_umask_modes(ops):
    wrong = []
    for top in WRITTEN:
        for path in [ops.repo / top, *(ops.repo / top).rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode != (0o755 if path.is_dir() else 0o644):
                wrong.append(f"{path.relative_to(ops.repo)} {oct(mode)}")
    assert not wrong, wrong


def test_training_runs_keep_their_end_time_and_the_experiment_is_model_training(ops):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=ops.uri)
    experiment = client.get_experiment_by_name("mnist")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["model"] for r in runs) == sorted(MODELS)
    for r in runs:
        trained = max(
            m.timestamp for m in client.get_metric_history(r.info.run_id, "final/val_acc")
        )  # the training's last record
        tracked = min(
            m.timestamp for m in client.get_metric_history(r.info.run_id, "test/accuracy")
        )  # the track stage's first
        assert r.info.status == "FINISHED"
        assert r.info.start_time <= trained <= r.info.end_time < tracked, r.data.tags["model"]


def test_the_track_stage_records_each_models_champion_for_the_report(ops):
    registry = read_json(ops.repo / "reports/registry.json")
    assert list(registry) == list(MODELS)
    for model in MODELS:
        val_acc = read_json(ops.repo / f"metrics/{model}-train.json")["val_acc"]
        assert registry[model] == {
            "registered_model": f"mnist-{model}",
            "champion_version": "1",
            "champion_val_acc": pytest.approx(val_acc),
            "checkpoint_is_champion": True,
        }
    page = (ops.repo / "reports/index.html").read_text(encoding="utf-8")
    assert "models:/mnist-deepcnn@champion" in page
    assert git(ops.repo, "check-ignore", "reports/registry.json")  # DVC-cached: it describes the store, not the commit


def test_killing_dvc_stops_the_orphaned_training_and_kills_its_run(ops):
    import psutil

    repo, env = ops.repo, ops.env
    before, runs_before = snapshot(repo), mlflow_statuses(env)
    with training_at_epoch_2(repo, env) as (proc, output):
        below = psutil.Process(proc.pid).children(recursive=True)  # the shell DVC may start, and the training
        assert any("stages.train" in " ".join(p.cmdline()) for p in below), below
        proc.send_signal(signal.SIGKILL)  # DVC alone: nothing passes the signal on
        proc.wait(timeout=10)
        start = time.monotonic()
        _, left = psutil.wait_procs(below, timeout=10)
        stopped_s = time.monotonic() - start
        for p in left:  # never leave a training behind, even when the test fails
            p.kill()
        assert not left, f"still running 10 s after DVC was killed: {left}"
        output.extend(proc.stdout)  # what the stage said as it stopped
    print(f"\ntraining stopped {stopped_s:.1f} s after `dvc repro` was killed")
    assert mlflow_statuses(env)[: len(runs_before)] == runs_before
    assert mlflow_statuses(env)[len(runs_before) :] in (["KILLED"], ["FAILED"])
    lines = error_lines("".join(output))
    assert len(lines) == 1 and lines[0].startswith("interrupted at epoch "), output
    restore(repo, env, lines[0])  # the command the line names
    assert snapshot(repo) == before


def test_going_back_to_committed_params_restores_from_the_run_cache(ops):
    repo, env = ops.repo, ops.env
    committed = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))["init"]["k1"]
    before = outputs(repo)

    start = time.monotonic()
    other = run([DVC, "exp", "run", "-S", "init.k1=0.5"], repo, env)
    other_s = time.monotonic() - start
    assert "train@ann" in stages_ran(other.stdout + other.stderr)

    start = time.monotonic()
    back = run([DVC, "exp", "run", "-S", f"init.k1={committed}"], repo, env)
    back_s = time.monotonic() - start
    out = back.stdout + back.stderr
    print(f"\nexp run k1=0.5 (retrains ann) {other_s:.1f} s; back to k1={committed} (run-cache) {back_s:.1f} s")
    assert "Stage 'train@ann' is cached - skipping run, checking out outputs" in out, out
    assert not EPOCH_LINE.search(out), out  # no epoch trained
    after = outputs(repo)
    assert set(after) == set(before)
    changed = sorted(path for path in before if after[path] != before[path] and path != "dvc.lock")
    registry_before, registry_after = (json.loads(b["reports/registry.json"]) for b in (before, after))
    if registry_after == registry_before:
        assert changed == [], changed
    else:  # the k1=0.5 run was better on validation: @champion moved to it, as it should
        assert registry_after["ann"]["checkpoint_is_champion"] is False
        assert registry_after["ann"]["champion_val_acc"] > registry_before["ann"]["champion_val_acc"]
        assert set(changed) <= set(STORE_STATE), changed
    # dvc.lock records the same outputs. `-S` rewrote params.yaml's layout (DVC dumps it in its
    # own YAML style), so the report's file dep on params.yaml has another hash: nothing else.
    locked_before, locked_after = (yaml.safe_load(b["dvc.lock"])["stages"] for b in (before, after))
    for locked in (locked_before, locked_after):
        locked["report"]["deps"] = [dep for dep in locked["report"]["deps"] if dep["path"] != "params.yaml"]
        if registry_after != registry_before:  # the registry record and the page showing it changed with it
            del locked["track"], locked["report"]
    assert locked_after == locked_before
