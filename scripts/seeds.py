"""Train every model (or those named) with seeds 0, 1 and 2 as DVC experiments; print each
model's mean, min and max validation, test and perturbed-test accuracy as a Markdown table.

    python scripts/seeds.py [--models mlp lenet5] [--seeds 0 1 2] [--jobs 1]
    python scripts/seeds.py --collect-only [--models ...] [--seeds ...] [--save docs/seeds-margin.json]
    python scripts/seeds.py --from docs/seeds-margin.json     # README's table, from the saved run

One queued experiment per seed, named ``seeds-<seed>`` (``seeds-<seed>-<model>-...`` for some
of the models), sets ``<model>.train.seed`` of every model asked for and runs only their train
and evaluate stages (``dvc exp run --queue -S ... evaluate@<model> ...``): a seed changes no
other stage's inputs, and the plots, summary and report are not needed to read the margin. An
experiment of that name already on this commit is collected, not run again. The queue then
runs with ``dvc queue start --jobs J``; jobs that run together split the cores
(``MNISTFLOW_THREADS``, set to cores / J when unset). ``--collect-only`` reprints the table
from the experiments of this commit without running anything. docs/robustness.md has the why.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mnistflow import paths  # noqa: E402
from mnistflow.columns import Bar  # noqa: E402
from mnistflow.experiments import experiments  # noqa: E402
from mnistflow.parallel import THREADS_ENV, job_cores  # noqa: E402

# The dvc beside this Python (the project's venv), so the script runs without activating it.
DVC = str(Path(sys.executable).parent / "dvc") if (Path(sys.executable).parent / "dvc").is_file() else "dvc"
PREFIX = "seeds"
UNFINISHED = ("queued", "running")  # `dvc exp show --json`'s executor states of a queued experiment
# What the table reports per model: (column, metrics file, key).
MEASURES = (
    ("validation accuracy", paths.train_metrics, "val_acc"),
    ("test accuracy", paths.eval_metrics, "accuracy"),
    ("perturbed accuracy", paths.eval_metrics, "perturbed_accuracy"),
)


class SeedsError(Exception):
    """A DVC command failed or the experiments cannot give a table; the message is one line."""


# --- what `dvc exp show --json` says ---------------------------------------------------------------


def experiment_name(seed: int, models: Sequence[str], all_models: Sequence[str]) -> str:
    """``seeds-<seed>`` for every model of the pipeline, else ``seeds-<seed>-<model>-...``."""
    if list(models) == list(all_models):
        return f"{PREFIX}-{seed}"
    return "-".join([PREFIX, str(seed), *models])


def ours(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [row for row in rows if str(row["name"]).startswith(f"{PREFIX}-")]


def results(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], seeds: Sequence[int]
) -> dict[str, dict[int, dict[str, float]]]:
    """model -> seed -> measure -> value, from the finished ``seeds-*`` experiments. Each model's
    result for a seed is read from the first experiment that trained it with that seed (any
    other holds the same bytes: training is deterministic)."""
    found: dict[str, dict[int, dict[str, float]]] = {model: {} for model in models}
    for row in ours(rows):
        if row["state"] in (*UNFINISHED, "failed"):
            continue
        for model in models:
            seed = ((row["params"].get(model) or {}).get("train") or {}).get("seed")
            if seed not in seeds or seed in found[model]:
                continue
            values = {column: (row["metrics"].get(str(file(model))) or {}).get(key) for column, file, key in MEASURES}
            if values["test accuracy"] is not None:
                found[model][seed] = {column: value for column, value in values.items() if value is not None}
    return found


def spread(values: Sequence[float]) -> str:
    """``99.12% (99.05–99.20)``: the mean, then the min and max, in percent; — when none."""
    if not values:
        return "—"
    return f"{statistics.fmean(values):.2%} ({100 * min(values):.2f}–{100 * max(values):.2f})"


def bar_cell(bar: Bar | None, by_seed: Mapping[int, Mapping[str, float]]) -> str:
    """The model's bar (dvc.yaml) and whether the seeds' test accuracies meet it."""
    if bar is None:
        return "—"
    accuracies = {seed: got["test accuracy"] for seed, got in by_seed.items() if "test accuracy" in got}
    missed = bar.shortfall(accuracies)
    if missed:
        return f"{bar.text()}: **not met** ({missed})"
    # The margin, to the image: a bar met by a hair is read as such.
    mean = statistics.fmean(accuracies.values())
    return f"{bar.text()}: met (mean {mean:.3%}, lowest {min(accuracies.values()):.2%})"


def table(found: Mapping[str, Mapping[int, Mapping[str, float]]], bars: Mapping[str, Bar | None]) -> str:
    """The Markdown table: a row per model, mean (min–max) of each measure over its seeds, and
    the model's test bar with its verdict on these seeds (``bars``: model -> bar)."""
    columns = ["model", "seeds", *(f"{column}, mean (min–max)" for column, _, _ in MEASURES), "test bar"]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for model, by_seed in found.items():
        seeds = sorted(by_seed)
        cells = [f"`{model}`", ", ".join(map(str, seeds)) or "none"]
        cells += [spread([by_seed[s][column] for s in seeds if column in by_seed[s]]) for column, _, _ in MEASURES]
        cells.append(bar_cell(bars.get(model), by_seed))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pipeline_bars() -> dict[str, Bar | None]:
    """Each model's bar, from dvc.yaml's ``vars: models``."""
    return {
        model: Bar.parse(model, entry.get("bar"))
        for model, entry in paths.pipeline_entries(ROOT / paths.DVC_YAML).items()
    }


