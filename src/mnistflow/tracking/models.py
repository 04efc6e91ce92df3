"""The trained network as an MLflow model: logged servable, and registered as ``mnist-<model>``."""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from mnistflow.tracking.store import store_errors

REGISTERED_PREFIX = "mnist-"  # each model is registered as mnist-<model>


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
    model's, not the untrained epoch 0's) to the model. Returns the LoggedModel's id; the version's description says the input format."""
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
    if info.registered_model_version is not None:
        output_text = (
            f"per image the probability that the digit is one of {', '.join(map(str, positive))} (positive at >= {threshold:.2f})"
            if positive is not None
            else "per image the probabilities of the digits 0-9 (argmax = the predicted digit)"
        )
        with store_errors(run.uri, "describing the registered model"):
            run.mlflow.MlflowClient().update_model_version(
                name,
                info.registered_model_version,
                description=(
                    f'POST /invocations {{"inputs": [...]}}: a batch N x 28 x 28 of float32 pixel values in [0, 1] '
                    f"(white digit on black, as MNIST). Answers {{\"predictions\": [...]}}: {output_text}. "
                    f"Trained by run {run.run_id}."
                ),
            )
    return info.model_id


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
