"""Failures that tell the truth: bad params, divergence and interruption say in one line what
happened and name the command that brings the last good results back (DVC deleted them before
the stage ran: no output is `persist: true`, so that DVC keeps its run-cache), and that command
restores them byte for byte; checkpoints are byte-stable and a damaged one is named in one line.

The end-to-end part takes a copy of the reproduced project (conftest's `reproduced_original`:
generated data, committed after `dvc repro`) and breaks the headline model's training in the
ways a user does.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import (
    DVC,
    RESTORE_ANN,
    copy_reproduced,
    error_lines,
    git,
    init_section,
    mlflow_statuses,
    mlp_model,
    restore,
    run,
    snapshot,
    training_at_epoch_2,
)
from mnistflow import checkpoint
from mnistflow.models import build_model, mlp_spec
from mnistflow.tasks import MULTICLASS, square_task

# --- checkpoints -------------------------------------------------------------------------------


def _model(seed: int = 3):
    arch, kwargs = mlp_spec(mlp_model(hidden=(16,)), init_section(), seed=seed)
    torch.manual_seed(seed)
    return build_model(arch, kwargs), arch, kwargs


def test_identical_weights_give_identical_checkpoint_bytes(tmp_path):
    model, arch, kwargs = _model()
    extra = {"model": "ann", "data": {"sizes": [1, 2, 3]}}
    paths = [tmp_path / "a" / "ann.pt", tmp_path / "b" / "other-name.pt"]
    for path in paths:
        path.parent.mkdir()
        checkpoint.save(path, model, arch, kwargs, square_task((0, 1, 4, 9)), extra)
    rebuilt, arch2, kwargs2 = _model()  # a second model object with the same weights
    checkpoint.save(tmp_path / "c.pt", rebuilt, arch2, kwargs2, square_task((0, 1, 4, 9)), extra)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in [*paths, tmp_path / "c.pt"]}
    assert len(digests) == 1
    with torch.no_grad():
        rebuilt.hidden[0].weight[0, 0] += 1e-6  # one weight moved: different bytes
    assert checkpoint.to_bytes(rebuilt, arch, kwargs, MULTICLASS, extra) != checkpoint.to_bytes(
        model, arch, kwargs, MULTICLASS, extra
    )


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned > owned.txt",))


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "is empty"),
        (
            b"not a checkpoint at all\n",
            "is not a checkpoint this pipeline wrote: a weights-only load refuses it (Unsupported operand",
        ),
        ("truncated", "is not a readable checkpoint"),
        (
            pickle.dumps({"state_dict": _Evil()}),
            "is not a checkpoint this pipeline wrote: a weights-only load refuses it (Unsupported",
        ),
        (
            "evil-torch",
            "is not a checkpoint this pipeline wrote: a weights-only load refuses it (Trying to load unsupported "
            "GLOBAL posix.system",
        ),
        ("other-torch", "is a torch file but not this pipeline's checkpoint"),
        ("unknown-arch", "describes a network this pipeline cannot build (unknown architecture 'resnet'"),
        (
            "unknown-kwargs",
            "describes a network this pipeline cannot build (MLP.__init__() got an unexpected keyword argument 'depth'",
        ),
    ],
)
def test_unreadable_checkpoint_is_one_line_naming_the_file_and_the_fix(tmp_path, monkeypatch, content, says):
    monkeypatch.chdir(tmp_path)
    path = Path("models/ann.pt")
    path.parent.mkdir()
    model, arch, kwargs = _model()
    if content == "truncated":
        content = checkpoint.to_bytes(model, arch, kwargs, MULTICLASS, {})[:5000]
    elif content == "evil-torch":
        torch.save({"arch": "mlp", "kwargs": {}, "state_dict": _Evil()}, path)
    elif content == "other-torch":
        torch.save({"weights": torch.zeros(2)}, path)
    elif content == "unknown-arch":
        torch.save({"arch": "resnet", "kwargs": {}, "state_dict": {}}, path)
    elif content == "unknown-kwargs":
        torch.save({"arch": arch, "kwargs": {**kwargs, "depth": 3}, "state_dict": model.state_dict()}, path)
    if isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.load(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path} ") and says in message
    assert "`dvc checkout models/ann.pt`" in message and "`dvc repro -f train@ann`" in message
    assert not Path("owned.txt").exists()


def test_a_signal_during_a_store_call_waits_for_the_call_to_end():
    """SIGTERM inside an MLflow call (``store_errors``) is raised once the call is done, so no
    SQLite transaction is left holding the store's lock; elsewhere it is raised at once."""
    from mnistflow import errors
    from mnistflow.tracking import store_errors

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        errors.handle_interrupts()
        finished = []
        with pytest.raises(errors.Interrupted) as caught:
            with store_errors("sqlite:///mlflow.db", "logging metrics"):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run by now, and held the signal back
                finished.append("the store call")
        assert finished == ["the store call"] and caught.value.signum == signal.SIGTERM
        errors.handle_interrupts()
        with pytest.raises(errors.Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
            pytest.fail("SIGINT outside a store call was not raised at once")
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


ORPHAN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from mnistflow import errors
errors.handle_interrupts()
errors.interrupt_when_orphaned()
try:  # from the moment it says ready: the watchdog may interrupt the print itself
    print("ready", flush=True)
    time.sleep(60)
except errors.Interrupted as exc:
    open(sys.argv[2], "w").write(str(exc.signum))
"""


def test_a_process_whose_parent_is_killed_is_interrupted(tmp_path):
    """The watchdog: SIGKILL to the parent (nothing passes a signal on) interrupts the child as
    SIGTERM does, within about a second; its parent here is no DVC process, so it watches that."""
    import psutil

    root = Path(__file__).resolve().parent.parent
    marker = tmp_path / "interrupted"
    code = (
        f"import subprocess, sys; subprocess.run([sys.executable, '-c', {ORPHAN!r}, {str(root / 'src')!r}, "
        f"{str(marker)!r}])"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "ready\n"
        [child] = psutil.Process(parent.pid).children()
        parent.kill()
        parent.wait()
        start = time.monotonic()
        child.wait(timeout=10)
        assert time.monotonic() - start < 3
        assert marker.read_text() == str(int(signal.SIGTERM))
    finally:
        for p in psutil.Process().children(recursive=True):
            p.kill()


def test_the_restore_command_names_what_dvc_caches_and_what_git_holds(tmp_path):
    from mnistflow.errors import restore_command

    root = Path(__file__).resolve().parent.parent
    assert restore_command("train@ann", root) == (
        "dvc checkout train@ann && git checkout -- metrics/ann-train.json plots/ann/steps.csv plots/ann/history.csv"
    )
    assert (
        restore_command("evaluate@mlp", root)
        == "git checkout -- metrics/mlp.json plots/mlp/roc.csv plots/mlp/confusion.csv plots/mlp/per_class.csv"
    )
    assert restore_command("report", root) == "dvc checkout report"
    assert restore_command("no-such-stage", root) is None
    (tmp_path / "dvc.yaml").write_bytes((root / "dvc.yaml").read_bytes())
    assert restore_command("train@ann", tmp_path) is None  # no dvc.lock: it never succeeded, nothing to bring back
    if "DVC_STAGE" not in os.environ:
        assert restore_command(None, root) is None  # outside DVC: nothing was deleted


# --- the pipeline, broken on purpose -----------------------------------------------------------


@pytest.fixture(scope="module")
def ann_project(reproduced_original, tmp_path_factory):
    """A committed project after `dvc repro` on generated data (conftest's shared one, copied)."""
    copy = copy_reproduced(reproduced_original, tmp_path_factory.mktemp("failures"))
    return copy.repo, copy.env


def leftovers(repo: Path) -> list[str]:
    return sorted(
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if p.name.startswith((".staging-", ".download-", ".tmp")) and ".git" not in p.parts and ".dvc" not in p.parts
    )


@pytest.mark.e2e
def test_bad_param_leaves_results_and_says_how_to_restore_params(ann_project):
    repo, env = ann_project
    before = snapshot(repo)
    for setting, key, says in (
        ("init.k1=abc", "init.k1", "expected a number, got str 'abc'"),
        ("ann.train.lr=.nan", "ann.train.lr", "expected a number, got str '.nan'"),
    ):
        result = run([DVC, "exp", "run", "-S", setting], repo, env, check=False)
        assert result.returncode != 0
        lines = error_lines(result.stderr)
        assert lines == [
            f"error: params.yaml: {key}: {says}. Fix params.yaml, or restore the committed one with "
            "`git checkout params.yaml` "
            f"(`git diff params.yaml` shows what changed); `{RESTORE_ANN}` brings back the last good outputs"
        ], result.stderr
        assert "Traceback" not in result.stderr and "`git checkout params.yaml`" in result.stderr
        assert not leftovers(repo)
        git(repo, "checkout", "params.yaml")  # the commands the message gives
        restore(repo, env, lines[0])
        assert snapshot(repo) == before
        status = run([DVC, "status", "train@ann"], repo, env)
        assert "up to date" in status.stdout, status.stdout


@pytest.mark.e2e
def test_divergence_stops_in_a_few_steps_writes_nothing_and_fails_the_run(ann_project):
    repo, env = ann_project
    before, runs_before = snapshot(repo), mlflow_statuses(env)
    result = run([DVC, "exp", "run", "-S", "ann.train.lr=1e6", "train@ann"], repo, env, check=False)
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert (
        line.startswith("error: train@ann: training diverged at epoch 1 of 2, step ")
        and "learning rate 1e+06, k0 " in line
    )
    assert int(line.split(", step ")[1].split(":")[0]) <= 5
    assert line.endswith(
        "; nothing written. Lower ann.train.lr or start init.k0/init.k1 nearer 0 and 1 (`git checkout params.yaml` "
        f"restores the committed values); `{RESTORE_ANN}` brings back the last good outputs"
    )
    assert not leftovers(repo)
    assert mlflow_statuses(env) == [*runs_before, "FAILED"]
    git(repo, "checkout", "params.yaml")
    restore(repo, env, line)
    assert snapshot(repo) == before


def _interrupt(repo: Path, env: dict[str, str], signum: int, whole_group: bool) -> tuple[int, str]:
    """Start a long `dvc repro train@ann`, wait for its second epoch, then signal it."""
    with training_at_epoch_2(repo, env) as (proc, output):
        if whole_group:  # Ctrl-C in a terminal: every process of the group
            os.killpg(proc.pid, signum)
        else:  # a process manager stopping the training process itself
            import psutil

            # The python process itself, not the shell DVC may start it through (`sh -c "python -m
            # stages.train ann"`: bash execs the command, dash keeps a parent shell).
            children = [p for p in psutil.Process(proc.pid).children(recursive=True) if "stages.train" in p.cmdline()]
            assert len(children) == 1
            children[0].send_signal(signum)
        output.extend(proc.stdout)
        proc.wait(timeout=60)
    return proc.returncode, "".join(output)


@pytest.mark.e2e
@pytest.mark.parametrize("signum, whole_group", [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_interruption_is_one_line_keeps_results_and_kills_the_run(ann_project, signum, whole_group):
    repo, env = ann_project
    before, runs_before = snapshot(repo), mlflow_statuses(env)
    returncode, output = _interrupt(repo, env, signum, whole_group)
    assert returncode != 0
    lines = error_lines(output)
    assert len(lines) == 1 and lines[0].startswith("interrupted at epoch "), output
    assert lines[0].endswith(f" of 400; nothing written; `{RESTORE_ANN}` brings back the last good outputs"), output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    if not whole_group:
        assert f"exited with {128 + signum}" in output  # DVC reports the conventional status
    assert not leftovers(repo)
    assert mlflow_statuses(env) == [*runs_before, "KILLED"]
    restore(repo, env, lines[0])
    assert snapshot(repo) == before
    status = run([DVC, "status", "train@ann"], repo, env)
    assert "up to date" in status.stdout, status.stdout  # the lock still describes what is there
