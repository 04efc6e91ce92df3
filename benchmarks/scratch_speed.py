"""Print the time per training epoch of the NumPy MLP engine and of the torch MLP (not a test).

    python benchmarks/scratch_speed.py [--samples 54000] [--batch-size 128] [--epochs 1] [--threads N]

Both train the same architecture on the same random float32 data (784-d inputs, 10 classes):
shuffled mini-batches, forward, softmax cross-entropy, backward, Adam (lr 1e-3). Architectures:
[256, 128] with the learnable activation (shared k) and [800, 800] with ReLU. Each engine runs in
a process of its own (this script started again with --engine), so torch's OpenMP threads and
NumPy's OpenBLAS threads never compete, and the NumPy process never imports torch. The target
is NumPy within 2x of torch. Timings are wall-clock and suffer from anything else running on
the machine (multi-threaded BLAS degrades sharply when a core is busy elsewhere): use --epochs 3
(best epoch reported) and compare figures taken at the same time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ARCHS = {
    "256-128 learnable": dict(hidden=(256, 128), activation="learnable", share_k="network", k_init=((0.0, 1.0),)),
    "800-800 relu": dict(hidden=(800, 800), activation="relu"),
}
WARMUP_STEPS = 5


def data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((samples, 784), dtype=np.float32), rng.integers(0, 10, samples)


def time_numpy(arch: dict, samples: int, batch_size: int, epochs: int) -> list[float]:
    from mnistflow.scratch import Adam, NumpyMLP

    x, y = data(samples)
    model = NumpyMLP(**arch, seed=0)
    optimizer = Adam(model.params, lr=1e-3)
    rng = np.random.default_rng(1)

    def step(idx: np.ndarray) -> None:
        _, grads = model.loss_and_grads(x[idx], y[idx])
        optimizer.step(grads)

    for start in range(0, WARMUP_STEPS * batch_size, batch_size):
        step(np.arange(start, start + batch_size))
    times = []
    for _ in range(epochs):
        begin = time.perf_counter()
        order = rng.permutation(samples)
        for start in range(0, samples, batch_size):
            step(order[start : start + batch_size])
        times.append(time.perf_counter() - begin)
    return times


def time_torch(arch: dict, samples: int, batch_size: int, epochs: int) -> list[float]:
    import torch
    import torch.nn.functional as F

    from mnistflow.models.mlp import MLP

    torch.manual_seed(0)
    x_np, y_np = data(samples)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    model = MLP(**arch).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(idx: torch.Tensor) -> None:
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for start in range(0, WARMUP_STEPS * batch_size, batch_size):
        step(torch.arange(start, start + batch_size))
    times = []
    for _ in range(epochs):
        begin = time.perf_counter()
        order = torch.randperm(samples)
        for start in range(0, samples, batch_size):
            step(order[start : start + batch_size])
        times.append(time.perf_counter() - begin)
    return times


def versions(engine: str) -> str:
    if engine == "torch":
        import torch

        return f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info() if p["user_api"] == "blas"
        )
    except ImportError:
        pass
    return f"numpy {np.__version__}" + (f", {blas}" if blas else "")


def child(args: argparse.Namespace) -> None:
    run = time_numpy if args.engine == "numpy" else time_torch
    times = run(ARCHS[args.arch], args.samples, args.batch_size, args.epochs)
    print(json.dumps({"times": times, "versions": versions(args.engine)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=54000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per run; the best is reported")
    parser.add_argument(
        "--threads", type=int, help="limit BLAS/OpenMP threads of both engines (default: library defaults)"
    )
    parser.add_argument("--engine", choices=("numpy", "torch"), help=argparse.SUPPRESS)  # child process
    parser.add_argument("--arch", choices=list(ARCHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child(args)
        return

    print(
        f"{args.samples} samples x 784 float32, batch {args.batch_size}, Adam; seconds per epoch (best of "
        f"{args.epochs})"
    )
    env = dict(os.environ)
    if args.threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(args.threads)
    for arch in ARCHS:
        best = {}
        for engine in ("numpy", "torch"):
            command = [
                sys.executable,
                __file__,
                "--engine",
                engine,
                "--arch",
                arch,
                "--samples",
                str(args.samples),
                "--batch-size",
                str(args.batch_size),
                "--epochs",
                str(args.epochs),
            ]
            result = json.loads(
                subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout.splitlines()[-1]
            )
            best[engine] = min(result["times"])
            rate = args.samples / best[engine]
            print(
                f"{arch:18s} {engine:5s}  {best[engine]:6.2f} s/epoch  ({rate:7.0f} samples/s)   [{result['versions']}]"
            )
        print(f"{arch:18s} numpy / torch = {best['numpy'] / best['torch']:.2f}x")


if __name__ == "__main__":
    main()
