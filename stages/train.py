"""Stage train@<model>: train one model of the pipeline from its params section.

Usage: python -m stages.train MODEL   (ann, mlp, lenet5, deepcnn or square)
One process trains it (mnistflow.workflow.train). With MNISTFLOW_NPROC=N (N > 1) it re-launches
itself under torchrun with N processes and exits with torchrun's status; each of those ranks
then runs the same training with the loop wrapped in the process group (mnistflow.distributed).
"""

import sys

from stages import run


def main() -> None:
    from mnistflow import distributed, paths
    from mnistflow.config import load_params
    from mnistflow.workflow.train import train

    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.train MODEL")
    name = sys.argv[1]
    params = load_params(paths.PARAMS)
    numpy_backend = params.section(name).train.uses_numpy()
    if distributed.launched():  # one rank of torchrun's
        train(name, params, fit=distributed.fit, lead=distributed.is_lead(numpy_backend))
        return
    status = distributed.relaunch("stages.train", [name], numpy_backend=numpy_backend)
    if status is not None:
        sys.exit(status)
    train(name, params)


if __name__ == "__main__":
    run(main)