def missing(found: Mapping[str, Mapping[int, Any]], seeds: Sequence[int]) -> list[str]:
    """``model seed N`` for every result the table lacks."""
    return [f"{model} seed {seed}" for model, by_seed in found.items() for seed in seeds if seed not in by_seed]


def save(path: Path, found: Mapping[str, Mapping[int, Mapping[str, float]]], commit: str) -> None:
    """The results, with the commit the seeds ran on, as JSON (README's seeds table is printed from it)."""
    document = {
        "commit": commit,
        "results": {m: {str(k): v for k, v in by.items()} for m, by in found.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> dict[str, dict[int, dict[str, float]]]:
    """What :func:`save` wrote: model -> seed -> measure -> value."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {m: {int(k): v for k, v in by.items()} for m, by in document["results"].items()}


# --- running DVC ------------------------------------------------------------------------------------


def dvc(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run ``dvc args`` in the project; its stdout, or :class:`SeedsError` with its last error line.

    Its output goes to temporary files, not pipes: `dvc queue start` leaves its worker running
    with the same stdout and stderr, and reading a pipe to its end would wait for that worker to
    exit (the whole queue, then its idle timeout), so that the queue's progress is never shown."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            [DVC, *args],
            cwd=ROOT,
            env=None if env is None else dict(env),
            stdout=out,
            stderr=err,
            text=True,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        lines = [line.strip() for line in (stderr + stdout).splitlines() if line.strip()]
        raise SeedsError(f"`dvc {' '.join(args)}` failed: {lines[-1] if lines else f'exit status {proc.returncode}'}")
    return stdout


def exp_show(rev: str) -> list[dict[str, Any]]:
    """The experiments whose baseline is commit ``rev`` (the one the seeds were queued on, also
    when a commit was made while they ran)."""
    return experiments(json.loads(dvc(["exp", "show", "--json", "--rev", rev])))


def commit_of(rev: str) -> str:
    """The full hash of ``rev`` (HEAD when the seeds are queued: their experiments' baseline)."""
    proc = subprocess.run(["git", "rev-parse", "--verify", rev], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SeedsError(f"{rev} is not a commit of this repository; give one `git log` lists")
    return proc.stdout.strip()


def queue(name: str, seed: int, models: Sequence[str]) -> None:
    overrides = [arg for model in models for arg in ("-S", f"{model}.train.seed={seed}")]
    dvc(["exp", "run", "--queue", "-n", name, *overrides, *(f"evaluate@{model}" for model in models)])


def queue_env(jobs: int, env: Mapping[str, str]) -> dict[str, str]:
    """The environment of the queue's workers: ``MNISTFLOW_THREADS`` as given, or cores / jobs
    when several jobs share the machine (each would otherwise start a thread per core)."""
    env = dict(env)
    if jobs > 1 and not env.get(THREADS_ENV):
        env[THREADS_ENV] = str(max(1, job_cores(env) // jobs))
    return env


def wait(names: Sequence[str], rev: str, poll_s: float) -> list[str]:
    """Wait until none of ``names`` is queued or running, printing each change of state;
    return the names that failed."""
    states: dict[str, str | None] = {}
    while True:
        current = {row["name"]: row["state"] for row in exp_show(rev) if row["name"] in names}
        for name in names:
            if current.get(name) != states.get(name):
                print(f"{name}: {current.get(name) or 'not in the queue'}", file=sys.stderr, flush=True)
        states = current
        if not any(states.get(name) in UNFINISHED for name in names):
            return [name for name in names if states.get(name) == "failed"]
        time.sleep(poll_s)


def run_seeds(
    models: Sequence[str], all_models: Sequence[str], seeds: Sequence[int], jobs: int, rev: str, poll_s: float
) -> list[str]:
    """Queue the seeds' experiments not on commit ``rev`` (HEAD) yet, run the queue, wait; the failed ones."""
    existing = {row["name"] for row in exp_show(rev)}
    names = []
    for seed in seeds:
        name = experiment_name(seed, models, all_models)
        if name in existing:
            print(
                f"{name}: on this commit already, collected as it is (`dvc exp remove {name}` to run it again)",
                file=sys.stderr,
            )
            continue
        queue(name, seed, models)
        names.append(name)
    if not names:
        return []
    env = queue_env(jobs, os.environ)
    print(
        f"running {len(names)} experiment(s), {jobs} at a time ({THREADS_ENV}={env.get(THREADS_ENV, 'unset')}); "
        "`dvc queue logs <name>` shows one's output",
        file=sys.stderr,
    )
    dvc(["queue", "start", "--jobs", str(jobs)], env)
    return wait(names, rev, poll_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    all_models = paths.pipeline_models(ROOT / paths.DVC_YAML)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=all_models,
        default=all_models,
        metavar="MODEL",
        help=f"models to train (default: all of {', '.join(all_models)})",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="train.seed values (default: 0 1 2)")
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at once (default 1; they split the cores)")
    parser.add_argument("--poll", type=float, default=15.0, help="seconds between looks at the queue")
    parser.add_argument(
        "--collect-only", action="store_true", help="only print the table of the experiments already run"
    )
    parser.add_argument("--rev", default="HEAD", help="with --collect-only: the commit the seeds ran on (default HEAD)")
    parser.add_argument("--save", type=Path, metavar="JSON", help="also write the results (and their commit) to JSON")
    parser.add_argument("--from", dest="source", type=Path, metavar="JSON", help="print the table of a --save file")
    args = parser.parse_args(argv)
    if args.source:
        print(table(load(args.source), pipeline_bars()), end="")
        return 0
    models = [m for m in all_models if m in args.models]  # the pipeline's order, each once
    seeds = sorted(set(args.seeds))
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    try:
        rev = commit_of(args.rev if args.collect_only else "HEAD")
        failed = [] if args.collect_only else run_seeds(models, all_models, seeds, args.jobs, rev, args.poll)
        found = results(exp_show(rev), models, seeds)
    except SeedsError as exc:
        print(f"seeds: {exc}", file=sys.stderr)
        return 1
    for name in failed:
        print(
            f"{name}: failed; `dvc queue logs {name}` shows why, `dvc exp remove {name}` then this command runs it "
            "again",
            file=sys.stderr,
        )
    print(table(found, pipeline_bars()), end="")
    if args.save:
        save(args.save, found, rev)
    lacking = missing(found, seeds)
    if lacking:
        hint = (
            "run `python scripts/seeds.py` with the same --models and --seeds"
            if args.collect_only
            else "see the failures above"
        )
        print(f"no results for {', '.join(lacking)}; {hint}", file=sys.stderr)
    return 1 if failed or lacking else 0


if __name__ == "__main__":
    sys.exit(main())
