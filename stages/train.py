"""Stage train@<model>: train one model of the pipeline from its params section.

Usage: python -m stages.train MODEL   (ann, mlp, lenet5, deepcnn or square)
With MNISTFLOW_NPROC=N (N > 1) it re-launches itself under torchrun with N processes and
exits with torchrun's status (mnistflow.distributed).
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import distributed, paths
    from mnistflow.config import load_params

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.train MODEL")
    params = load_params(paths.PARAMS)
    train_cfg = params.section(sys.argv[1]).train
    status = distributed.relaunch(
        "stages.train", sys.argv[1:], numpy_backend=getattr(train_cfg, "backend", "torch") == "numpy"
    )
    if status is not None:
        sys.exit(status)
    from mnistflow.workflow.train import train

    train(sys.argv[1], params)


if __name__ == "__main__":
    run(main)
