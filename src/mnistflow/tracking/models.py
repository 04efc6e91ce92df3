"""The trained network as an MLflow model: logged servable, registered as ``mnist-<model>``, and
loaded back (:func:`load_model`, for ``mnistflow predict --model-uri``).

Each registered version carries its training's validation accuracy (version tag ``val_acc``);
the alias ``champion`` names the version with the best one. A new version takes the alias only
when strictly better (:func:`promote`), so ``models:/mnist-<model>@champion`` moves only forward,
whatever order queued experiments finish in.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from mnistflow.errors import UserError
from mnistflow.tracking.store import (
    bounded_requests,
    check_sqlite_file,
    check_store,
    describe_failure,
    init_lock,
    mlflow_at,
    probe_server,
    redact,
    scheme,
    sqlite_file,
    store_errors,
    tracking_uri,
)

# The run tag holding the SHA-256 of the checkpoint a training run saved: how track finds the
# run again, and how the report tells whether the champion is the committed checkpoint.
CHECKPOINT_TAG = "checkpoint_sha256"
REGISTERED_PREFIX = "mnist-"  # each model is registered as mnist-<model>
CHAMPION = "champion"  # the alias of the best version on validation: models:/mnist-<model>@champion
VAL_ACC_TAG = "val_acc"  # a version's validation accuracy, compared without a metric search


def registered_name(model: str) -> str:
    """The model registry name of pipeline model ``model``: ``mnist-<model>``."""
    return f"{REGISTERED_PREFIX}{model}"


def log_model(
    run: Any,
    model: Any,
    example: Any,
    data_info: Mapping[str, Any],
    positive: Sequence[int] | None = None,
    threshold: float = 0.5,
    step: int = 0,
) -> str:
    """Log ``model`` as a servable MLflow model and register it as ``mnist-<model>``.

    What is logged is the network with its input scaling and output activation around it
    (:func:`served_module`): it takes what a client has, a float32 batch N×28×28 of pixel
    values in [0, 1] (white digit on black, as MNIST), and answers probabilities: per image
    the ten digits' (N×10), or for a yes/no model the positive class's (N). It is saved with
    torch.export ("pt2"): serving needs torch, not this project's code. ``example`` is a few
    images as the network saw them (after the pipeline's standardisation, ``data_info``).
    ``step`` is the last epoch: MLflow links the run's metrics of that step (the trained
    model's, not the untrained epoch 0's) to the model. Returns the LoggedModel's id; the version's
    description says the input format, and ``run.version`` is the registered version (None if the
    store has no registry)."""
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    mean, std = (float(data_info["mean"]), float(data_info["std"])) if data_info.get("standardize") else (0.0, 1.0)
    pixels = (np.asarray(example, dtype=np.float32) * np.float32(std) + np.float32(mean)).astype(np.float32)
    served = served_module(model, mean, std, binary=positive is not None)
    was_training = model.training
    served.eval()
    try:
        with torch.no_grad():
            output = served(torch.from_numpy(pixels)).numpy()
        name = registered_name(run.model)
        with store_errors(run.uri, "logging the model"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = run.mlflow.pytorch.log_model(
                served,
                name="model",
                input_example=pixels,
                signature=infer_signature(pixels, output),
                serialization_format="pt2",
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
                registered_model_name=name,
                step=step,
            )
    finally:
        model.train(was_training)
    run.version = None if info.registered_model_version is None else str(info.registered_model_version)
    if info.registered_model_version is not None:
        output_text = (
            f"per image the probability that the digit is one of {', '.join(map(str, positive))} (positive at >= "
            f"{threshold:.2f})"
            if positive is not None
            else "per image the probabilities of the digits 0-9 (argmax = the predicted digit)"
        )
        with store_errors(run.uri, "describing the registered model"):
            run.mlflow.MlflowClient().update_model_version(
                name,
                info.registered_model_version,
                description=(
                    f'POST /invocations {{"inputs": [...]}}: a batch N x 28 x 28 of float32 pixel values in [0, 1] '
                    f'(white digit on black, as MNIST). Answers {{"predictions": [...]}}: {output_text}. '
                    f"Trained by run {run.run_id}."
                ),
            )
    return info.model_id


def champion(client: Any, name: str) -> Any | None:
    """The ModelVersion registered model ``name``'s alias ``champion`` points to; None if it has
    no such alias, or there is no such registered model."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise


def version_val_acc(version: Any) -> float:
    """A version's validation accuracy (its ``val_acc`` tag); -inf without one (a version
    registered before the tag existed loses to any version that has one)."""
    try:
        return float(version.tags[VAL_ACC_TAG])
    except (KeyError, TypeError, ValueError):
        return float("-inf")


def promote(run: Any, val_acc: float) -> bool:
    """Tag the run's registered version with ``val_acc``; make it ``@champion`` when the model
    has no champion or this version is strictly better on validation. True if it became champion.

    Two stages finishing together (queued experiments) compare and set under the store's lock,
    so the better one ends as champion, never the later one."""
    version = getattr(run, "version", None)
    if version is None:
        return False
    name = registered_name(run.model)
    client = run.mlflow.MlflowClient()
    with store_errors(run.uri, "choosing the champion version"), init_lock(sqlite_file(run.uri)):
        client.set_model_version_tag(name, version, VAL_ACC_TAG, repr(float(val_acc)))
        current = champion(client, name)
        if current is not None and not val_acc > version_val_acc(current):
            return False
        client.set_registered_model_alias(name, CHAMPION, version)
    return True


