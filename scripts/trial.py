"""Train one model of params.yaml with overrides and report VALIDATION (and train) accuracy only.

Usage:
    MNISTFLOW_THREADS=1 python scripts/trial.py MODEL [--seed N ...] [--set dotted.key=value ...]
        [--log trials.jsonl] [--tag NAME] [--ema-extra DECAY ...] [--tta none plus ring]

    python scripts/trial.py --bench MODEL --set ... [--vs --set ...] : relative cost, see below.

It is the training stage without its files: the same params parsing, seeding, model, data and
``fit`` call, so its validation figures are the ones the stage writes to
``metrics/<model>-train.json`` (under the same thread count). The test split is never loaded:
``fit`` scores a "test" split after every epoch, so it gets the validation images tiled to the
test split's size (``data/processed/info.json``), which keeps an epoch's cost that of the stage
and keeps test figures out of the way of whoever chooses a setting. Selection is on validation.

At the last epoch it also scores, on validation, the last step's weights and every weight
average (``train.ema_decay`` and each ``--ema-extra`` decay, kept beside the training), each
with every ``--tta`` shift pattern: several candidates from one run (``variants`` in the log;
``scripts/trial_table.py`` tabulates them).

``--bench``: epoch cost of several settings, measured side by side: each setting's steps on the
real (augmented) batches plus one scoring pass of the per-epoch evaluation, in rounds that
alternate the settings, so a swing in the machine's speed falls on all of them alike. Prints
each setting's seconds per epoch relative to the first.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def override(raw: dict, settings: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for item in settings:
        key, _, text = item.partition("=")
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise SystemExit(f"unknown key {key}")
        node[leaf] = yaml.safe_load(text)
    return raw


def load_data(task):
    """Train and val as the stage has them (relabelled for a yes/no task); "test" is val tiled."""
    from mnistflow import paths
    from mnistflow.data.prepare import Split, Splits, load_split, relabel
    from mnistflow.files import read_json

    info = read_json(ROOT / paths.PREPARE_INFO)
    train, val = load_split("train", ROOT), load_split("val", ROOT)
    n_test = info["sizes"]["test"]
    reps = math.ceil(n_test / len(val))
    tile = lambda a: np.concatenate([a] * reps)[:n_test]  # noqa: E731
    fake = Split(tile(val.x), tile(val.y), np.zeros(n_test, dtype=np.int64))
    return relabel(Splits(train, val, fake, info=info), task)


def spec_for(model: str, settings: list[str], seed: int | None):
    from mnistflow.config import parse_params
    from mnistflow.models import model_spec

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    if seed is not None:
        settings = [*settings, f"{model}.train.seed={seed}"]
    params = parse_params(override(raw, settings))
    return model_spec(model, params), params


def variant_scores(engine, extra: dict, x, y, task, batch_size: int, modes: list[str]) -> dict[str, float]:
    """Validation accuracy of the last step's weights, the configured average and each extra
    average, each with every test-time augmentation of ``modes``: candidates from one run."""
    from mnistflow.inference import predict_logits
    from mnistflow.training import loss_and_accuracy

    nets = {"raw": engine.model}
    if engine.ema is not None:
        nets[f"ema{engine.cfg.ema_decay:g}"] = engine.ema.module
    nets.update({f"ema{decay:g}": avg.module for decay, avg in extra.items()})
    scores = {}
    for name, net in nets.items():
        configured = getattr(net, "tta", None)
        for mode in modes if configured is not None else ["none"]:
            if configured is not None:
                net.tta = mode
            logits = predict_logits(net, x, batch_size, engine.device, engine.cfg.amp, engine.cfg.channels_last)
            scores[f"{name}/{mode}"] = loss_and_accuracy(logits, y, task)[1]
        if configured is not None:
            net.tta = configured
    return scores


def trial(
    model: str, settings: list[str], seed: int, log: Path | None, tag: str, ema_extra=(), modes=("none",)
) -> float:
    from mnistflow.ema import make_ema
    from mnistflow.models import build_model
    from mnistflow.training import TorchEngine, as_tensors, configure_threads, fit, seed_everything

    spec, params = spec_for(model, settings, seed)
    threads = configure_threads()
    seed_everything(spec.train.seed)
    net = build_model(spec.arch, spec.kwargs)
    splits = load_data(spec.task)
    rows = []
    engine = TorchEngine(net, spec.train, spec.task)
    extra = {decay: make_ema(engine.model, decay) for decay in ema_extra}
    configured_average = engine.average

    def average() -> None:  # the configured average, and every extra one, after each step
        configured_average()
        for avg in extra.values():
            avg.update_parameters(engine.model)

    engine.average = average
    variants: dict[str, float] = {}

    def on_epoch(row, seconds):
        kept = {"epoch": int(row["epoch"]), "s": round(seconds, 2)}
        kept.update({k: row[k] for k in ("train_acc", "val_acc", "val_loss")})  # never test_*
        rows.append(kept)
        print(
            f"[{tag} s{seed}] epoch {kept['epoch']:>2}/{spec.train.epochs}"
            f"  train {kept['train_acc']:.2%}  val {kept['val_acc']:.2%}"
            f"  val_loss {kept['val_loss']:.4f}  ({seconds:.1f} s)",
            flush=True,
        )
        if kept["epoch"] == spec.train.epochs and (extra or len(modes) > 1 or engine.ema is not None):
            x, y = as_tensors(splits.val)
            variants.update(variant_scores(engine, extra, x, y, spec.task, params.evaluate.batch_size, list(modes)))
            print(f"[{tag} s{seed}] variants " + "  ".join(f"{k} {v:.2%}" for k, v in variants.items()), flush=True)

    fit(engine, splits, spec.train, spec.task, on_epoch=on_epoch, eval_batch_size=params.evaluate.batch_size)
    final = rows[-1]["val_acc"]
    epoch_s = [r["s"] for r in rows[1:]]
    print(f"[{tag} s{seed}] FINAL val {final:.2%}  epoch s mean {np.mean(epoch_s):.1f}  threads {threads}", flush=True)
    if log:
        with open(log, "a") as fh:
            fh.write(
                json.dumps(
                    {
                        "model": model,
                        "tag": tag,
                        "settings": settings,
                        "seed": seed,
                        "threads": threads,
                        "val_acc": final,
                        "variants": variants,
                        "epochs": rows,
                        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                    }
                )
                + "\n"
            )
    return final


def bench(model: str, variants: list[list[str]], rounds: int, steps: int) -> None:
    """Seconds of one epoch per variant, from ``steps`` training steps and a scoring pass, rounds alternating."""
    import torch

    from mnistflow.data.augment import make_augmenter
    from mnistflow.models import build_model
    from mnistflow.training import TorchEngine, as_tensors, configure_threads, evaluate, seed_everything

    configure_threads()
    setups = []
    for settings in variants:
        spec, params = spec_for(model, settings, None)
        seed_everything(0)
        splits = load_data(spec.task)
        engine = TorchEngine(build_model(spec.arch, spec.kwargs), spec.train, spec.task)
        x, y = as_tensors(splits.train)
        data = {name: as_tensors(splits[name]) for name in ("train", "val", "test")}
        keep = spec.train.train_eval_size or None
        data["train"] = (data["train"][0][:keep], data["train"][1][:keep])
        aug = make_augmenter(spec.train.augment, fill=float(x.min())) if spec.train.augment.enabled else None
        setups.append((settings, spec, params, engine, x, y, data, aug))
    times = [[] for _ in setups]
    for r in range(rounds + 1):
        for i, (settings, spec, params, engine, x, y, data, aug) in enumerate(setups):
            bs = spec.train.batch_size
            n_steps = max(1, steps * 128 // bs)  # the same number of images for every batch size
            t0 = time.perf_counter()
            for s in range(n_steps):
                idx = torch.randint(len(y), (bs,))
                xb = x[idx]
                if aug is not None:
                    xb = aug(xb)
                engine.step(xb, y[idx], spec.train.lr * 0.1)
                engine.average()  # the weights' average, when one is kept (train.ema_decay)
            t_steps = time.perf_counter() - t0
            t0 = time.perf_counter()
            evaluate(engine, 0, 0.0, data, spec.task, params.evaluate.batch_size)
            t_eval = time.perf_counter() - t0
            epoch = t_steps * len(y) / (n_steps * bs) + t_eval
            if r:  # round 0 warms up
                times[i].append(epoch)
    base = np.median(times[0])
    for (settings, spec, *_), t in zip(setups, times):
        med = np.median(t)
        run = med * spec.train.epochs / (base * setups[0][1].train.epochs)
        print(
            f"{med:7.2f} s/epoch  x{med / base:.3f} per epoch  x{run:.3f} per run"
            f"  ({spec.train.epochs} epochs)  {' '.join(settings) or '(committed)'}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seed", type=int, nargs="*", default=[0])
    ap.add_argument("--set", dest="settings", action="append", default=[], help="dotted.key=value, relative to MODEL")
    ap.add_argument("--log", type=Path)
    ap.add_argument("--tag", default="")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--vs", action="append", default=[], help="--bench: another variant, settings separated by spaces")
    ap.add_argument("--ema-extra", type=float, nargs="*", default=[], help="more EMA decays to score at the end")
    ap.add_argument("--tta", nargs="*", default=["none"], help="test-time augmentations to score at the end")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    prefix = lambda items: [f"{args.model}.{s}" for s in items]  # noqa: E731
    if args.bench:
        variants = [prefix(args.settings)] + [prefix(v.split()) for v in args.vs]
        bench(args.model, variants, args.rounds, args.steps)
        return
    for seed in args.seed:
        tag = args.tag or ",".join(args.settings) or "committed"
        trial(args.model, prefix(args.settings), seed, args.log, tag, args.ema_extra, args.tta)


if __name__ == "__main__":
    main()
