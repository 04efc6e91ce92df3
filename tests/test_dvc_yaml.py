"""dvc.yaml agrees with paths.py and config.py: paths in one place, params listed precisely."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from mnistflow import paths
from mnistflow.config import Params, load_params

ROOT = Path(__file__).resolve().parent.parent
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC["stages"]


def _names(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def outs(stage: str) -> set[str]:
    return set(_names(STAGES[stage].get("outs"))) | set(_names(STAGES[stage].get("metrics")))


def test_stage_outs_are_the_paths_the_code_writes():
    assert outs("download") == {str(paths.RAW_DIR)}
    assert outs("preprocess") == {str(paths.PROCESSED_DIR)}
    assert outs("train-ann") == {str(p) for p in (paths.checkpoint("ann"), paths.history("ann"), paths.steps("ann"), paths.train_metrics("ann"))}
    assert outs("evaluate") == {str(paths.eval_metrics("ann")), str(paths.confusion("ann"))}
    assert outs("plot") == {str(paths.images("ann"))}


def test_committed_metrics_and_plot_data_are_not_cached():
    for stage in STAGES.values():
        for entry in (stage.get("metrics") or []) + (stage.get("outs") or []):
            if isinstance(entry, dict):
                name, opts = next(iter(entry.items()))
                assert opts == {"cache": False}, name
            else:
                assert entry.startswith(("data/", "models/")), f"{entry}: only data and models go to the DVC cache"


def test_each_stage_lists_only_params_sections_that_exist():
    sections = {f.name for f in dataclasses.fields(Params)}
    for name, stage in STAGES.items():
        for key in stage.get("params", []):
            assert key.split(".")[0] in sections, f"{name}: {key}"
    # -S init.k1=... must never rerun download or preprocess.
    assert STAGES["download"]["params"] == ["download"]
    assert STAGES["preprocess"]["params"] == ["prepare"]
    assert set(STAGES["train-ann"]["params"]) == {"init", "ann"}


def test_each_stage_depends_on_its_own_script_and_inputs():
    for name, stage in STAGES.items():
        module = stage["cmd"].split()[2]  # python -m stages.<module>
        assert f"{module.replace('.', '/')}.py" in stage["deps"], name
        for dep in stage["deps"]:
            assert (ROOT / dep).exists() or dep.startswith(("data/", "models/", "plots/")), f"{name}: {dep} does not exist"


def test_top_level_plots_read_declared_outputs_and_real_columns():
    declared = set().union(*(outs(s) for s in STAGES))
    for plot in DVC["plots"]:
        if isinstance(plot, str):
            assert plot in declared
            continue
        (title, spec), = plot.items()
        for data_file, columns in spec["y"].items():
            assert data_file in declared, f"{title}: {data_file} is no stage's output"
            history = ROOT / data_file
            if data_file.endswith(".csv") and history.exists():
                header = history.read_text().splitlines()[0].split(",")
                for column in [columns] if isinstance(columns, str) else columns:
                    assert column in header, f"{title}: {data_file} has no column {column}"
        assert "plots" not in [k for s in STAGES.values() for k in s], "plots are defined top-level only"


def test_params_yaml_is_valid_and_lists_are_block_style():
    load_params(ROOT / "params.yaml")
    code = [line.split("#")[0] for line in (ROOT / "params.yaml").read_text().splitlines()]
    assert not [line for line in code if "[" in line], "dvc exp run -S rewrites inline lists; write them in block style"
