"""Print training throughput of the CNNs under each speed option (not a test).

    python benchmarks/cnn_speed.py [--batches 30] [--batch-size 128]

For each convolutional model as params.yaml configures it: float32 vs bfloat16 autocast,
contiguous vs channels_last, and the cost of the torchvision v2 augmentation. Figures are images
per second of a full training step (forward, backward, Adam) on random data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mnistflow.config import AugmentSettings  # noqa: E402
from mnistflow.data.augment import make_augmenter  # noqa: E402
from mnistflow.config import load_params  # noqa: E402
from mnistflow.models import build_model, describe, model_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CNNS = ("lenet5", "deepcnn", "square")  # the convolutional models, as params.yaml configures them


def throughput(model: torch.nn.Module, task, batches: int, batch_size: int, bf16: bool, channels_last: bool) -> float:
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.rand(batch_size, 1, 28, 28).contiguous(memory_format=memory)
    y = torch.randint(0, 2 if task.binary else 10, (batch_size,))
    model.train()
    for i in range(batches + 3):
        if i == 3:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = task.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    params = load_params(ROOT / "params.yaml")
    for name in CNNS:
        spec = model_spec(name, params)
        print(f"{name}: {describe(spec.arch, spec.kwargs)}")
        for bf16 in (False, True):
            for channels_last in (False, True):
                torch.manual_seed(0)
                rate = throughput(
                    build_model(spec.arch, spec.kwargs), spec.task, args.batches, args.batch_size, bf16, channels_last
                )
                print(
                    f"{name:8s} {'bf16' if bf16 else 'fp32'} {'channels_last' if channels_last else 'contiguous   '}  "
                    f"{rate:7.0f} img/s  ({54000 / rate:5.1f} s per 54k-image epoch)"
                )
    cfg = AugmentSettings(degrees=10, translate=0.1, scale=0.1, elastic_alpha=0.0, elastic_sigma=4.0)
    from torchvision.transforms import v2  # the per-image reference only

    transform = v2.RandomAffine(
        degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), interpolation=v2.InterpolationMode.BILINEAR
    )
    x = torch.rand(args.batch_size, 28, 28)
    for name, augment in (
        (
            "v2.RandomAffine called per image",
            lambda batch: torch.stack([transform(image.unsqueeze(0)) for image in batch]),
        ),
        ("make_augmenter (one draw and one grid_sample per batch)", make_augmenter(cfg)),
    ):
        start = time.perf_counter()
        for _ in range(args.batches):
            augment(x)
        rate = args.batches * args.batch_size / (time.perf_counter() - start)
        print(f"augmentation, {name}: {rate:7.0f} img/s  ({54000 / rate:5.1f} s per epoch)")


if __name__ == "__main__":
    main()
