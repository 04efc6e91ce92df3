"""Adding a model is one params.yaml section plus one entry in dvc.yaml's `vars: models`.

A copy of the reproduced project, on generated data with tiny models (conftest's
``reproduced_original``), gains the
two models of README's "Add a model", made as that section says, from its own text: `wide` (a
copy of mlp's section with README's changes) and the yes/no `seven` (a copy of lenet5's with a
`positive:` list). `dvc repro` trains, evaluates, plots, summarises, tracks and reports them like
the five others; `mnistflow predict --model wide` reads digits with it. The one thing they
cannot do by themselves, a line in each of dvc.yaml's cross-model charts (DVC's top-level plots
have no foreach), is named by tests/test_dvc_yaml.py.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml as pyyaml
from PIL import Image

from conftest import (
    DVC,
    ROOT,
    VENV_BIN,
    copy_reproduced,
    run,
    search_runs,
    stages_ran,
)

pytestmark = pytest.mark.e2e


def readme_recipe() -> tuple[dict[str, tuple[str, dict]], dict[str, dict]]:
    """README's "Add a model" block: new model -> (the section it copies, what it changes), and
    the entries it adds to dvc.yaml's `vars: models`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Add a model\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    params_part, dvc_part = block.split("# dvc.yaml", 1)
    changes = pyyaml.safe_load(params_part)
    copies = dict(re.findall(r"^(\w+):.*?a copy of (\w+)'s", params_part, re.M))
    assert set(copies) == set(changes), f"README names the section each new model copies: {copies}"
    entries = pyyaml.safe_load("\n".join(line.strip() for line in dvc_part.splitlines()[1:]))
    assert set(entries) == set(changes)
    return {name: (copies[name], changes[name]) for name in changes}, entries


RECIPE, ENTRIES = readme_recipe()
(NEW,) = [name for name, (_, change) in RECIPE.items() if "positive" not in change]  # a digit model
(YES_NO,) = [name for name, (_, change) in RECIPE.items() if "positive" in change]


def round_trip_yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # comments and block-style lists survive
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def merged(base, change):
    """``base`` with README's ``change`` written over it, key by key (lists replaced whole)."""
    if not isinstance(change, dict):
        return change
    out = copy.deepcopy(base)
    for key, value in change.items():
        out[key] = merged(out[key], value) if key in out and isinstance(value, dict) else value
    return out


def add_models(repo: Path) -> None:
    """The edits README's "Add a model" asks for: a params section each, a vars entry each."""
    yaml = round_trip_yaml()
    yaml.dump(with_recipe(yaml.load(repo / "params.yaml")), repo / "params.yaml")
    pipeline = yaml.load(repo / "dvc.yaml")
    next(entry for entry in pipeline["vars"] if "models" in entry)["models"].update(ENTRIES)
    yaml.dump(pipeline, repo / "dvc.yaml")


def with_recipe(params: dict) -> dict:
    """``params`` (round-trip YAML) with README's new sections added."""
    for name, (source, change) in RECIPE.items():
        params[name] = merged(params[source], change)
    return params


def test_readme_describes_a_digit_model_and_a_yes_no_one(tmp_path):
    """The recipe itself, read without training: the yes/no model copies a convolutional
    section (an mlp with a `positive:` list is refused), and the config accepts both."""
    from mnistflow.config import ConfigError, SquareSection, load_params

    yaml = round_trip_yaml()
    path = tmp_path / "params.yaml"
    yaml.dump(with_recipe(yaml.load(ROOT / "params.yaml")), path)
    models = load_params(path).models
    assert isinstance(models[YES_NO], SquareSection) and not isinstance(models[NEW], SquareSection)
    params = yaml.load(ROOT / "params.yaml")
    params[YES_NO] = merged(params["mlp"], RECIPE[YES_NO][1])
    yaml.dump(params, path)
    with pytest.raises(ConfigError):
        load_params(path)


@pytest.fixture(scope="module")
def project(reproduced_original: Path, tmp_path_factory) -> tuple[Path, dict[str, str], subprocess.CompletedProcess]:
    """A copy of the reproduced project, the two models added, `dvc repro` again."""
    copy = copy_reproduced(reproduced_original, tmp_path_factory.mktemp("add-model"))
    add_models(copy.repo)
    return copy.repo, copy.env, run([DVC, "repro"], copy.repo, copy.env)


