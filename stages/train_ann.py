"""Stage train-ann: the fully connected network (learnable activation g(x) = k0 + k1*x, or ReLU)."""
from stages import run

MODEL = "ann"


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import flatten, load_params, to_dict
    from mnistflow.models import mlp_spec
    from mnistflow.workflow import train_model

    params = load_params(paths.PARAMS)
    cfg = params.ann
    arch, kwargs = mlp_spec(cfg.model, params.init, cfg.train.seed)
    logged = flatten({"ann": to_dict(cfg), "init": to_dict(params.init)})
    train_model(MODEL, "train-ann", arch, kwargs, cfg.train, logged)


if __name__ == "__main__":
    run(main)
