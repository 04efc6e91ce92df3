"""Time one training step of ann's 256-128 network with each activation, on one thread.

    python scripts/activation_bench.py

The sweep's epoch times come from queue logs of a machine others share; this measures the
activations' own cost side by side: the same random batch of 128, Adam, the families
interleaved so that a busy moment slows them all alike; the median of 7 rounds of 30 steps.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from mnistflow.config import InitSection, MLPModel  # noqa: E402
from mnistflow.models import build_model, mlp_spec  # noqa: E402

STEPS_PER_EPOCH = 422  # 54,000 training images in batches of 128
CASES = {
    "relu": dict(activation="relu"),
    "affine (learnable)": dict(activation="learnable"),
    "polynomial 3": dict(activation="polynomial", degree=3, span=4.0),
    "rational 2/1": dict(activation="rational", degree=2, denominator=1, span=4.0),
    "rational 3/2": dict(activation="rational", degree=3, denominator=2, span=4.0),
}


def network(settings: dict) -> torch.nn.Module:
    model = MLPModel(
        **{
            "hidden": (256, 128),
            "share_k": "network",
            "dropout": 0.0,
            "degree": 1,
            "denominator": 0,
            "span": 0.0,
            **settings,
        }
    )
    arch, kwargs = mlp_spec(model, InitSection(k0=0.0, k1=1.0, sampling="constant", spread=0.1), seed=0)
    return build_model(arch, kwargs)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.rand(128, 28, 28), torch.randint(0, 10, (128,))
    nets = {name: network(settings) for name, settings in CASES.items()}
    optimizers = {name: torch.optim.Adam(net.parameters(), fused=True) for name, net in nets.items()}
    seconds: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(7):
        for name, net in nets.items():
            start = time.perf_counter()
            for _ in range(30):
                loss = torch.nn.functional.cross_entropy(net(x), y)
                optimizers[name].zero_grad()
                loss.backward()
                optimizers[name].step()
            seconds[name].append((time.perf_counter() - start) / 30)
    for name, times in seconds.items():
        step = statistics.median(times)
        print(f"{name}: {step * 1e3:.2f} ms per step, {step * STEPS_PER_EPOCH:.2f} s of steps per epoch")


if __name__ == "__main__":
    main()
