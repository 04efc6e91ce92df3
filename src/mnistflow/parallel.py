"""How many cores a job may use, and independent work spread over them (no torch here).

``$MNISTFLOW_THREADS`` is a job's share of the machine: jobs that share it (``dvc queue start
--jobs 2``) must split the cores, or each job's threads wait on the others'. Unset, a job uses
every core it may run on. Training sets torch's threads from it (``training.configure_threads``)
and the plot stage its worker processes (:func:`run_forked`).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence

from mnistflow.errors import UserError

THREADS_ENV = "MNISTFLOW_THREADS"


def job_threads(env: Mapping[str, str] | None = None) -> int | None:
    """``$MNISTFLOW_THREADS`` as a number of threads; None when it is unset."""
    value = (os.environ if env is None else env).get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UserError(
            f"{THREADS_ENV}={value} must be a whole number of threads >= 1, e.g. `export {THREADS_ENV}=1` for two jobs "
            "on two cores"
        )
    return int(value)


def job_cores(env: Mapping[str, str] | None = None) -> int:
    """The cores this job may use: ``$MNISTFLOW_THREADS``, else every core it may run on."""
    threads = job_threads(env)
    if threads is not None:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_forked(tasks: Sequence[Callable[[], object]], workers: int) -> None:
    """Run ``tasks`` (independent, each writing its own file) in up to ``workers`` processes.

    The process forks ``workers - 1`` children, which share everything already loaded, and
    each process runs every ``workers``-th task; the children end with ``os._exit``, so they
    never run the caller's cleanup (a ``files.staged`` block stays the parent's to finish).
    A failing child prints its traceback (an interrupted one exits quietly: the parent reports
    the interruption); the parent then raises RuntimeError, after every child has ended.
    Without ``os.fork`` (Windows), or with one worker, the tasks run here.
    """
    workers = max(1, min(workers, len(tasks)))
    if workers == 1 or not hasattr(os, "fork"):
        for task in tasks:
            task()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    children = []
    try:
        for worker in range(1, workers):
            pid = os.fork()
            if pid == 0:  # a child: its share of the tasks, then out without any cleanup
                status = 0
                try:
                    for task in tasks[worker::workers]:
                        task()
                except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the parent says it
                    status = 130
                except BaseException:
                    traceback.print_exc()
                    status = 1
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(status)
            children.append(pid)
        for task in tasks[0::workers]:
            task()
    finally:
        failed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in children)
    if failed:
        raise RuntimeError(f"{failed} of {len(children)} worker processes failed (their tracebacks are above)")
