"""Time the whole pipeline from nothing, stage by stage, and the reference PyTorch MNIST example.

    MNIST_MIRROR=../shared/mnist python benchmarks/pipeline.py [--reference path/to/examples/mnist/main.py]

In a temporary clone of the committed project (so an empty DVC cache and a fresh MLflow store),
one `dvc repro --force` runs every stage (a plain one skips a stage whose inputs came out
byte-identical to those the committed dvc.lock records, its outputs being in git); the script
follows its output as it streams and prints, per stage: wall time, fixed cost (wall minus the epochs'
own time: start-up, imports, data loading, the untrained net's evaluation, checkpoint and
MLflow), training images per second, peak RSS of the stage's process and test accuracy, and
which git-tracked files differ from the commit (none, when the committed run was made on the
same machine). Then the no-op `dvc repro`, `dvc exp run -S init.k1=0.5` and a 2-experiment queue
with 1 and 2 jobs. With ``--reference``, pytorch/examples' mnist/main.py (bring it yourself; it
is not part of this project) runs on the same MNIST files on the CPU, and its per-epoch time and
accuracy print next to the deep CNN's. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
EPOCH_LINE = re.compile(r"^epoch +(\d+)/(\d+) .*\(([\d.]+) s\)$")
SIZES = re.compile(r"'train': (\d+)")
REFERENCE_EPOCHS = 14  # the reference example's own default
REFERENCE_TEST = re.compile(r"Test set: Average loss: [\d.]+, Accuracy: (\d+)/(\d+)")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class PeakRSS:
    """Samples the resident memory of every process below ``pid`` (each stage's own peak)."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peaks: dict[int, tuple[str, int]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                children = self.root.children(recursive=True)
            except psutil.Error:
                return
            for child in children:
                try:
                    cmd = " ".join(child.cmdline())
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                if "-m stages." in cmd:
                    name, peak = self.peaks.get(child.pid, (cmd, 0))
                    self.peaks[child.pid] = (cmd, max(peak, rss))

    def by_command(self) -> dict[str, int]:
        self.stop.set()
        self.thread.join()
        out: dict[str, int] = {}
        for cmd, peak in self.peaks.values():
            stage = cmd.split("-m stages.", 1)[1]
            out[stage] = max(out.get(stage, 0), peak)
        return out


def run_repro(repo: Path, env: dict[str, str], log: Path) -> tuple[float, dict[str, dict]]:
    """One `dvc repro`, followed line by line: per stage its wall time and epoch times. Its
    output goes to ``log`` as it came, each line after its second since the start."""
    stages: dict[str, dict] = {}
    current = None
    start = last = time.monotonic()
    proc = subprocess.Popen(
        [str(VENV_BIN / "dvc"), "repro", "--force"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    rss = PeakRSS(proc.pid)
    with log.open("w", buffering=1) as out:  # line by line: `tail -f` it while the run goes on
        for line in proc.stdout:
            now = time.monotonic()
            out.write(f"{now - start:8.2f} {line}")
            line = line.rstrip("\n")
            found = re.search(
                r"Running stage '([^']+)':", line
            )  # anywhere: a line may start with another tool's output
            if found:
                if current:
                    stages[current]["wall"] = now - last
                current, last = found.group(1), now
                stages[current] = {"epochs": [], "cmd": None, "train_images": 0}
                print(f"  {current} ...", flush=True)
                continue
            if current and line.startswith("> python -m stages."):
                stages[current]["cmd"] = line[len("> python -m stages.") :]
            if current and (m := EPOCH_LINE.match(line)):
                stages[current]["epochs"].append(float(m.group(3)))
            if current and (m := SIZES.search(line)):
                stages[current]["train_images"] = int(m.group(1))
    proc.wait()
    end = time.monotonic()
    if current:
        stages[current]["wall"] = end - last
    peaks = rss.by_command()
    for info in stages.values():
        info["rss"] = peaks.get(info["cmd"] or "", 0)
    if proc.returncode:
        sys.exit(f"dvc repro failed (exit {proc.returncode}) in {repo}")
    return end - start, stages


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - start


def threads_per_job(jobs: int) -> int:
    """Each parallel job's share of the cores (README: MNISTFLOW_THREADS = cores / jobs)."""
    return max(1, (os.cpu_count() or 1) // jobs)


def run_queue(repo: Path, env: dict[str, str], jobs: int, values: tuple[str, ...], timeout_s: float = 900) -> float:
    """Queue one experiment per ``init.k1`` value, run the queue with ``jobs`` workers, each on
    its share of the cores, and wait until every one has finished: the wall time."""
    dvc = str(VENV_BIN / "dvc")
    for value in values:  # values not run before, so DVC's run cache cannot skip the training
        subprocess.run(
            [dvc, "exp", "run", "--queue", "-S", f"init.k1={value}"], cwd=repo, env=env, check=True, capture_output=True
        )

    def wait_until(done: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = subprocess.run(
                [dvc, "queue", "status"], cwd=repo, env=env, check=True, capture_output=True, text=True
            ).stdout
            if done(status):
                return status
            time.sleep(1.0)
        sys.exit(f"{what} within {timeout:.0f} s:\n{status}")

    start = time.monotonic()
    subprocess.run(
        [dvc, "queue", "start", "--jobs", str(jobs)],
        cwd=repo,
        env={**env, "MNISTFLOW_THREADS": str(threads_per_job(jobs))},
        check=True,
        capture_output=True,
    )
    status = wait_until(lambda s: not re.search(r"\b(Queued|Running)\b", s), timeout_s, "the queue did not finish")
    seconds = time.monotonic() - start
    if "Failed" in status:
        sys.exit(f"a queued experiment failed:\n{status}")
    # Stop the idle workers and wait until they are gone: a lingering one would take a job of
    # the next queue with its own thread count.
    subprocess.run([dvc, "queue", "stop"], cwd=repo, env=env, capture_output=True)
    wait_until(lambda s: "Worker status: 0 active, 0 idle" in s, 60, "the queue's workers did not stop")
    return seconds


def run_reference(main_py: Path, mirror: Path, epochs: int, env: dict[str, str]) -> list[tuple[float, float]]:
    """pytorch/examples' mnist/main.py on the CPU: (seconds, test accuracy) per epoch (the
    first epoch's seconds include its start-up: imports and reading the files)."""
    work = Path(tempfile.mkdtemp(prefix="mnist-reference-"))
    raw = work / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in mirror.glob("*-ubyte.gz"):
        (raw / gz.name[:-3]).write_bytes(gzip.decompress(gz.read_bytes()))
        shutil.copy(gz, raw / gz.name)
    (work / "run").mkdir()
    shutil.copy(main_py, work / "run" / "main.py")
    rows = []
    start = last = time.monotonic()
    # -u: its lines as they happen (a piped Python buffers them), so each epoch is timed as it ends.
    proc = subprocess.Popen(
        [sys.executable, "-u", "main.py", "--no-accel", "--epochs", str(epochs), "--log-interval", "100000"],
        cwd=work / "run",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    for line in proc.stdout:
        output.append(line)
        if m := REFERENCE_TEST.search(line):
            now = time.monotonic()
            rows.append((now - last, int(m.group(1)) / int(m.group(2))))
            last = now
            print(f"  reference epoch {len(rows)}: {rows[-1][0]:.1f} s, {rows[-1][1]:.2%}", flush=True)
    proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    if proc.returncode or not rows:
        sys.exit(
            f"the reference example failed (exit {proc.returncode}; it needs a main.py with "
            f"--no-accel):\n{''.join(output[-20:])}"
        )
    print(f"  reference total {time.monotonic() - start:.0f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="pytorch/examples' mnist/main.py, run beside the deep CNN")
    parser.add_argument(
        "--reference-epochs",
        type=int,
        default=REFERENCE_EPOCHS,
        help="fewer: the rest is extrapolated from its later epochs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    mirror = os.environ.get("MNIST_MIRROR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    if mirror:
        env["MNIST_MIRROR"] = str(Path(mirror).resolve())

    tmp = Path(tempfile.mkdtemp(prefix="mnistflow-bench-"))
    repo = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    print(f"{cpu_name()}, {os.cpu_count()} cores; torch threads as configured; clone in {repo}")
    total, stages = run_repro(repo, env, tmp / "repro.log")

    print("\n| stage | wall | epochs | fixed cost | images/s | peak RSS | test accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, info in stages.items():
        epochs = info["epochs"]
        fixed = info["wall"] - sum(epochs)
        speed = f"{info['train_images'] * len(epochs) / sum(epochs):,.0f}" if epochs and info["train_images"] else ""
        acc = ""
        model = name.split("@", 1)[1] if name.startswith("evaluate@") else None
        if model and (repo / "metrics" / f"{model}.json").is_file():
            acc = f"{json.loads((repo / 'metrics' / f'{model}.json').read_text())['accuracy']:.2%}"
        print(
            f"| {name} | {info['wall']:.1f} s | {f'{len(epochs)} in {sum(epochs):.1f} s' if epochs else ''} | "
            f"{fixed:.1f} s | {speed} | {info['rss'] / 2**20:,.0f} MiB | {acc} |"
        )
    peak = max((info["rss"] for info in stages.values()), default=0)
    print(
        f"\nfull `dvc repro --force` from an empty cache: {total:.0f} s ({total / 60:.1f} min), peak RSS "
        f"{peak / 2**20:,.0f} MiB"
    )
    changed = subprocess.run(
        ["git", "diff", "--name-only"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split()
    if changed:
        print(
            f"git-tracked files that differ from the commit: {len(changed)} "
            f"({', '.join(changed[:6])}{', ...' if len(changed) > 6 else ''})"
        )
    else:
        print(
            "git-tracked files that differ from the commit: none (dvc.lock, metrics, plots, summaries byte-identical)"
        )
    print(f"no-op `dvc repro`: {timed([str(VENV_BIN / 'dvc'), 'repro'], repo, env):.1f} s")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "commit",
            "--allow-empty",
            "-qm",
            "bench run",
        ],
        cwd=repo,
        check=True,
    )
    print(
        "`dvc exp run -S init.k1=0.5`: "
        f"{timed([str(VENV_BIN / 'dvc'), 'exp', 'run', '-S', 'init.k1=0.5'], repo, env):.1f} s"
    )

    for jobs, values in ((1, ("0.4", "0.6")), (2, ("0.45", "0.55"))):
        seconds = run_queue(repo, env, jobs, values)
        print(
            "2-experiment queue (`dvc exp run --queue -S init.k1=...` x 2, then "
            f"`MNISTFLOW_THREADS={threads_per_job(jobs)} dvc queue start --jobs {jobs}`): {seconds:.1f} s"
        )

    deep = stages.get("train@deepcnn")
    if args.reference and deep:
        if not mirror:
            sys.exit("--reference needs MNIST_MIRROR (a folder with the four .gz files)")
        print(f"\nreference: {args.reference} --no-accel --epochs {args.reference_epochs}")
        ref = run_reference(args.reference, Path(env["MNIST_MIRROR"]), args.reference_epochs, env)
        history = (repo / "plots" / "deepcnn" / "history.csv").read_text().splitlines()
        header = history[0].split(",")
        accs = [float(row.split(",")[header.index("test_acc")]) for row in history[2:]]
        print("\n| epoch | reference s | reference test acc | deepcnn s | deepcnn test acc |")
        print("| --- | --- | --- | --- | --- |")
        for i in range(max(len(ref), len(deep["epochs"]))):
            r = f"{ref[i][0]:.1f} | {ref[i][1]:.2%}" if i < len(ref) else " | "
            d = f"{deep['epochs'][i]:.1f} | {accs[i]:.2%}" if i < len(deep["epochs"]) else " | "
            print(f"| {i + 1} | {r} | {d} |")
        ref_total = sum(s for s, _ in ref)
        print(
            f"\nreference {len(ref)} epochs: {ref_total:.0f} s, {ref[-1][1]:.2%}; deepcnn stage: {deep['wall']:.0f} s, "
            f"{accs[-1]:.2%}"
        )
        if len(ref) < REFERENCE_EPOCHS:  # its own 14-epoch recipe, at the pace of its later epochs
            pace = sum(s for s, _ in ref[1:]) / (len(ref) - 1) if len(ref) > 1 else ref[0][0]
            ref_total = ref[0][0] + pace * (REFERENCE_EPOCHS - 1)
            print(f"reference {REFERENCE_EPOCHS} epochs at that pace: about {ref_total:.0f} s")
        print(f"deepcnn stage / reference {REFERENCE_EPOCHS}-epoch run: {deep['wall'] / ref_total:.2f}x")
    if args.keep:
        print(f"kept {tmp} (dvc repro's output, timed: {tmp / 'repro.log'})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