def test_the_new_models_get_every_stage(project):
    repo, _, repro = project
    ran = stages_ran(repro.stdout)
    for name in (NEW, YES_NO):
        assert {f"train@{name}", f"evaluate@{name}", f"plot@{name}", "summary", "track", "report"} <= ran
        assert json.loads((repo / f"metrics/{name}-train.json").read_text())["epochs"] == 2
        images = {p.name for p in (repo / f"plots/{name}/images").glob("*.png")}
        assert images >= {"confusion_matrix.png", "loss_curve.png"}, name
    metrics = json.loads((repo / f"metrics/{NEW}.json").read_text())
    assert metrics["n"] == 300 and metrics["accuracy"] > 0.5, metrics
    yes_no = json.loads((repo / f"metrics/{YES_NO}.json").read_text())
    positives = int(np.isin(np.load(repo / "data/processed/test.npz")["y"], RECIPE[YES_NO][1]["positive"]).sum())
    assert yes_no["n"] == 300 and 0 < yes_no["threshold"] < 1 and yes_no["tp"] + yes_no["fn"] == positives, yes_no
    assert 20 <= positives <= 40  # a tenth of the labels, give or take the wrong ones


def test_summary_and_report_show_the_new_models(project):
    repo, _, _ = project
    summary = json.loads((repo / "reports/summary.json").read_text())
    hidden = RECIPE[NEW][1]["model"]["hidden"]
    assert list(summary)[-2:] == [NEW, YES_NO]
    assert summary[NEW]["description"] == f"MLP {'-'.join(map(str, hidden))}, ReLU"
    assert summary[YES_NO]["description"].endswith(", binary")
    page = (repo / "reports/index.html").read_text()
    assert f'id="model-{NEW}"' in page and f"<th>{NEW}.model.hidden</th>" in page
    assert f'id="model-{YES_NO}"' in page and f"<th>{YES_NO}.positive</th>" in page


def test_mlflow_registers_the_new_models(project):
    _, env, _ = project
    runs = {
        name: [r for r in search_runs(env["MLFLOW_TRACKING_URI"]) if r.data.tags.get("model") == name]
        for name in (NEW, YES_NO)
    }
    assert all(len(found) == 1 and found[0].info.status == "FINISHED" for found in runs.values()), runs
    assert runs[NEW][0].data.params[f"{NEW}.model.hidden"] == str(RECIPE[NEW][1]["model"]["hidden"])
    assert runs[YES_NO][0].data.params[f"{YES_NO}.positive"] == str(RECIPE[YES_NO][1]["positive"])


def test_predict_reads_digits_with_the_new_model(project, tmp_path):
    repo, env, _ = project
    picture = tmp_path / "seven.png"
    ink = np.zeros((56, 56), dtype=np.uint8)
    ink[10:14, 12:44] = 255  # the bar of a 7
    for row in range(14, 48):
        ink[row, 40 - (row - 14) // 2 : 44 - (row - 14) // 2] = 255
    Image.fromarray(ink).save(picture)
    result = subprocess.run(
        [str(VENV_BIN / "mnistflow"), "predict", "--model", NEW, str(picture)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"digit: {NEW} (models/{NEW}.pt")


def test_the_consistency_tests_name_the_one_missing_piece(project):
    """tests/test_dvc_yaml.py, run in the copy: only the cross-model charts miss the new models,
    and its message says where to add it; with those lines added, it passes."""
    repo, env, _ = project
    pytest_cmd = [
        *(str(VENV_BIN / "python"), "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "tests/test_dvc_yaml.py")
    ]
    before = subprocess.run(pytest_cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert before.returncode == 1, before.stdout
    failed = [line for line in before.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "test_cross_model_plots_name_exactly_the_models" in failed[0], before.stdout
    # The digit model joins the digit charts, the yes/no model the binary ones, each named.
    assert f"every digit model' lacks plots/{NEW}/history.csv;" in before.stdout, before.stdout
    assert f"every binary model' lacks plots/{YES_NO}/history.csv;" in before.stdout, before.stdout
    assert "add a line for each missing file under its chart's y" in before.stdout

    yaml = round_trip_yaml()
    pipeline = yaml.load(repo / "dvc.yaml")
    for plot in pipeline["plots"]:
        ((title, spec),) = plot.items()
        for kind, name in (("every digit model", NEW), ("every binary model", YES_NO)):
            if kind in title:
                ((column_file, column),) = list(spec["y"].items())[:1]
                spec["y"][column_file.replace(f"/{column_file.split('/')[1]}/", f"/{name}/")] = column
    yaml.dump(pipeline, repo / "dvc.yaml")
    after = subprocess.run(pytest_cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stdout