def registry_entry(client: Any, model: str, checkpoint_sha256: str) -> dict[str, Any] | None:
    """What the report shows of model ``model`` in the registry: the champion's version and
    validation accuracy, and whether it is the checkpoint with SHA-256 ``checkpoint_sha256``
    (the same bytes: a forced rerun that registered another version of it still counts). None
    when the model has no champion in this store."""
    name = registered_name(model)
    current = champion(client, name)
    if current is None:
        return None
    trained_by = client.get_run(current.run_id).data.tags.get(CHECKPOINT_TAG) if current.run_id else None
    return {
        "registered_model": name,
        "champion_version": str(current.version),
        "champion_val_acc": version_val_acc(current) if VAL_ACC_TAG in current.tags else None,
        "checkpoint_is_champion": trained_by == checkpoint_sha256,
    }


def champions(checkpoints: Mapping[str, str]) -> dict[str, dict[str, Any] | None]:
    """model -> :func:`registry_entry` for each model and its checkpoint's SHA-256."""
    check_store()
    uri = tracking_uri()
    client = mlflow_at(uri).MlflowClient()
    with store_errors(uri, "reading the model registry"):
        return {model: registry_entry(client, model, sha) for model, sha in checkpoints.items()}


def served_module(model: Any, mean: float = 0.0, std: float = 1.0, binary: bool = False) -> Any:
    """``model`` wrapped for serving: pixels in [0, 1] -> the pipeline's standardisation -> the
    network -> softmax probabilities (N×10), or the sigmoid of a yes/no model's logit (N)."""
    import torch
    from torch import nn

    class Served(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.net((x - self.mean) / self.std).float()
            return torch.sigmoid(logits.squeeze(1)) if binary else torch.softmax(logits, dim=1)

    return Served()


def load_model(uri: str) -> Any:
    """The torch module of the MLflow model at ``uri`` (``runs:/<run id>/model``,
    ``models:/mnist-deepcnn@champion``, ``models:/mnist-deepcnn/1`` or a local folder), as
    :func:`log_model` logged it: pixels in [0, 1] in, probabilities out. A missing store, run or
    model, or a store that fails, is one :class:`UserError` line naming it and the fix."""
    store = tracking_uri()
    if uri.startswith(("runs:", "models:")):
        database = sqlite_file(store)
        if database is not None and not database.exists():
            raise UserError(
                f"no MLflow store at {database}, so no {uri}; train a model first (`dvc repro train@deepcnn`) "
                f"or point MLFLOW_TRACKING_URI at the store that has it"
            )
        if scheme(store) in ("http", "https"):
            probe_server(store)
        elif database is not None:
            check_sqlite_file(database)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow_at(store)
    import mlflow.pytorch
    from mlflow.exceptions import MlflowException

    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with bounded_requests(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mlflow.pytorch.load_model(uri)
    except MlflowException as exc:
        text = " ".join(str(exc.message).split())[:160]
        if (
            exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
            or "not found" in text.lower()
            or "No such file" in text
        ):
            raise UserError(
                f"no MLflow model at {uri} in {redact(store)} ({text}); check the run id, or the name and "
                f"version (`mlflow ui --backend-store-uri {redact(store)}` lists them)"
            ) from None
        raise UserError(describe_failure(exc, store, f"loading {uri}")) from None
    except OSError as exc:
        raise UserError(
            f"{uri}: not an MLflow model folder ({' '.join(str(exc).split())[:120]}); give runs:/<run id>/model or "
            "models:/<name>/<version>"
        ) from None
    finally:
        quiet.setLevel(level)


def registry_client() -> Any | None:
    """An MLflow client of the tracking store, or None when there is no store to read (no
    SQLite file yet, as in a fresh clone): MLflow is imported only when there is."""
    uri = tracking_uri()
    database = sqlite_file(uri)
    if database is not None and not database.is_file():
        return None
    if scheme(uri) in ("http", "https"):
        probe_server(uri)
    return mlflow_at(uri).MlflowClient()


def best_champion(models: Sequence[str]) -> tuple[str, float] | None:
    """The ``models:/mnist-<model>@champion`` URI of the model, among ``models``, whose champion
    has the best validation accuracy (its ``val_acc`` tag; on a tie the first listed), and that
    accuracy; None when the store has no such champion (no store yet, or nothing registered)."""
    client = registry_client()
    if client is None:
        return None
    best: tuple[str, float] | None = None
    with store_errors(tracking_uri(), "reading the model registry"):
        for model in models:
            version = champion(client, registered_name(model))
            if version is not None and (best is None or version_val_acc(version) > best[1]):
                best = (f"models:/{registered_name(model)}@{CHAMPION}", version_val_acc(version))
    return best
