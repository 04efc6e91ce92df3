"""One training loop and one evaluation path for every model.

``fit`` trains any ``nn.Module`` that maps a batch of images to logits, on in-memory tensors,
and returns the per-epoch history (epoch 0 is the untrained model) and the fine-grained
mini-batch loss curve. ``inference.predict_logits`` is the single forward path used both for the
per-epoch metrics here and by the evaluate stage. Nothing here knows about DVC or MLflow:
callers pass ``on_epoch`` to observe progress.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistflow import tta
from mnistflow.config import MLPTraining, Training
from mnistflow.data.prepare import Split, Splits
from mnistflow.ema import copy_into, make_ema
from mnistflow.errors import Interrupted, UserError
from mnistflow.inference import autocast, predict_logits, to_model_layout
from mnistflow.parallel import job_threads
from mnistflow.tasks import MULTICLASS, Task

EVAL_SPLITS = ("train", "val", "test")
# The pre-activations a learnable activation's plot spans: the middle 99% of what each hidden
# layer sees on the first validation batch, so that a few outliers do not set the axis.
PROBE_QUANTILES = (0.005, 0.995)


# Divergence: cross-entropy at chance level is ln 10 = 2.3 (ln 2 = 0.7 for a yes/no task), and
# the headline network starts near 44 even with init.k1 = 10. A loss above LOSS_LIMIT, or a
# learned activation parameter beyond SCALAR_LIMIT, does not come back: stop at once.
LOSS_LIMIT = 1e3
SCALAR_LIMIT = 1e3


class Diverged(UserError):
    """Training left the range it can recover from; the fields say where and how."""

    def __init__(self, epoch: int, epochs: int, step: int, loss: float, lr: float, scalars: dict[str, float]):
        self.epoch, self.epochs, self.step, self.loss, self.lr, self.scalars = epoch, epochs, step, loss, lr, scalars
        where = f"at epoch {epoch} of {epochs}, step {step}" if step else "before the first step"
        values = "".join(f", {name} {value:+.3g}" for name, value in scalars.items())
        super().__init__(f"training diverged {where}: loss {loss:.3g}, learning rate {lr:.3g}{values}")


def check_divergence(epoch: int, epochs: int, step: int, loss: float, lr: float, scalars: dict[str, float]) -> None:
    """Raise :class:`Diverged` if ``loss`` or a learned scalar is non-finite or exploding."""
    if (
        math.isfinite(loss)
        and loss <= LOSS_LIMIT
        and all(math.isfinite(v) and abs(v) <= SCALAR_LIMIT for v in scalars.values())
    ):
        return
    raise Diverged(epoch, epochs, step, loss, lr, scalars)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels.

    On CUDA, cuBLAS needs a fixed workspace for deterministic matrix products (set before the
    first CUDA call) and cuDNN must not pick kernels by timing them. MPS has no such switch:
    some of its kernels are nondeterministic, so results on a Mac may move between runs.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    # warn_only: an operation without a deterministic kernel warns instead of failing the run.
    torch.use_deterministic_algorithms(True, warn_only=True)


def configure_threads(env: dict[str, str] | None = None) -> int:
    """Set torch's (and the BLAS libraries') thread count from ``$MNISTFLOW_THREADS``; return it.

    Unset, torch starts one thread per core, which is right for one job alone. Jobs that share
    the machine (``dvc queue start --jobs 2``) must split the cores between them, or each
    job's threads wait on the others': run them with ``MNISTFLOW_THREADS=<cores / jobs>``
    (``mnistflow.parallel``).
    """
    threads = job_threads(env)
    if threads is None:
        return torch.get_num_threads()
    torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits  # NumPy's BLAS (the NumPy engine's matrix products)

    threadpool_limits(threads)
    return threads


class DeviceError(UserError, RuntimeError):
    """The configured device is not available on this machine."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else Apple's MPS, else CPU; a named device that is not
    there is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("train.device is 'cuda' but torch sees no CUDA device; set it to 'auto' or 'cpu'")
    if name == "mps" and not _mps_available():
        raise DeviceError("train.device is 'mps' but torch sees no Apple MPS device; set it to 'auto' or 'cpu'")
    return torch.device(name)


def get_lr(epoch: float, cfg: Training) -> float:
    """Learning rate at ``epoch`` (fractional: 2.5 is half-way through the third epoch).

    Linear warm-up from 0 over ``warmup_epochs``, then constant, or cosine decay to 0 at
    ``epochs``.
    """
    if epoch < cfg.warmup_epochs:
        return cfg.lr * epoch / cfg.warmup_epochs
    if cfg.schedule == "cosine":
        progress = (epoch - cfg.warmup_epochs) / (cfg.epochs - cfg.warmup_epochs)
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr


