"""Adding a model is one params.yaml section plus one entry in dvc.yaml's `vars: models`.

A copy of the project, on generated data with tiny models (``conftest.edit_params``), gains a
sixth model `wide` in exactly those two places, and `dvc repro` trains, evaluates, plots,
summarises, tracks and reports it like the five others; `mnistflow predict --model wide`
reads digits with it. The one thing it cannot do by itself, a line in each of dvc.yaml's
cross-model charts (DVC's top-level plots have no foreach), is named by tests/test_dvc_yaml.py.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DVC, VENV_BIN, base_env, copy_project, edit_params, git, run, search_runs, stages_ran, write_mnist

pytestmark = pytest.mark.e2e
NEW = "wide"


def round_trip_yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # comments and block-style lists survive
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def add_model(repo: Path) -> None:
    """The two edits README's "Add a model" asks for: a params section, a vars entry."""
    yaml = round_trip_yaml()
    params = yaml.load(repo / "params.yaml")
    section = copy.deepcopy(params["mlp"])
    section["model"]["hidden"] = [24, 12]
    section["model"]["dropout"] = 0.0
    params[NEW] = section
    yaml.dump(params, repo / "params.yaml")
    pipeline = yaml.load(repo / "dvc.yaml")
    next(entry for entry in pipeline["vars"] if "models" in entry)["models"][NEW] = {"reads": NEW}
    yaml.dump(pipeline, repo / "dvc.yaml")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, str], subprocess.CompletedProcess]:
    repo = tmp_path_factory.mktemp("add-model")
    copy_project(repo)
    mirror = tmp_path_factory.mktemp("mirror")
    edit_params(repo / "params.yaml", write_mnist(mirror, n_train=1000, n_test=300, seed=0))
    add_model(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", "-A")
    env = base_env()
    env["MNIST_MIRROR"] = str(mirror)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    return repo, env, run([DVC, "repro"], repo, env)


def test_the_new_model_gets_every_stage(project):
    repo, _, repro = project
    assert {f"train@{NEW}", f"evaluate@{NEW}", f"plot@{NEW}", "summary", "track", "report"} <= stages_ran(repro.stdout)
    metrics = json.loads((repo / f"metrics/{NEW}.json").read_text())
    assert metrics["n"] == 300 and metrics["accuracy"] > 0.5, metrics
    assert json.loads((repo / f"metrics/{NEW}-train.json").read_text())["epochs"] == 2
    assert {p.name for p in (repo / f"plots/{NEW}/images").glob("*.png")} >= {"confusion_matrix.png", "loss_curve.png"}


def test_summary_and_report_show_the_new_model(project):
    repo, _, _ = project
    summary = json.loads((repo / "reports/summary.json").read_text())
    assert list(summary)[-1] == NEW and summary[NEW]["description"] == "MLP 24-12, ReLU"
    page = (repo / "reports/index.html").read_text()
    assert f'id="model-{NEW}"' in page and f"<th>{NEW}.model.hidden</th>" in page


def test_mlflow_registers_the_new_model(project):
    _, env, _ = project
    runs = [r for r in search_runs(env["MLFLOW_TRACKING_URI"]) if r.data.tags.get("model") == NEW]
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params[f"{NEW}.model.hidden"] == "[24, 12]"


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
    """tests/test_dvc_yaml.py, run in the copy: only the cross-model charts miss the new model,
    and its message says where to add it; with those lines added, it passes."""
    repo, env, _ = project
    pytest_cmd = [str(VENV_BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_dvc_yaml.py"]
    before = subprocess.run(pytest_cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert before.returncode == 1, before.stdout
    failed = [line for line in before.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "test_cross_model_plots_name_exactly_the_models" in failed[0], before.stdout
    assert f"lacks plots/{NEW}/history.csv; add a line for each under its y" in before.stdout

    yaml = round_trip_yaml()
    pipeline = yaml.load(repo / "dvc.yaml")
    for plot in pipeline["plots"]:
        ((title, spec),) = plot.items()
        if "every digit model" in title:
            ((column_file, column),) = list(spec["y"].items())[:1]
            spec["y"][column_file.replace("/ann/", f"/{NEW}/")] = column
    yaml.dump(pipeline, repo / "dvc.yaml")
    after = subprocess.run(pytest_cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stdout
