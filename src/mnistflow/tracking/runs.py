"""MLflow runs: one per trained model, opened by its training stage and reopened by track.

A training stage opens one run per model (``training_run``): its params, the datasets it read,
per-epoch metrics as steps, final metrics, history files and the model
(``mnistflow.tracking.models``). The track stage then adds the evaluate stage's test metrics and
files and the plot stage's PNGs to the *same* run, found by the SHA-256 of the checkpoint
(``attach``); the test metrics are linked to the logged model and the test dataset, so one run
holds everything about one trained model; it keeps the training's end time. A run ends
FINISHED, FAILED when its stage raised, KILLED when it was interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mnistflow.activations import COEFFICIENT
from mnistflow.tracking.models import CHECKPOINT_TAG, log_model, promote
from mnistflow.tracking.store import bounded_requests, check_store, mlflow_at, redact, store_errors, tracking_uri

DATASET_CONTEXTS = {"train": "training", "val": "validation", "test": "test"}  # split -> MLflow input context


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


# --- metric names --------------------------------------------------------------------------------

_SPLIT_METRIC = re.compile(r"^(train|val|test)_(.+)$")


def metric_name(column: str) -> str | None:
    """The MLflow name of a per-epoch history column, grouped the way the MLflow UI charts
    metrics (by the prefix before ``/``): ``train_loss`` -> ``loss/train``, ``val_acc`` ->
    ``acc/val``, ``k0`` -> ``k/k0`` (``k1_l2`` -> ``k/k1_l2``, ``b1`` -> ``k/b1``), ``x_lo_l1`` ->
    ``x/x_lo_l1``, ``epoch_seconds`` ->
    ``time/epoch_seconds``; ``lr`` stays ``lr``. ``epoch`` is the step, not a metric (None).
    The history files keep the column names."""
    if column == "epoch":
        return None
    if match := _SPLIT_METRIC.match(column):
        return f"{match.group(2)}/{match.group(1)}"
    if COEFFICIENT.fullmatch(column):  # every activation coefficient: k0.., b1..
        return f"k/{column}"
    if column.startswith(("x_lo_l", "x_hi_l")) or column == "span":  # where the activation's inputs lie
        return f"x/{column}"
    if column == "epoch_seconds":
        return "time/epoch_seconds"
    return column


def epoch_metrics(row: Mapping[str, float], seconds: float) -> dict[str, float]:
    """One history row (and the epoch's wall time) under their MLflow names.

    Epoch 0 is the untrained network: its scores (``acc/*``, ``loss/*``) go under their own keys
    (``untrained/acc/test``), so that the MLflow UI's per-epoch charts start at epoch 1, where the
    runs differ, instead of on an axis stretched to the untrained 10%."""
    named = {metric_name(k): v for k, v in {**row, "epoch_seconds": seconds}.items()}
    untrained = int(row["epoch"]) == 0
    return {
        f"untrained/{k}" if untrained and k.startswith(("acc/", "loss/")) else k: v
        for k, v in named.items()
        if k is not None
    }


# --- runs ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _ending(mlflow: Any, uri: str) -> Iterator[None]:
    """End the active run when the block ends: FINISHED, FAILED if the block raised, KILLED if
    it was interrupted (``errors.Interrupted``, Ctrl-C: a KeyboardInterrupt).
    A failure to record the status never hides the block's own exception."""
    try:
        yield
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            with bounded_requests():
                mlflow.end_run(status=status)
        except Exception as end_exc:  # the store failing too: say so, keep the real error
            print(
                f"note: could not mark the MLflow run {status} ({' '.join(str(end_exc).split())[:120]})",
                file=sys.stderr,
            )
        raise
    with store_errors(uri, "ending the run"):
        mlflow.end_run(status="FINISHED")


class Run:
    """A thin handle on an active MLflow run, with the calls the stages need."""

    def __init__(
        self, mlflow: Any, uri: str, model: str, model_id: str | None = None, tags: Mapping[str, str] | None = None
    ):
        self.mlflow = mlflow
        self.uri = uri
        self.model = model
        self.model_id = model_id  # the LoggedModel this run produced, once known
        self.tags = dict(tags or {})  # the run's tags when it was opened
        self.datasets: dict[str, Any] = {}  # split name -> MLflow dataset logged as an input
        self.version: str | None = None  # the registered model version this run produced, once logged

    @property
    def run_id(self) -> str:
        return self.mlflow.active_run().info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        with store_errors(self.uri, "logging params"):
            self.mlflow.log_params({k: v for k, v in params.items()})

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        *,
        dataset: str | None = None,
        for_model: bool = False,
    ) -> None:
        """Numeric values of ``metrics``; ``dataset`` names a split logged by :meth:`log_dataset`
        they were measured on, ``for_model`` links them to the run's logged model."""
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        model_id = self.find_model_id() if for_model else None
        with store_errors(self.uri, "logging metrics"):
            self.mlflow.log_metrics(
                numeric, step=step, model_id=model_id, dataset=self.datasets.get(dataset) if dataset else None
            )

    def log_epoch(self, row: Mapping[str, float], seconds: float) -> None:
        """One per-epoch history row, as steps under grouped names (see :func:`metric_name`;
        epoch 0's scores under ``untrained/``, see :func:`epoch_metrics`)."""
        self.log_metrics(epoch_metrics(row, seconds), step=int(row["epoch"]))

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        with store_errors(self.uri, f"uploading {Path(path).name}"):
            self.mlflow.log_artifact(str(path), artifact_path=folder)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        with store_errors(self.uri, "setting tags"):
            self.mlflow.set_tags(dict(tags))

    def log_dataset(self, split: str, path: str | Path, x: Any, y: Any, context: str | None = None) -> None:
        """Log split ``split`` (features ``x``, labels ``y``, read from ``path``) as an input of
        the run: name ``mnist-<split>``, digest the first 32 hex digits of the file's SHA-256
        (full hash in the input's ``sha256`` tag), shapes and dtypes as schema and profile."""
        import mlflow.data

        sha = file_sha256(path)
        with warnings.catch_warnings():  # "source can be interpreted in multiple ways" (two local sources)
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_numpy(x, targets=y, source=str(path), name=f"mnist-{split}", digest=sha[:32])
        with store_errors(self.uri, f"logging the {split} dataset"):
            self.mlflow.log_input(
                dataset, context=context or DATASET_CONTEXTS.get(split, split), tags={"sha256": sha, "path": str(path)}
            )
        self.datasets[split] = dataset

    def find_model_id(self) -> str | None:
        """The id of the LoggedModel this run produced (the newest, if several)."""
        if self.model_id is None:
            with store_errors(self.uri, "finding the run's logged model"):
                run = self.mlflow.get_run(self.run_id)
                outputs = run.outputs.model_outputs if run.outputs else []
                if outputs:
                    self.model_id = outputs[-1].model_id
        return self.model_id

    def log_model(
        self,
        model: Any,
        example: Any,
        data_info: Mapping[str, Any],
        positive: Sequence[int] | None = None,
        threshold: float = 0.5,
        step: int = 0,
    ) -> str:
        """Log and register ``model`` (``mnistflow.tracking.models.log_model``); its LoggedModel id."""
        self.model_id = log_model(self, model, example, data_info, positive=positive, threshold=threshold, step=step)
        return self.model_id

    def promote(self, val_acc: float) -> bool:
        """Record the registered version's validation accuracy; make it ``@champion`` if it is
        strictly the best (``mnistflow.tracking.models.promote``)."""
        return promote(self, val_acc)


@contextlib.contextmanager
def training_run(stage: str, model: str, params: Mapping[str, Any]) -> Iterator[Run]:
    """Start the MLflow run of one training stage for one model, tagged and with its params;
    it ends FINISHED, or FAILED/KILLED when the block raises/is interrupted."""
    check_store()
    uri = tracking_uri()
    mlflow = mlflow_at(uri)
    name = f"{model}-{os.environ['DVC_EXP_NAME']}" if os.environ.get("DVC_EXP_NAME") else model
    with store_errors(uri, "starting a run"):
        mlflow.start_run(run_name=name, tags=run_tags(stage, model))
    with _ending(mlflow, uri):
        run = Run(mlflow, uri, model)
        run.log_params(params)
        yield run


@contextlib.contextmanager
def attach(checkpoint: str | Path) -> Iterator[Run | None]:
    """Reopen the training run that saved ``checkpoint``; yield None if the store lacks it.

    The store is local and not versioned: a fresh clone, or another machine, has the committed
    checkpoint hashes but not the runs, and the stage then goes on without MLflow. The reopened
    run ends as it was (FINISHED), or FAILED/KILLED when the block raises/is interrupted.
    """
    experiment_id = check_store()
    uri = tracking_uri()
    mlflow = mlflow_at(uri)
    sha = file_sha256(checkpoint)
    with store_errors(uri, "searching runs"):
        found = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=f"tags.{CHECKPOINT_TAG} = '{sha}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
    if not found:
        print(
            f"note: no MLflow run in {redact(uri)} saved {checkpoint} (sha256 {sha[:12]}); "
            "its metrics and plots are not added to MLflow (re-run its training stage to record one)",
            file=sys.stderr,
        )
        yield None
        return
    training = found[0]
    outputs = training.outputs.model_outputs if training.outputs else []
    with store_errors(uri, "reopening the run"):
        mlflow.start_run(run_id=training.info.run_id)
    with _ending(mlflow, uri):
        yield Run(
            mlflow,
            uri,
            training.data.tags.get("model", Path(checkpoint).stem),
            outputs[-1].model_id if outputs else None,
            training.data.tags,
        )
    keep_end_time(mlflow, uri, training.info)


def keep_end_time(mlflow: Any, uri: str, info: Any) -> None:
    """End the reopened run when its training ended, as it was: reopening moved its end time to
    now, and the MLflow UI shows a run's duration as end minus start (the training's, not the
    hours until the track stage ran)."""
    if info.end_time is None:
        return
    with store_errors(uri, "restoring the run's end time"):
        mlflow.MlflowClient().set_terminated(info.run_id, status=info.status, end_time=info.end_time)
