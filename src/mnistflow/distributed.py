"""Multi-process training: one model trained by N processes under ``torchrun``, same params.

``MNISTFLOW_NPROC=N`` (N > 1) makes the train stage re-launch itself through
``python -m torch.distributed.run --standalone --nproc_per_node=N`` (:func:`relaunch`), so
``dvc repro`` and ``dvc exp run`` drive it unchanged. Under torchrun every rank:

- draws the same epoch permutation (``fit``'s generator, seeded by ``train.seed``) and takes
  its slice of each global batch of ``batch_size`` (:meth:`DistributedEngine.shard`), so the
  effective batch and the learning-rate schedule are those of one process;
- steps through ``DistributedDataParallel``, which averages the gradients; each rank's loss is
  weighted by its share of the batch, so the gradient is the whole batch's mean even when the
  last batch does not split evenly;
- sees the batch loss summed over the ranks (one all-reduce per step), so the divergence guard
  stops every rank at the same step instead of leaving the others waiting in a collective;
- evaluates a shard of each split with rank 0's batch-norm statistics and gathers the logits,
  so every rank computes the same history row, of the model rank 0 saves.

Only rank 0 writes the checkpoint, the history and the MLflow run (``workflow.train``); the
other ranks train and exit quietly. gloo on the CPU, NCCL on CUDA (one GPU per rank); the
NumPy backend and Apple's MPS train in one process only. Without ``MNISTFLOW_NPROC`` (or with
1) the train stage calls ``training.fit`` itself: only :func:`relaunch`'s check runs here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mnistflow.config import Training
from mnistflow.data.prepare import Splits
from mnistflow.errors import Interrupted, UserError
from mnistflow.inference import autocast, predict_logits, to_model_layout
from mnistflow.tasks import MULTICLASS, Task
from mnistflow.training import Diverged, History, TorchEngine, fit as fit_one, resolve_device

NPROC_ENV = "MNISTFLOW_NPROC"


def requested_processes(env: Mapping[str, str] | None = None) -> int:
    """The number of processes ``$MNISTFLOW_NPROC`` asks for (1 when unset or empty)."""
    value = (os.environ if env is None else env).get(NPROC_ENV, "").strip()
    if not value:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise UserError(
            f"{NPROC_ENV}={value} must be a whole number of processes >= 1, e.g. `{NPROC_ENV}=2 dvc repro train@mlp`"
        )
    return int(value)


def launched(env: Mapping[str, str] | None = None) -> bool:
    """True inside a process that torchrun started (it sets ``WORLD_SIZE`` and ``LOCAL_RANK``)."""
    env = os.environ if env is None else env
    return "WORLD_SIZE" in env or "LOCAL_RANK" in env


def launch_args(module: str, args: list[str], nproc: int) -> list[str]:
    """torchrun's arguments: ``python -m torch.distributed.run <these>``."""
    return ["--standalone", f"--nproc_per_node={nproc}", "-m", module, *args]


def relaunch(module: str, args: list[str], numpy_backend: bool = False) -> int | None:
    """Run ``python -m module args`` under torchrun with ``$MNISTFLOW_NPROC`` processes and
    return its exit status; None when this process should train itself (one process asked
    for, or already a torchrun worker). The NumPy engine is refused here, before any rank
    starts (:func:`refuse_numpy`).

    torchrun's launcher (``torch.distributed.run``, the code behind ``python -m
    torch.distributed.run``) runs in this process, so that a failed rank's one-line error is
    all that is printed, not the launcher's report and traceback as well. The status is rank
    0's (a rank's first failure otherwise; 128 + N for signal N). SIGINT and SIGTERM reach
    every rank, which cleans up and exits.
    """
    nproc = requested_processes()
    if nproc <= 1 or launched():
        return None
    if numpy_backend:
        refuse_numpy(nproc)
    # torchrun would set one thread per process and print a banner saying so: split the cores.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    import logging

    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run as torchrun

    for name in list(logging.root.manager.loggerDict):  # the launcher's own warnings about the ranks it stops
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        torchrun(parse_args(launch_args(module, args, nproc)))
    except ChildFailedError as exc:
        failure = exc.failures.get(0) or exc.failures[min(exc.failures)]
        return failure.exitcode if failure.exitcode >= 0 else 128 - failure.exitcode
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0


def world_size(env: Mapping[str, str] | None = None) -> int:
    return int((os.environ if env is None else env).get("WORLD_SIZE", "1"))


def rank(env: Mapping[str, str] | None = None) -> int:
    return int((os.environ if env is None else env).get("RANK", "0"))


def is_lead(numpy_backend: bool = False) -> bool:
    """True in the process that writes the results: the only one, or torchrun's rank 0.

    The NumPy engine trains in one process: under torchrun rank 0 says so in one line (and
    the launch fails with its status); the other ranks exit quietly.
    """
    if world_size() > 1 and numpy_backend:
        if (
            rank() != 0
        ):  # rank 0 says why and fails the launch; exiting first with a failure would make torchrun stop it
            raise SystemExit(0)
        refuse_numpy(world_size())
    return rank() == 0


def refuse_numpy(processes: int) -> NoReturn:
    """The one-line error for the NumPy engine asked to train in ``processes`` > 1 processes."""
    raise UserError(
        f"the numpy backend trains in one process; unset {NPROC_ENV} (it is {os.environ.get(NPROC_ENV, processes)}) or "
        "set train.backend: torch"
    )


