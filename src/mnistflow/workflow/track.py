"""Stage track: every model's test results and figures, added to its MLflow training run.

The training stage records its run live (params, datasets, per-epoch metrics, the model); the
evaluate and plot stages only write files, so that neither pays for importing MLflow and opening
its store. This stage, once for all models, reopens each model's run (found by its checkpoint's
SHA-256, ``tracking.attach``) and logs the test metrics (linked to the logged model and the
test dataset, as ``test/<metric>``), the evaluation files and the PNGs. A run that already holds
exactly these files (its ``evaluation_sha256`` tag) is left alone, so a model that did not
change costs one query. Last, it records each model's ``@champion`` in the registry in
reports/registry.json, which the report shows (the report stage does not import MLflow).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mnistflow import outputs, paths, tracking
from mnistflow.data.prepare import load_split
from mnistflow.files import read_json, write_json

EVALUATION_TAG = "evaluation_sha256"


def evaluation_files(name: str) -> list[Path]:
    """What the evaluate stage wrote for model ``name``, metrics first."""
    return [paths.eval_metrics(name), paths.per_class(name), paths.roc(name), paths.confusion(name)]


def figures(name: str) -> list[Path]:
    return sorted(paths.images(name).glob("*.png"))


def digest(files: list[Path]) -> str:
    """One SHA-256 over the files' names and contents."""
    total = hashlib.sha256()
    for path in files:
        total.update(path.as_posix().encode() + b"\0" + tracking.file_sha256(path).encode())
    return total.hexdigest()


def track(models: list[str]) -> dict[str, str]:
    """Add each model's test results to its MLflow run; return per model what was done."""
    tracking.check_store()  # before any work: the MLflow store answers, or one line says why not
    test = load_split("test")
    done = {}
    for name in models:
        evaluation, pngs = evaluation_files(name), figures(name)
        missing = [str(path) for path in evaluation if not path.is_file()] or (
            [] if pngs else [f"{paths.images(name)}/*.png"]
        )
        if missing:
            raise FileNotFoundError(f"{missing[0]} is missing; run `dvc repro plot@{name}` first")
        sha = digest(evaluation + pngs)
        with tracking.attach(paths.checkpoint(name)) as run:
            if run is None:
                done[name] = "no run"
            elif run.tags.get(EVALUATION_TAG) == sha:
                done[name] = "up to date"
            else:
                metrics = read_json(paths.eval_metrics(name))
                run.log_dataset("test", paths.split_file("test"), test.x, outputs.load(name).task.labels(test.y))
                run.log_metrics(
                    {f"test/{k}": v for k, v in metrics.items()}, dataset="test", for_model=True
                )  # charted as one group
                for path in evaluation:
                    run.log_artifact(path, "evaluation")
                for path in pngs:
                    run.log_artifact(path, "plots")
                run.set_tags({EVALUATION_TAG: sha})
                done[name] = f"test metrics, {len(evaluation)} evaluation files and {len(pngs)} figures logged"
        print(f"track {name}: {done[name]}")
    write_registry(models)
    return done


def write_registry(models: list[str]) -> None:
    """Record each model's ``@champion`` in the registry (``paths.REGISTRY``, for the report).
    A model this store has no champion of keeps its entry (a fresh clone's new store knows none
    of the runs the pulled results came from)."""
    registry = read_json(paths.REGISTRY) if paths.REGISTRY.is_file() else {}
    found = tracking.champions({name: tracking.file_sha256(paths.checkpoint(name)) for name in models})
    registry.update({name: entry for name, entry in found.items() if entry is not None})
    order = [*paths.pipeline_models(), *registry]
    write_json(paths.REGISTRY, {name: registry[name] for name in dict.fromkeys(order) if name in registry})
