"""Operating the pipeline as a team would (docs/operations.md), end to end on generated data.

One committed copy of the project after a full `dvc repro` under umask 022 (conftest's shared
`reproduced_original`), then:
- every file and folder the pipeline wrote has the umask's mode (0644, 0755);
- each MLflow training run keeps its training's end time after the track stage reopened it, and
  the experiment is marked as model training (the MLflow UI opens on its runs);
- the track stage records each model's @champion for the report;
- SIGKILL to `dvc repro` mid-training: the orphaned training stops within seconds, its run ends
  KILLED or FAILED, and the command its last line names brings the last good outputs back.
Going back to params run before (DVC's run-cache) is tests/test_end_to_end.py's, after its
experiment.
Slow (the pipeline on 2 cores): deselect with ``-m "not e2e"``.
"""

from __future__ import annotations

import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    WRITTEN,
    ROOT,
    copy_reproduced,
    error_lines,
    git,
    mlflow_statuses,
    read_json,
    restore,
    snapshot,
    training_at_epoch_2,
)
from mnistflow.paths import pipeline_models

MODELS = tuple(pipeline_models(ROOT / "dvc.yaml"))

pytestmark = pytest.mark.e2e


@dataclass
class Ops:
    repo: Path
    env: dict[str, str]
    uri: str


@pytest.fixture(scope="module")
def ops(reproduced_original: Path, tmp_path_factory) -> Ops:
    copy = copy_reproduced(reproduced_original, tmp_path_factory.mktemp("ops"))
    return Ops(copy.repo, copy.env, copy.mlflow_uri)


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
