"""Stage train-ann / train-mlp: a fully connected network.

Usage: python -m stages.train_ann ann   (learnable activation g(x) = k0 + k1*x; reads init, ann)
       python -m stages.train_ann mlp   (the ReLU variant; reads mlp)
"""
import sys

from stages import run

STAGES = {"ann": "train-ann", "mlp": "train-mlp"}


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import flatten, load_params, to_dict
    from mnistflow.models import mlp_spec
    from mnistflow.workflow import train_model

    model = sys.argv[1] if len(sys.argv) > 1 else "ann"
    if model not in STAGES:
        sys.exit(f"usage: python -m stages.train_ann {{{','.join(STAGES)}}}")
    params = load_params(paths.PARAMS)
    cfg = getattr(params, model)
    arch, kwargs = mlp_spec(cfg.model, params.init, cfg.train.seed)
    sections = {model: to_dict(cfg), **({"init": to_dict(params.init)} if model == "ann" else {})}
    train_model(model, STAGES[model], arch, kwargs, cfg.train, flatten(sections))


if __name__ == "__main__":
    run(main)
