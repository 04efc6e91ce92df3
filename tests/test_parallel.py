"""Independent work in forked processes: every task runs once, in more than one process, and a
failure anywhere is an error after every process has ended."""

from __future__ import annotations

import os

import pytest

from mnistflow.errors import UserError
from mnistflow.parallel import job_cores, job_threads, run_forked


def writer(path, text=""):
    return lambda: path.write_text(f"{os.getpid()} {text}")


def test_tasks_run_once_each_shared_between_processes(tmp_path):
    files = [tmp_path / f"{i}.txt" for i in range(5)]
    run_forked([writer(f, str(i)) for i, f in enumerate(files)], workers=2)
    pids = {}
    for i, f in enumerate(files):
        pid, text = f.read_text().split()
        assert text == str(i)
        pids.setdefault(int(pid), []).append(i)
    assert pids[os.getpid()] == [0, 2, 4]  # the caller runs every second task, a child the others
    assert [tasks for pid, tasks in pids.items() if pid != os.getpid()] == [[1, 3]]


def test_one_worker_or_one_task_runs_here(tmp_path):
    run_forked([writer(tmp_path / "a"), writer(tmp_path / "b")], workers=1)
    run_forked([writer(tmp_path / "c")], workers=4)
    assert {(tmp_path / n).read_text().split()[0] for n in "abc"} == {str(os.getpid())}


def test_a_failing_child_is_an_error_after_the_others_finished(tmp_path, capfd):
    def fail():
        raise ValueError("no such figure")

    with pytest.raises(RuntimeError, match=r"^1 of 1 worker processes failed"):
        run_forked([writer(tmp_path / "a"), fail, writer(tmp_path / "b")], workers=2)
    assert (tmp_path / "a").exists() and (tmp_path / "b").exists()
    assert "ValueError: no such figure" in capfd.readouterr().err


def test_the_job_share_of_cores():
    assert job_threads({}) is None and job_threads({"MNISTFLOW_THREADS": " 3 "}) == 3
    assert job_cores({"MNISTFLOW_THREADS": "1"}) == 1
    assert job_cores({}) == len(os.sched_getaffinity(0))
    with pytest.raises(UserError, match="^MNISTFLOW_THREADS=0 must be a whole number of threads >= 1"):
        job_cores({"MNISTFLOW_THREADS": "0"})