@dataclass(frozen=True)
class Group:
    """This process's place in the process group."""

    rank: int
    world_size: int
    device: torch.device
    backend: str


def start(cfg: Training) -> Group:
    """Join torchrun's process group: NCCL with one GPU per rank on CUDA, else gloo."""
    device = resolve_device(cfg.device)
    if device.type == "mps":
        raise UserError(f"Apple's MPS trains in one process; unset {NPROC_ENV} or set train.device: cpu")
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise UserError(
                f"{world_size()} processes on {torch.cuda.device_count()} GPU(s): set {NPROC_ENV} to at most the "
                "number of GPUs"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return Group(dist.get_rank(), dist.get_world_size(), device, dist.get_backend())


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class DistributedEngine(TorchEngine):
    """A :class:`TorchEngine` for one rank: DDP steps on its slice of each batch, reduced loss,
    evaluation shared across the ranks. ``self.model`` stays the plain module (its ``scalars``,
    the checkpoint); ``self.ddp`` wraps it for training."""

    def __init__(self, model: nn.Module, cfg: Training, task: Task, group: Group):
        super().__init__(model, cfg, task)
        self.group = group
        self.device = group.device
        self.model = self.model.to(self.device)
        # DDP broadcasts rank 0's weights and buffers now, and its buffers before every forward.
        self.ddp = DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )
        # Augmentation and dropout draw from torch's global generator: a stream of its own per
        # rank (the same seed everywhere would give every rank's i-th image the same draw).
        torch.manual_seed(cfg.seed + 1_000_003 * group.rank)
        self._batch_total = 0

    def _comm(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` where the backend can reduce it: the GPU for NCCL, the CPU for gloo."""
        return tensor.to(self.device if self.group.backend == "nccl" else torch.device("cpu"))

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch of indices (the first ranks take one more when
        it does not split evenly; a rank may get none of a tiny last batch)."""
        self._batch_total = len(batch)
        return batch.tensor_split(self.group.world_size)[self.group.rank]

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        """One DDP step on this rank's slice; returns the whole global batch's mean loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.ddp.train()
        x, y = to_model_layout(x.to(self.device), self.cfg.channels_last), y.to(self.device)
        n, total = len(y), self._batch_total or len(y) * self.group.world_size
        with autocast(self.device, self.cfg.amp):
            out = self.ddp(x).float()
        if n:
            loss = self.task.loss(out, y, self.cfg.label_smoothing)
            summed = loss.detach() * n
        else:  # no image for this rank: a zero gradient still joins DDP's all-reduce
            loss, summed = out.sum() * 0.0, torch.zeros((), device=out.device)
        # DDP averages over ranks; weighting by n·W/total makes that the whole batch's mean gradient.
        self.optimizer.zero_grad(set_to_none=True)
        (loss * (n * self.group.world_size / total) if n else loss).backward()
        self.optimizer.step()
        summed = self._comm(summed.double())
        dist.all_reduce(summed)
        return summed.item() / total

    def logits(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Logits of every row of ``x``: each rank predicts a contiguous shard, all gathered."""
        for buffer in self.model.buffers():  # rank 0's batch-norm statistics: the model it saves
            dist.broadcast(buffer, 0)
        world, per = self.group.world_size, math.ceil(len(x) / self.group.world_size)
        part = x[self.group.rank * per : (self.group.rank + 1) * per]

        def predict(rows: torch.Tensor) -> torch.Tensor:
            return predict_logits(self.model, rows, batch_size, self.device, self.cfg.amp, self.cfg.channels_last)

        local = predict(part) if len(part) else predict(x[:1])[:0]  # fewer rows than ranks: an empty shard
        padded = torch.zeros((per, *local.shape[1:]), dtype=local.dtype)
        padded[: len(local)] = local
        pieces = [self._comm(torch.empty_like(padded)) for _ in range(world)]
        dist.all_gather(pieces, self._comm(padded))
        return torch.cat([p.cpu() for p in pieces])[: len(x)]


def fit(
    model: nn.Module,
    splits: Splits,
    cfg: Training,
    task: Task = MULTICLASS,
    on_epoch: Callable[[dict[str, float], float], None] | None = None,
    eval_batch_size: int = 1000,
) -> History:
    """``training.fit`` in one process; under torchrun, this rank's part of the training in a
    process group that ends with it.

    Rank 0 alone reports: a rank other than 0 that sees the divergence (rank 0 sees it at the
    same step: the loss is all-reduced) exits quietly with status 0, so that torchrun does not
    stop rank 0 before it has said so and failed the launch; interrupted (torchrun passes a
    signal to every rank), it exits quietly with the signal's status.
    """
    if world_size() <= 1:
        return fit_one(model, splits, cfg, task, on_epoch=on_epoch, eval_batch_size=eval_batch_size)
    group = start(cfg)
    try:
        return fit_one(
            DistributedEngine(model, cfg, task, group),
            splits,
            cfg,
            task,
            on_epoch=on_epoch,
            eval_batch_size=eval_batch_size,
        )
    except Diverged:
        if group.rank != 0:
            raise SystemExit(0) from None
        raise
    except Interrupted as exc:
        if group.rank != 0:
            raise SystemExit(128 + exc.signum) from None
        raise
    finally:
        stop()
