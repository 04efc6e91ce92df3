"""Multi-process training: two CPU processes under torchrun (gloo), on generated digits.

``fit`` under torchrun trains the same model as one process (same batches, same schedule,
the gradient averaged by DDP), and the train stage launched with ``MNISTFLOW_NPROC=2`` by
``dvc repro`` writes one checkpoint and one MLflow run, from rank 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    init_repo,
    DVC,
    ROOT,
    base_env,
    copy_project,
    edit_params,
    init_section,
    mlp_model,
    prepare_section,
    run,
    search_runs,
    synthetic_digits,
    training,
    write_mnist,
)
from mnistflow import distributed
from mnistflow.errors import UserError

TESTS = Path(__file__).resolve().parent
# 651 training images in batches of 50: the last batch is one image, so rank 1 gets none.
N_DIGITS, BATCH = 868, 50


def tiny_run():
    """The headline network (learned k0, k1; no dropout, no augmentation: nothing random per
    rank), its splits and settings: trained by one process here, by two under torchrun."""
    from mnistflow.data.prepare import prepare
    from mnistflow.models import build_model, mlp_spec
    from mnistflow.training import seed_everything

    train_x, train_y = synthetic_digits(N_DIGITS, seed=0)
    test_x, test_y = synthetic_digits(200, seed=1)
    splits = prepare(train_x, train_y, test_x, test_y, prepare_section(val_fraction=0.25))
    cfg = training(epochs=3, batch_size=BATCH, lr=0.01, log_every=4, device="cpu", schedule="cosine")
    seed_everything(0)
    model = build_model(*mlp_spec(mlp_model(hidden=(32,)), init_section(), 0))
    return model, splits, cfg


WORKER = f"""
import json, os, sys
sys.path[:0] = [{str(TESTS)!r}, {str(ROOT / "src")!r}]
import torch
torch.set_num_threads(1)
from test_distributed import tiny_run
from mnistflow import distributed
model, splits, cfg = tiny_run()
history = distributed.fit(model, splits, cfg)
weights = {{name: p.detach().double().sum().item() for name, p in model.named_parameters()}}
with open(os.path.join(sys.argv[1], f"rank{{os.environ['RANK']}}.json"), "w") as fh:
    json.dump({{"epochs": history.epochs, "steps": history.steps, "weights": weights}}, fh)
"""


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_two_processes_train_the_model_one_process_trains(tmp_path):
    from mnistflow.training import fit

    model, splits, cfg = tiny_run()
    assert len(splits.train) % BATCH == 1  # the uneven last batch is part of the test
    one = fit(model, splits, cfg)
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**base_env(), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(tmp_path / "worker.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # every rank holds the same weights and computed the same rows

    two = ranks[0]
    assert [row["epoch"] for row in two["epochs"]] == [0, 1, 2, 3]
    # The untrained net: the same weights, so the gathered logits differ from one process's only
    # where the matrix library rounds a 109-row shard unlike the 217-row whole (seen on some CPUs).
    assert two["epochs"][0] == pytest.approx(one.epochs[0], rel=1e-7, abs=1e-9)
    for mine, theirs in zip(two["epochs"], one.epochs):
        assert mine == pytest.approx(theirs, rel=1e-3, abs=1e-5)  # summation order only
    assert len(two["steps"]) == len(one.steps) == 3 * 14 // 4
    for mine, theirs in zip(two["steps"], one.steps):
        assert mine == pytest.approx(theirs, rel=1e-3, abs=1e-5)
    assert two["weights"] == pytest.approx(
        {n: p.double().sum().item() for n, p in model.named_parameters()}, rel=1e-3, abs=1e-4
    )
    last = two["epochs"][-1]
    assert last["test_acc"] >= 0.95 and last["train_loss"] < two["epochs"][0]["train_loss"] / 10
    assert (last["k0"], last["k1"]) != (0.0, 1.0)


def test_nproc_setting_is_checked_in_one_line(monkeypatch):
    assert distributed.requested_processes({}) == 1 and distributed.requested_processes({"MNISTFLOW_NPROC": " 2 "}) == 2
    for bad in ("0", "two", "-1", "1.5"):
        with pytest.raises(UserError, match=f"^MNISTFLOW_NPROC={bad} must be a whole number of processes >= 1, e.g. "):
            distributed.requested_processes({"MNISTFLOW_NPROC": bad})
    assert not distributed.launched({}) and distributed.launched({"LOCAL_RANK": "0", "WORLD_SIZE": "2"})
    assert distributed.launch_args("stages.train", ["mlp"], 2) == [
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "stages.train",
        "mlp",
    ]
    monkeypatch.setenv("MNISTFLOW_NPROC", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")  # already a torchrun worker: no second launch
    assert distributed.relaunch("stages.train", ["mlp"]) is None
    monkeypatch.setenv("MNISTFLOW_NPROC", "1")
    monkeypatch.delenv("WORLD_SIZE")
    assert distributed.relaunch("stages.train", ["mlp"]) is None


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_dvc_repro_runs_a_stage_on_two_processes(tmp_path):
    """`MNISTFLOW_NPROC=2 dvc repro train@deepcnn` (batch norm, bf16, channels-last, dropout):
    rank 0 alone prints, writes the outputs and the one MLflow run; the ann stage with the
    NumPy backend is refused in one line."""
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_project(repo)
    init_repo(repo)
    edit_params(repo / "params.yaml", write_mnist(tmp_path / "mirror", n_train=1000, n_test=300, seed=0))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**base_env(), "MNIST_MIRROR": str(tmp_path / "mirror"), "MLFLOW_TRACKING_URI": uri, "MNISTFLOW_NPROC": "2"}

    out = run([DVC, "repro", "train@deepcnn"], repo, env).stdout
    assert out.count("train@deepcnn: deep CNN") == 1 and out.count("epoch   2/2") == 1, out  # rank 0 only
    assert sorted(p.name for p in (repo / "models").iterdir() if p.suffix == ".pt") == ["deepcnn.pt"]
    assert not [p for p in repo.iterdir() if p.name.startswith(".staging-")]
    metrics = json.loads((repo / "metrics" / "deepcnn-train.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_acc"] >= 0.9, metrics
    history = (repo / "plots" / "deepcnn" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3  # header, epochs 0..2
    runs = search_runs(uri)
    assert len(runs) == 1 and runs[0].info.run_name == "deepcnn" and runs[0].info.status == "FINISHED"
    assert any(key.endswith("test_acc") for key in runs[0].data.metrics), runs[0].data.metrics

    edit = (repo / "params.yaml").read_text().replace("    backend: torch", "    backend: numpy", 1)
    (repo / "params.yaml").write_text(edit)
    proc = run([sys.executable, "-m", "stages.train", "ann"], repo, env, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: the numpy backend trains in one process; unset MNISTFLOW_NPROC (it is 2) or set train.backend: torch"
    ]
