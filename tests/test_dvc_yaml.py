"""dvc.yaml agrees with paths.py and config.py: paths in one place, params listed precisely.

DVC itself resolves dvc.yaml (foreach, vars), so these checks see the stages DVC runs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from mnistflow import paths
from mnistflow.config import Params, load_params

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("ann", "mlp", "lenet5", "deepcnn", "square")
TRAIN_STAGES = {"ann": "train-ann", "mlp": "train-mlp", "lenet5": "train-cnn@lenet5", "deepcnn": "train-cnn@deepcnn", "square": "train-square"}


@pytest.fixture(scope="module")
def stages():
    with Repo(str(ROOT)) as repo:
        return {s.addressing: s for s in repo.index.stages}


def outs(stage) -> set[str]:
    return {o.def_path for o in stage.outs}


def params(stage) -> set[str]:
    return {key for p in stage.params for key in p.params}


def deps(stage) -> set[str]:
    return {d.def_path for d in stage.deps if d not in stage.params}


def test_every_model_has_train_evaluate_and_plot_stages(stages):
    assert set(stages) == {"download", "preprocess", "summary", *TRAIN_STAGES.values(), *(f"evaluate@{m}" for m in MODELS), *(f"plot@{m}" for m in MODELS)}
    with open(ROOT / "dvc.yaml") as fh:
        assert yaml.safe_load(fh)["vars"][0]["models"] == list(MODELS)
    assert stages["summary"].cmd.split()[3:] == list(MODELS)


def test_stage_outs_are_the_paths_the_code_writes(stages):
    assert outs(stages["download"]) == {str(paths.RAW_DIR)}
    assert outs(stages["preprocess"]) == {str(paths.PROCESSED_DIR)}
    for model, name in TRAIN_STAGES.items():
        assert outs(stages[name]) == {str(p) for p in (paths.checkpoint(model), paths.history(model), paths.steps(model), paths.train_metrics(model))}
        assert outs(stages[f"evaluate@{model}"]) == {str(p) for p in (paths.eval_metrics(model), paths.confusion(model), paths.per_class(model), paths.roc(model))}
        assert outs(stages[f"plot@{model}"]) == {str(paths.images(model))}
        assert str(paths.checkpoint(model)) in deps(stages[f"evaluate@{model}"])
    assert outs(stages["summary"]) == {str(paths.SUMMARY), str(paths.SUMMARY_TABLE), str(paths.SUMMARY_IMAGES)}


def test_only_data_and_models_are_cached_and_metrics_are_json(stages):
    for name, stage in stages.items():
        for out in stage.outs:
            cached = out.def_path.startswith(("data/", "models/"))
            assert out.use_cache == cached, f"{name}: {out.def_path}"
            if out.metric:
                assert out.def_path.startswith("metrics/") and out.def_path.endswith(".json")


def test_each_stage_lists_only_params_it_reads(stages):
    sections = {f.name for f in dataclasses.fields(Params)}
    for name, stage in stages.items():
        assert {key.split(".")[0] for key in params(stage)} <= sections, name
    assert params(stages["download"]) == {"download"}
    assert params(stages["preprocess"]) == {"prepare"}
    assert params(stages["train-ann"]) == {"init", "ann"}
    for model in ("mlp", "lenet5", "deepcnn", "square"):
        assert params(stages[TRAIN_STAGES[model]]) == {model}
    # -S init.k1=... reruns train-ann and what reads its outputs, nothing else.
    readers_of_init = {name for name, stage in stages.items() if "init" in params(stage)}
    assert readers_of_init == {"train-ann"}


def test_each_stage_depends_on_its_script_and_existing_code(stages):
    for name, stage in stages.items():
        module = stage.cmd.split()[2]  # python -m stages.<module> ...
        assert f"{module.replace('.', '/')}.py" in deps(stage), name
        for dep in deps(stage):
            assert (ROOT / dep).exists() or dep.startswith(("data/", "models/", "plots/", "metrics/")), f"{name}: {dep} does not exist"


def test_top_level_plots_read_declared_outputs_and_real_columns(stages):
    declared = set().union(*(outs(s) for s in stages.values()))
    with open(ROOT / "dvc.yaml") as fh:
        dvc = yaml.safe_load(fh)
    assert all("plots" not in stage for stage in dvc["stages"].values()), "plots are defined top-level only"
    for plot in dvc["plots"]:
        if isinstance(plot, str):
            assert plot in declared
            continue
        (title, spec), = plot.items()
        for data_file, columns in spec["y"].items():
            assert data_file in declared, f"{title}: {data_file} is no stage's output"
            data = ROOT / data_file
            if data_file.endswith(".csv") and data.exists():
                header = data.read_text().splitlines()[0].split(",")
                for column in [columns] if isinstance(columns, str) else columns:
                    assert column in header, f"{title}: {data_file} has no column {column}"
                assert spec["x"] in header, f"{title}: {data_file} has no column {spec['x']}"


def test_params_yaml_is_valid_and_lists_are_block_style():
    load_params(ROOT / "params.yaml")
    code = [line.split("#")[0] for line in (ROOT / "params.yaml").read_text().splitlines()]
    assert not [line for line in code if "[" in line], "dvc exp run -S rewrites inline lists; write them in block style"
