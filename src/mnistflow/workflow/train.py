"""Stage train@<model>: train one model and write its checkpoint, history and train metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistflow import checkpoint, outputs, paths, tracking, training
from mnistflow.activations import COEFFICIENT
from mnistflow.columns import TRAIN, keys
from mnistflow.config import Params, Training
from mnistflow.data.prepare import Splits, load_split, load_splits, relabel
from mnistflow.errors import UserError
from mnistflow.evaluation import choose_threshold
from mnistflow.files import staged, write_csv, write_json
from mnistflow.models import ModelSpec, build_model, describe, model_spec
from mnistflow.tasks import Task
from mnistflow.training import Diverged, History, NumpyEngine, configure_threads, format_row, seed_everything

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

# training.fit's signature: the loop of one process, or distributed.fit, the same loop of one rank.
Fit = Callable[..., History]


def divergence_advice(name: str, exc: Diverged) -> str:
    """What to change in params.yaml after ``exc``: the learning rate and, for the learned
    activation, the initial k0/k1 (the only cause when it diverged before the first step)."""
    restore = "(`git checkout params.yaml` restores the committed values)"
    if exc.scalars and exc.step == 0:
        return f"Start init.k0/init.k1 nearer 0 and 1 {restore}."
    if exc.scalars:
        return f"Lower {name}.train.lr or start init.k0/init.k1 nearer 0 and 1 {restore}."
    return f"Lower {name}.train.lr {restore}."


def perturbed_logits(model: nn.Module, cfg: Training, batch_size: int) -> np.ndarray:
    """The trained network's logits on the perturbed test split (``paths.PERTURBED``), by the
    one forward path, on its device, with the training's precision and layout, as its test logits."""
    import torch

    from mnistflow.inference import predict_logits

    x = torch.from_numpy(load_split(paths.PERTURBED).x)
    return predict_logits(model, x, batch_size, amp=cfg.amp, channels_last=cfg.channels_last).numpy()


def train(name: str, params: Params, fit: Fit = training.fit, lead: bool = True) -> dict[str, float]:
    """Train model ``name`` as its params section says; return its train metrics.

    Writes the checkpoint, the test answers, the per-epoch history, the mini-batch loss curve
    and the train metrics, and logs them with the params and the model to one MLflow run. A
    binary task gets its decision threshold chosen on the validation split, saved in the
    checkpoint. The files move into place only when everything succeeded.

    One process trains with ``training.fit``. Under torchrun (stages/train.py) every rank calls
    this with ``distributed.fit``, the same loop in a process group, and only the ``lead`` rank
    writes and logs.
    """
    tracking.check_store()  # before any work: the MLflow store answers, or one line says why not
    # parse
    spec = model_spec(name, params)
    cfg, eval_batch_size = spec.train, params.evaluate.batch_size
    # build
    configure_threads()
    seed_everything(cfg.seed)
    model = build_model(spec.arch, spec.kwargs)
    splits = relabel(load_splits(), spec.task)
    if not lead:  # another rank under torchrun: trains in step with rank 0, which alone writes and logs
        fit(model, splits, cfg, spec.task, eval_batch_size=eval_batch_size)
        return {}
    stage, backend = f"train@{name}", "numpy" if cfg.uses_numpy() else "torch"
    description = describe(spec.arch, spec.kwargs)
    print(f"{stage}: {description} ({backend}) on {splits.info['sizes']} images, {cfg.epochs} epochs", flush=True)
    with staged() as stage_file, tracking.training_run(stage, name, spec.params) as run:
        # fit
        history = fit_model(stage, model, spec, splits, eval_batch_size, fit, run)
        perturbed = perturbed_logits(model, cfg, eval_batch_size)  # before model.cpu(): on the training device
        model.cpu()
        task = spec.task
        if task.binary:  # the threshold from the trained network's validation answers (its last evaluation)
            task = task.with_threshold(choose_threshold(splits.val.y, task.proba(history.logits["val"]).numpy()))
        # write
        metrics = train_metrics(history.last, task)
        extra = {"model": name, "backend": backend, "amp": cfg.amp, "train": spec.params, "data": splits.info}
        checkpoint_file = stage_file(paths.checkpoint(name))
        checkpoint.save(checkpoint_file, model, spec.arch, spec.kwargs, task, extra)
        outputs.save(name, history.logits["test"].numpy(), task, description, stage_file)
        outputs.save_perturbed(name, perturbed, stage_file)
        write_csv(stage_file(paths.history(name)), history.epochs)
        write_csv(stage_file(paths.steps(name)), history.steps, columns=("step", "epoch", "loss"))
        write_json(stage_file(paths.train_metrics(name)), metrics)
        # log
        log_run(run, name, stage_file, checkpoint_file, model, splits, task, metrics)
    return metrics


def fit_model(
    stage: str, model: nn.Module, spec: ModelSpec, splits: Splits, eval_batch_size: int, fit: Fit, run: Any
) -> History:
    """Train ``model`` in place, printing and logging each epoch's row; the NumPy backend trains
    its own copy of the network and hands the weights back. Divergence is one line that says
    what to change."""
    cfg = spec.train

    def on_epoch(row: dict[str, float], seconds: float) -> None:
        print(format_row(row, cfg.epochs, seconds), flush=True)
        run.log_epoch(row, seconds)

    try:
        if cfg.uses_numpy():  # the from-scratch engine trains; the same nn.Module keeps the result
            engine = NumpyEngine(spec.kwargs, cfg)
            history = training.fit(engine, splits, cfg, spec.task, on_epoch=on_epoch, eval_batch_size=eval_batch_size)
            model.load_state_dict(engine.torch_state_dict())
            return history
        return fit(model, splits, cfg, spec.task, on_epoch=on_epoch, eval_batch_size=eval_batch_size)
    except Diverged as exc:  # the run ends FAILED and the staged files are dropped
        name = spec.name
        raise UserError(f"{stage}: {exc}; nothing written. {divergence_advice(name, exc)}") from None


def train_metrics(last: dict[str, float], task: Task) -> dict[str, Any]:
    """metrics/<model>-train.json: the last epoch's headline keys (``columns.TRAIN``: loss and
    accuracy on each split), the learned activation's coefficients and, for a binary task, its
    decision threshold."""
    metrics: dict[str, Any] = {"epochs": int(last["epoch"]), **{k: last[k] for k in keys(TRAIN)}}
    metrics.update({k: v for k, v in last.items() if COEFFICIENT.fullmatch(k)})
    if task.binary:
        metrics["threshold"] = task.threshold
    return metrics


def log_run(
    run: Any,
    name: str,
    stage_file: Any,
    checkpoint_file: Path,
    model: nn.Module,
    splits: Splits,
    task: Task,
    metrics: dict[str, Any],
) -> None:
    """The MLflow run's tags, datasets, files, model and final metrics; @champion moves to this
    version only if it is better on validation."""
    run.set_tags({tracking.CHECKPOINT_TAG: tracking.file_sha256(checkpoint_file)})
    for split in paths.SPLITS:  # the data it trained on, by content hash
        run.log_dataset(split, paths.split_file(split), splits[split].x, splits[split].y)
    for path in (paths.history(name), paths.steps(name), paths.train_metrics(name)):
        run.log_artifact(stage_file(path), "history")
    run.log_model(
        model,
        example=splits.test.x[:2],
        data_info=splits.info,
        positive=task.positive,
        threshold=task.threshold,
        step=metrics["epochs"],
    )
    run.log_metrics({f"final/{k}": v for k, v in metrics.items()}, for_model=True)  # charted as one group
    run.promote(metrics["val_acc"])
