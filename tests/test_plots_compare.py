"""`dvc plots diff` between two experiments, read from what headless Chromium drew.

A copy of the reproduced project (conftest's `reproduced_original`: small generated data with a
twentieth of the test labels wrong, tiny models, 2 epochs) runs two experiments through the
stages the compared charts read (train and evaluate of every model): the defaults, and
`-S init.k1=0.5`. The page of `dvc plots diff` between them is opened offline and the vega Views
it kept (`window.vegaViews`, dvc_plots_template/offline.html) are read with scripts/check_html.py:
one colour per model, an error axis fitted to the trained epochs, both revisions drawn with a
dash each, and confusion colours set by the errors alone.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import shutil

import pytest

from conftest import DVC, ROOT, copy_reproduced, git, run

pytestmark = pytest.mark.e2e

spec = importlib.util.spec_from_file_location("check_html", ROOT / "scripts" / "check_html.py")
check_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_html)

BROWSER = next((shutil.which(b) for b in check_html.BROWSERS if shutil.which(b)), None)
REVS = ["base", "half-k1"]
DIGIT_MODELS = ["ann", "mlp", "lenet5", "deepcnn"]
ERRORS_CHART = "test_error_per_epoch__every_digit_model"
CONFUSION_CHART = "plots_ann_confusion_csv"

# For every chart the page kept: its scales (domain, and what each domain value maps to) and
# the (rev, series, epoch) of the data-mark items it drew.
READ_VIEWS = r"""
(() => {
  const out = {};
  for (const [id, view] of Object.entries(window.vegaViews || {})) {
    const scales = {};
    for (const name of ["color", "strokeDash", "y"]) {
      let s;
      try { s = view.scale(name); } catch (e) { s = null; }
      if (s) scales[name] = { domain: s.domain(), mapped: s.domain().map((d) => s(d)) };
    }
    const drawn = new Set();
    const walk = (node) => {
      for (const item of node.items || []) {
        if (node.marktype === "group") (item.items || []).forEach(walk);
        else if (node.role === "mark" && item.datum && item.datum.rev !== undefined)
          drawn.add(JSON.stringify([item.datum.rev, item.datum.series ?? null, item.datum.epoch ?? null]));
      }
    };
    walk(view.scenegraph().root);
    out[id] = { scales, drawn: [...drawn].map((d) => JSON.parse(d)) };
  }
  return out;
})()
"""


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def compared(reproduced_original, tmp_path_factory):
    """The two experiments' plot files (rev -> path -> text) and the views of their diff page."""
    if BROWSER is None:
        pytest.skip("no Chromium on PATH (apt-get install -y --no-install-recommends chromium)")
    copy = copy_reproduced(reproduced_original, tmp_path_factory.mktemp("plots-compare"))
    repo, env = copy.repo, {**copy.env, "MNISTFLOW_THREADS": "1"}
    # Only what the checked charts read: the digit models' histories, ann's confusion matrix.
    targets = [*(f"train@{m}" for m in DIGIT_MODELS), "evaluate@ann"]
    run([DVC, "exp", "run", "-n", REVS[0], *targets], repo, env)
    run([DVC, "exp", "run", "-n", REVS[1], "-S", "init.k1=0.5", *targets], repo, env)
    run([DVC, "plots", "diff", *REVS, "-o", "diff"], repo, env)

    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    files = {}
    for rev in REVS:
        (ref,) = [r for r in refs if r.endswith(f"/{rev}")]
        paths = [*(f"{m}/history.csv" for m in DIGIT_MODELS), "ann/confusion.csv"]
        files[rev] = {path: git(repo, "show", f"{ref}:plots/{path}") for path in paths}
    views = check_html.evaluate(repo / "diff" / "index.html", READ_VIEWS, browser=BROWSER, timeout=90)
    return files, views


def test_each_model_has_its_own_colour(compared):
    _, views = compared
    color = views[ERRORS_CHART]["scales"]["color"]
    assert sorted(color["domain"]) == sorted(DIGIT_MODELS)
    assert len(set(color["mapped"])) == len(DIGIT_MODELS), color


def test_the_error_axis_is_fitted_to_the_trained_epochs(compared):
    files, views = compared
    errors = {0: [], 1: []}  # untrained epoch 0; trained epochs >= 1
    for rev in REVS:
        for m in DIGIT_MODELS:
            for row in rows(files[rev][f"{m}/history.csv"]):
                errors[min(int(row["epoch"]), 1)].append(100 * (1 - float(row["test_acc"])))
    low, high = views[ERRORS_CHART]["scales"]["y"]["domain"]
    # The trained epochs' range (not stretched to the untrained networks' ~90 % error) ...
    assert low <= min(errors[1]) and max(errors[1]) <= high <= 1.05 * max(errors[1]), (low, high, errors)
    # ... because epoch 0 is not drawn at all.
    assert {float(d[2]) for d in views[ERRORS_CHART]["drawn"]} == {1.0, 2.0}


def test_both_revisions_are_drawn_with_a_dash_each(compared):
    files, views = compared
    chart = views[ERRORS_CHART]
    dash = chart["scales"]["strokeDash"]
    assert dash["domain"] == REVS and dash["mapped"][0] != dash["mapped"][1], dash
    assert {(rev, m) for rev in REVS for m in DIGIT_MODELS} <= {(d[0], d[1]) for d in chart["drawn"]}
    # The experiment changed ann's curve (k1 starts at 0.5): its two revisions are two lines.
    assert files[REVS[0]]["ann/history.csv"] != files[REVS[1]]["ann/history.csv"]


def test_the_confusion_colours_are_set_by_the_errors(compared):
    files, views = compared
    chart = views[CONFUSION_CHART]
    assert {d[0] for d in chart["drawn"]} == set(REVS)  # a panel per revision
    counts: dict[tuple[str, str, str], int] = {}
    for rev in REVS:
        for row in rows(files[rev]["ann/confusion.csv"]):
            key = (rev, row["actual"], row["predicted"])
            counts[key] = counts.get(key, 0) + 1
    errors = [n for (_, actual, predicted), n in counts.items() if actual != predicted]
    correct = [n for (_, actual, predicted), n in counts.items() if actual == predicted]
    assert errors, "the tiny ann made no error: nothing to colour"
    low, high = chart["scales"]["color"]["domain"]
    assert low == 0 and max(errors) <= high < min(correct), (low, high, max(errors), min(correct))
