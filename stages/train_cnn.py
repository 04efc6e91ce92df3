"""Stage train-cnn@<model>: a convolutional digit classifier.

Usage: python -m stages.train_cnn lenet5|deepcnn   (reads the params section of that name)
"""
import sys

from stages import run

MODELS = ("lenet5", "deepcnn")


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import flatten, load_params, to_dict
    from mnistflow.models import cnn_spec
    from mnistflow.workflow import train_model

    if len(sys.argv) != 2 or sys.argv[1] not in MODELS:
        sys.exit(f"usage: python -m stages.train_cnn {{{','.join(MODELS)}}}")
    model = sys.argv[1]
    cfg = getattr(load_params(paths.PARAMS), model)
    arch, kwargs = cnn_spec(cfg.model)
    train_model(model, f"train-cnn@{model}", arch, kwargs, cfg.train, flatten({model: to_dict(cfg)}))


if __name__ == "__main__":
    run(main)
