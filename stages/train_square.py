"""Stage train-square: is the digit a perfect square? (binary, on the backbone in params)."""
from stages import run

MODEL = "square"


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import flatten, load_params, to_dict
    from mnistflow.models import cnn_spec
    from mnistflow.workflow import train_model

    cfg = load_params(paths.PARAMS).square
    arch, kwargs = cnn_spec(cfg.model, n_outputs=1)
    train_model(MODEL, "train-square", arch, kwargs, cfg.train, flatten({MODEL: to_dict(cfg)}), positive=cfg.positive)


if __name__ == "__main__":
    run(main)