def make_optimizer(model: nn.Module, cfg: Training) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        # fused: one kernel updates every parameter (the same update rule), instead of the
        # per-tensor loop torch uses by default on the CPU.
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor, task: Task = MULTICLASS) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (binary: at threshold 0.5) of ``logits`` against ``y``."""
    loss = task.loss(logits.double(), y).item()
    accuracy = (task.predict(logits) == y).double().mean().item()
    return loss, accuracy


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row per epoch, epoch 0 first
    steps: list[dict[str, float]] = field(default_factory=list)  # mini-batch loss every log_every steps
    # The last evaluation's logits per split (CPU, float32): the trained network's answers on
    # val and test (train: its train_eval_size subset), saved so later stages need not recompute them.
    logits: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def last(self) -> dict[str, float]:
        return self.epochs[-1]


def as_tensors(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(split.x)), torch.from_numpy(split.y)


class TorchEngine:
    """Trains and evaluates an ``nn.Module`` with a torch optimizer: the default backend."""

    def __init__(self, model: nn.Module, cfg: Training, task: Task = MULTICLASS):
        self.device = resolve_device(cfg.device)
        self.model = model.to(self.device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.cfg, self.task = cfg, task
        self.optimizer = make_optimizer(self.model, cfg)
        self.ema = make_ema(self.model, cfg.ema_decay)

    @property
    def scored(self) -> nn.Module:
        """The network that is evaluated and saved: the weights' average when one is kept."""
        return self.ema.module if self.ema is not None else self.model

    def average(self) -> None:
        """Fold the weights after a step into the average (``train.ema_decay``; none: nothing)."""
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def finish(self) -> None:
        """After the last step: the model takes the average's weights, which the stage saves."""
        if self.ema is not None:
            copy_into(self.ema, self.model)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        """One optimisation step on a batch; returns its (smoothed, if configured) loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        x, y = to_model_layout(x.to(self.device), self.cfg.channels_last), y.to(self.device)
        with autocast(self.device, self.cfg.amp):
            loss = self.task.loss(self.model(x).float(), y, self.cfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def logits(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        return predict_logits(self.scored, x, batch_size, self.device, self.cfg.amp, self.cfg.channels_last)

    def scalars(self) -> dict[str, float]:
        scalars = getattr(self.model, "scalars", None)
        return scalars() if callable(scalars) else {}

    def probe(self, x: torch.Tensor) -> dict[str, float]:
        """Where the model's activation inputs lie on batch ``x`` (``MLP.preactivation_range``)
        when its activation is a polynomial or rational one; ``{}`` otherwise (the affine g is
        a line, ReLU fixed: their files stay as they were)."""
        if getattr(self.model, "activation", None) not in ("polynomial", "rational"):
            return {}
        return self.model.preactivation_range(x.to(self.device), *PROBE_QUANTILES)

    def session(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class NumpyEngine:
    """Trains the from-scratch NumPy MLP (``mnistflow.scratch``) inside the same loop.

    Batches arrive as CPU tensors and are viewed as NumPy arrays; the optimizers are the
    engine's own, with torch's semantics. ``torch_state_dict`` hands the trained weights to the
    identical ``nn.Module``, so checkpoints, evaluation, plots and MLflow need no second path.
    """

    device = torch.device("cpu")

    def __init__(self, kwargs: dict[str, Any], cfg: MLPTraining):
        from mnistflow.scratch import SGD, Adam, NumpyMLP

        self.model = NumpyMLP(**kwargs, seed=cfg.seed)
        if cfg.optimizer == "adam":
            self.optimizer = Adam(self.model.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = SGD(self.model.params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        self.optimizer.lr = lr
        loss, grads = self.model.loss_and_grads(x.numpy(), y.numpy())
        self.optimizer.step(grads)
        return float(loss)

    def logits(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        return torch.from_numpy(self.model.predict_logits(x.numpy(), batch_size)).float()

    def scalars(self) -> dict[str, float]:
        return self.model.scalars()

    def probe(self, x: torch.Tensor) -> dict[str, float]:
        return {}  # the engine has the affine g and ReLU only (config.MLPSection)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """While NumPy trains, torch (batch indexing, metrics) runs on one thread: torch's idle
        OpenMP threads otherwise spin against NumPy's BLAS threads for the same cores."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def torch_state_dict(self) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(np.array(value)) for name, value in self.model.state_dict().items()}


