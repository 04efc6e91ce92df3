"""MLflow: the only module that imports it.

A training stage opens one run per model (``training_run``): its params, per-epoch metrics as
steps, final metrics, history files and the model. The evaluate and plot stages then add test
metrics and PNGs to the *same* run, found by the SHA-256 of the checkpoint they read
(``attach``), so one run holds everything about one trained model.

The store defaults to ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlruns``,
absolute paths resolved from the user's project even inside ``dvc exp run --temp/--queue``
copies, so every experiment lands in one place. ``MLFLOW_TRACKING_URI`` overrides it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mnistflow.paths import project_root

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
EXPERIMENT = "mnist"
CHECKPOINT_TAG = "checkpoint_sha256"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_tags(stage: str, model: str) -> dict[str, str]:
    """The git commit, the DVC stage and, inside ``dvc exp run``, the experiment's name."""
    tags = {"dvc.stage": stage, "model": model}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def _mlflow():
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # Artifacts beside the database, at an absolute path (temporary DVC runs lose relative ones).
        mlflow.create_experiment(EXPERIMENT, artifact_location=(project_root() / "mlruns").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


class Run:
    """A thin handle on an active MLflow run, with the calls the stages need."""

    def __init__(self, mlflow: Any):
        self.mlflow = mlflow

    @property
    def run_id(self) -> str:
        return self.mlflow.active_run().info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.mlflow.log_params({k: v for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.mlflow.log_metrics(numeric, step=step)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=folder)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.mlflow.set_tags(dict(tags))

    def log_model(self, model: Any, input_example: Any) -> None:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.mlflow.pytorch.log_model(
                model,
                name="model",
                input_example=input_example,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            )


@contextlib.contextmanager
def training_run(stage: str, model: str, params: Mapping[str, Any]) -> Iterator[Run]:
    """Start the MLflow run of one training stage for one model, tagged and with its params."""
    mlflow = _mlflow()
    name = f"{model}-{os.environ['DVC_EXP_NAME']}" if os.environ.get("DVC_EXP_NAME") else model
    with mlflow.start_run(run_name=name, tags=run_tags(stage, model)):
        run = Run(mlflow)
        run.log_params(params)
        yield run


@contextlib.contextmanager
def attach(checkpoint: str | Path) -> Iterator[Run | None]:
    """Reopen the training run that saved ``checkpoint``; yield None if the store lacks it.

    The store is local and not versioned: a fresh clone, or another machine, has the committed
    checkpoint hashes but not the runs, and the stage then goes on without MLflow.
    """
    mlflow = _mlflow()
    sha = file_sha256(checkpoint)
    found = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string=f"tags.{CHECKPOINT_TAG} = '{sha}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    if not found:
        print(
            f"note: no MLflow run in {tracking_uri()} saved {checkpoint} (sha256 {sha[:12]}); "
            "its metrics and plots are not added to MLflow (re-run its training stage to record one)",
            file=sys.stderr,
        )
        yield None
        return
    with mlflow.start_run(run_id=found[0].info.run_id):
        yield Run(mlflow)