def epoch_row(
    engine: TorchEngine | NumpyEngine,
    epoch: int,
    lr: float,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    task: Task,
    batch_size: int,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Losses and accuracies on every split, plus the model's own scalars (k0, k1, ...) and,
    for a polynomial or rational activation, its inputs' range on the first validation batch;
    and the logits they were computed from."""
    row: dict[str, float] = {"epoch": epoch, "lr": lr}
    logits = {}
    for name, (x, y) in data.items():
        logits[name] = engine.logits(x, batch_size)
        loss, accuracy = loss_and_accuracy(logits[name], y, task)
        row[f"{name}_loss"] = loss
        row[f"{name}_acc"] = accuracy
    row.update(engine.scalars())
    row.update(engine.probe(data["val"][0][:batch_size]))
    return row, logits


def fit(
    model: nn.Module | TorchEngine | NumpyEngine,
    splits: Splits,
    cfg: Training,
    task: Task = MULTICLASS,
    on_epoch: Callable[[dict[str, float], float], None] | None = None,
    eval_batch_size: int = 1000,
) -> History:
    """Train with mini-batch steps on shuffled, optionally augmented batches: the one loop.

    ``model`` is an ``nn.Module`` (trained by a :class:`TorchEngine`) or any engine with the
    same ``step``/``logits``/``scalars`` methods (the NumPy engine of ``mnistflow.scratch``).
    The learning rate follows ``get_lr`` step by step. After every epoch (and once before the
    first) the model is evaluated on the train split (or a fixed random ``train_eval_size``
    subset of it), validation and test; ``on_epoch(row, seconds)`` then sees the row.
    """
    engine = TorchEngine(model, cfg, task) if isinstance(model, nn.Module) else model
    data = {name: as_tensors(splits[name]) for name in EVAL_SPLITS}
    x_train, y_train = data["train"]
    device = getattr(engine, "device", None)
    if device is not None:  # the whole training set moves to the GPU once, not per batch
        x_train, y_train = x_train.to(device), y_train.to(device)
    generator = torch.Generator().manual_seed(cfg.seed)
    if 0 < cfg.train_eval_size < len(y_train):
        keep = torch.randperm(len(y_train), generator=generator)[: cfg.train_eval_size]
        data["train"] = (data["train"][0][keep], data["train"][1][keep])
    augment = None
    if cfg.augment.enabled:
        from mnistflow.data.augment import make_augmenter

        augment = make_augmenter(cfg.augment, fill=float(x_train.min()))
    history = History()

    def record(epoch: int, lr: float, start: float | None) -> None:
        """Evaluate after epoch ``epoch`` (begun at ``start``; None: before training); its
        seconds include this evaluation. Test-time augmentation (``mnistflow.tta``) multiplies an
        evaluation's cost, so only the last one, whose answers are saved, uses it."""
        scored = getattr(engine, "scored", engine.model)
        with contextlib.nullcontext() if epoch == cfg.epochs else tta.suspended(scored):
            row, history.logits = epoch_row(engine, epoch, lr, data, task, eval_batch_size)
        seconds = time.perf_counter() - start if start is not None else 0.0
        if epoch == 0:  # an untrainable start (init.k1 = 1e6) is caught before the first step
            check_divergence(0, cfg.epochs, 0, max(row[f"{name}_loss"] for name in data), lr, engine.scalars())
        history.epochs.append(row)
        if on_epoch is not None:
            on_epoch(row, seconds)

    try:
        with engine.session():
            _train_epochs(engine, cfg, x_train, y_train, generator, augment, history, record)
        if hasattr(engine, "finish"):
            engine.finish()
    except Interrupted as exc:
        raise exc.at(f"at epoch {len(history.epochs)} of {cfg.epochs}; nothing written") from None
    return history


def _train_epochs(
    engine: TorchEngine | NumpyEngine,
    cfg: Training,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    generator: torch.Generator,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
    history: History,
    record: Callable[[int, float, float | None], None],
) -> None:
    """``fit``'s loop: epoch 0 evaluated, then ``cfg.epochs`` epochs of steps, each evaluated."""
    steps_per_epoch = math.ceil(len(y_train) / cfg.batch_size)
    shard = getattr(engine, "shard", None)  # one rank of several (mnistflow.distributed): its slice of each batch
    record(0, get_lr(0, cfg), None)
    step = 0
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        order = torch.randperm(len(y_train), generator=generator).to(x_train.device)
        for i in range(0, len(order), cfg.batch_size):
            lr = get_lr(epoch + i / len(order), cfg)
            batch = order[i : i + cfg.batch_size]
            if shard is not None:
                batch = shard(batch)
            x = x_train[batch]
            if augment is not None:
                x = augment(x)
            loss = engine.step(x, y_train[batch], lr)
            if hasattr(engine, "average"):
                engine.average()
            step += 1
            # Every step: loss.item() has synchronised already, and the scalars are a few numbers.
            check_divergence(epoch + 1, cfg.epochs, step, loss, lr, engine.scalars())
            if step % cfg.log_every == 0:
                history.steps.append({"step": step, "epoch": step / steps_per_epoch, "loss": loss})
        record(epoch + 1, lr, start)


def format_row(row: dict[str, float], epochs: int, seconds: float) -> str:
    """One progress line: ``epoch  3/20  loss 0.291/0.301/0.288  acc ...  k0 .. k1 ..``."""
    text = (
        f"epoch {int(row['epoch']):>3}/{epochs}"
        f"  loss train {row['train_loss']:.4f} val {row['val_loss']:.4f} test {row['test_loss']:.4f}"
        f"  acc train {row['train_acc']:.2%} val {row['val_acc']:.2%} test {row['test_acc']:.2%}"
    )
    coefficients = [key for key in row if re.fullmatch(r"[kb]\d+", key)]  # k0, k1, ... (mean over layers)
    if coefficients:
        text += "  " + " ".join(f"{key} {row[key]:+.4f}" for key in coefficients)
    if seconds:
        text += f"  ({seconds:.1f} s)"
    return text
