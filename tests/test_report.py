"""The report stage's page and README's results table, from a fake results tree.

The tree is what the pipeline leaves behind (summary, metrics, PNGs, params.yaml, dvc.yaml),
written here with small matplotlib PNGs, one colour per file, so each inlined image can be
traced back to its file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from conftest import BROWSER  # noqa: E402
from mnistflow import columns, paths, report  # noqa: E402
from mnistflow.errors import UserError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECK_HTML = ROOT / "scripts" / "check_html.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

MODELS = ["ann", "mlp", "square"]
TRICKY = 'MLP 8-8, ReLU <b>&</b> "quoted"'  # a description the page must escape
SUMMARY = {
    "ann": {
        "description": "MLP 256-128, g(x) = k0 + k1·x",
        "accuracy": 0.9267,
        "f1": 0.9256733724573302,
        "precision": 0.925790977423382,
        "recall": 0.9256925311635197,
        "roc_auc": 0.9938753233358988,
        "log_loss": 0.2708486919342601,
    },
    "mlp": {
        "description": TRICKY,
        "accuracy": 0.98125,
        "f1": 0.981,
        "precision": 0.9811,
        "recall": 0.9809,
        "roc_auc": 0.999910573848652,
        "log_loss": 0.034873647394688144,
    },
    "square": {
        "description": "LeNet-5 16-32 / dense 120-84, binary",
        "accuracy": 0.9975,
        "f1": 0.9969508476643493,
        "precision": 0.9985340825800146,
        "recall": 0.9953726254262055,
        "roc_auc": 0.999976632969108,
        "log_loss": 0.006954027770993582,
    },
}
BINARY = {"threshold": 0.4002154663573385, "tn": 5888, "fp": 6, "fn": 19, "tp": 4087}
# The perturbed test split's accuracy and drop (points), for the models whose results have them.
PERTURBED = {
    "mlp": {"perturbed_accuracy": 0.9771, "perturbed_drop": 0.42},
    "square": {"perturbed_accuracy": 0.9978, "perturbed_drop": -0.03},
}
TRAIN = {
    "ann": {"epochs": 20, "test_acc": 0.9267, "k0": 0.15350104868412018, "k1": 0.7543825507164001},
    "mlp": {"epochs": 12, "test_acc": 0.98125},
    "square": {"epochs": 15, "test_acc": 0.9975, "threshold": 0.4002154663573385},
}
PNGS = [
    "accuracy_train_vs_test.png",
    "confusion_matrix.png",
    "loss_curve.png",
    "loss_train_vs_test.png",
    "misclassified.png",
    "roc_curve.png",
]
ANN_PNGS = [*PNGS, "activation_first_last.png", "k_per_epoch.png"]
PARAMS = {
    "prepare": {"seed": 0, "val_fraction": 0.1, "standardize": False},
    "init": {"k0": 0.0, "k1": 1.0, "sampling": "constant"},
    "ann": {"model": {"activation": "learnable", "hidden": [256, 128]}, "train": {"epochs": 20, "lr": 0.001}},
    "mlp": {"model": {"activation": "relu", "hidden": [8, 8]}, "train": {"epochs": 12, "lr": 0.001}},
    "square": {"positive": [0, 1, 4, 9], "train": {"epochs": 15, "lr": 0.002}},
    "evaluate": {"batch_size": 1000},
    "plot": {"gallery_size": 36},
}
DVC_YAML = {
    "vars": [
        {
            "models": {
                "ann": {"reads": "init", "bar": {"mean": 0.92, "floor": 0.92}},
                "mlp": {"reads": "mlp", "bar": {"mean": 0.985, "floor": 0.985}, "seed_figure": 0.9771},
                "square": {"reads": "square", "bar": {"mean": 0.9975, "floor": 0.997}, "seed_figure": 0.9817},
            }
        }
    ]
}


def write_png(path: Path, shade: float) -> bytes:
    fig = plt.figure(figsize=(1.2, 0.8), dpi=40)
    fig.patch.set_facecolor((shade, 0.4, 1 - shade))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path.read_bytes()


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A project folder holding what the stages before `report` write."""
    write_json(tmp_path / "reports/summary.json", SUMMARY)
    for model in MODELS:
        test = {
            "n": 10000,
            **{k: v for k, v in SUMMARY[model].items() if k != "description"},
            **PERTURBED.get(model, {}),
        }
        write_json(tmp_path / f"metrics/{model}.json", {**test, **BINARY} if model == "square" else test)
        write_json(tmp_path / f"metrics/{model}-train.json", TRAIN[model])
    names = [(m, n) for m in MODELS for n in (ANN_PNGS if m == "ann" else PNGS)]
    for i, (model, name) in enumerate(names):
        write_png(tmp_path / f"plots/{model}/images/{name}", i / len(names))
    write_png(tmp_path / "plots/summary/images/comparison.png", 0.5)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False), encoding="utf-8")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False), encoding="utf-8")
    return tmp_path


def all_pngs(root: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in root.glob("plots/*/images/*.png"))


class Page(HTMLParser):
    """Checks the page's structure as it parses: every non-void element closed in order."""

    VOID = {"meta", "link", "img", "br", "hr", "input", "source", "wbr"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.title = ""
        self.text: list[str] = []
        self.rows: list[list[str]] = []  # cells of the overview table's rows
        self._cell: list[str] | None = None
        self._in_results = False
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if "href" in attributes:
            self.hrefs.append(attributes["href"])
        if "src" in attributes:
            self.srcs.append(attributes["src"])
        if tag == "table" and attributes.get("class") == "results":
            self._in_results = True
        if self._in_results and tag == "tr":
            self.rows.append([])
        if self._in_results and tag in ("td", "th"):
            self._cell = []
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "table":
            self._in_results = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self.stack and self.stack[-1] == "title":
            self.title += data


def test_a_bar_keeps_the_decimals_it_was_written_with():
    assert [columns.bar_text(b) for b in (0.92, 0.988, 0.9925, 0.997)] == ["92.0%", "98.8%", "99.25%", "99.7%"]


def test_a_bar_is_a_mean_and_a_floor():
    bar = columns.Bar.parse("deepcnn", {"mean": 0.9965, "floor": 0.9955})
    assert bar.text() == "mean ≥ 99.65%, each seed ≥ 99.55%"
    assert columns.Bar.parse("mlp", {"mean": 0.988, "floor": 0.988}).text() == "each seed ≥ 98.8%"
    assert bar.shortfall({0: 0.9967, 1: 0.997, 2: 0.9965}) == ""
    assert bar.shortfall({0: 0.9967, 1: 0.9954, 2: 0.9965}) == "mean 99.620% < 99.65%; seed 1 99.54% < 99.55%"
    assert columns.Bar.parse("ann", None) is None
    for wrong in (0.997, {"mean": 0.99}, {"mean": 0.99, "floor": 0.995}, {"mean": "high", "floor": 0.9}):
        with pytest.raises(
            UserError, match=r"^dvc.yaml: vars: models: deepcnn: bar is .*write it as \{mean: M, floor: F\}"
        ):
            columns.Bar.parse("deepcnn", wrong)


def test_every_bar_in_dvc_yaml_reads():
    entries = paths.pipeline_entries(ROOT / "dvc.yaml")
    bars = {model: columns.Bar.parse(model, entry.get("bar")) for model, entry in entries.items()}
    assert bars["deepcnn"] == columns.Bar(mean=0.9965, floor=0.9955)  # issue 27's bars
    assert bars["square"] == columns.Bar(mean=0.9975, floor=0.9965)


def test_readme_table_keeps_its_format_and_numbers():
    targets = paths.pipeline_entries(ROOT / "dvc.yaml")  # bars and seed figures: dvc.yaml's vars: models
    test = {m: {"n": 10000, **SUMMARY[m], **(BINARY if m == "square" else {}), **PERTURBED.get(m, {})} for m in MODELS}
    rows = report.results_rows(MODELS, SUMMARY, test, TRAIN, targets)
    lines = report.results_markdown(rows).splitlines()
    assert (
        lines[0]
        == "| model | architecture | test accuracy | seed figure | bar (seeds 0-2) | perturbed (drop) | F1 | ROC-AUC | "
        "log-loss | "
        "epochs |"
    )
    assert lines[1] == "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    # README's committed ann row, character for character (its results predate the perturbed split).
    assert (
        lines[2]
        == "| `ann` | MLP 256-128, g(x) = k0 + k1·x (k0 = 0.154, k1 = 0.754) | **92.67%** | — | each seed ≥ 92.0% "
        "| — | 0.9257 | 0.99388 | 0.2708 | 20 |"
    )
    assert (
        lines[4]
        == "| `square` | LeNet-5 16-32 / dense 120-84, binary | **99.75%** | 98.17% | mean ≥ 99.75%, each seed "
        "≥ 99.65% | 99.78% (+0.03 pt) | "
        "0.9970 | 0.99998 | 0.0070 | 15 |"
    )
    cells = [c.strip() for c in lines[3].strip("|").split("|")]
    assert cells == [
        "`mlp`",
        TRICKY,
        "**98.12%**",
        "97.71%",
        "each seed ≥ 98.8%",
        "97.71% (-0.42 pt)",
        "0.9810",
        "0.99991",
        "0.0349",
        "12",
    ]
    assert len(lines) == 2 + len(MODELS)
    assert [r["model"] for r in rows] == MODELS
    assert rows[2]["threshold"] == BINARY["threshold"] and rows[2]["tp"] == 4087 and "threshold" not in rows[0]
    # One run against dvc.yaml's floors: ann (92.67%) makes 92.0%, mlp (98.12%) misses 98.8%, square
    # (99.75%) makes 99.65%.
    assert [report.meets_bar(row) for row in rows] == [True, False, True]


def test_an_unknown_model_has_no_targets():
    rows = report.results_rows(
        ["new"], {"new": {"description": "x"}}, {"new": {**SUMMARY["mlp"], "n": 5}}, {"new": {"epochs": 1}}
    )
    assert rows[0]["seed_figure"] is None and rows[0]["bar"] is None and report.meets_bar(rows[0]) is None
    assert "| — | — |" in report.results_markdown(rows)


def test_page_has_every_models_results(tree: Path):
    path = report.write_report(MODELS, tree)
    assert path == tree / "reports/index.html"
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    sections = re.split(r'<section id="', text)
    by_id = {s.split('"', 1)[0]: s for s in sections[1:]}
    assert list(by_id) == ["overview", "model-ann", "model-mlp", "model-square", "shared-params"]
    for model, expected in (("ann", "92.67%"), ("mlp", "98.12%"), ("square", "99.75%")):
        assert expected in by_id[f"model-{model}"], model
        assert f"<strong>{expected}</strong>" in by_id["overview"], model
    square = by_id["model-square"]
    assert "Decision threshold 0.4002" in square
    # The accuracy on the perturbed test split, beside the clean one; — where the results have none.
    assert "<th>perturbed accuracy</th><td>99.78% (+0.03 pt)</td>" in square
    assert "<th>perturbed accuracy</th><td>—</td>" in by_id["model-ann"]
    for cell in ("tn 5,888", "fp 6", "fn 19", "tp 4,087"):
        assert cell in square
    assert "Decision threshold" not in by_id["model-ann"] + by_id["model-mlp"]
    ann = by_id["model-ann"]
    assert "g(x) = 0.1535 + 0.7544·x" in ann and "Learned activation" in ann
    assert "Learned activation" not in by_id["model-mlp"] + square
    # Each model's params: its own section, plus what dvc.yaml says it reads (ann: init).
    assert (
        "<th>init.k1</th><td><code>1.0</code></td>" in ann
        and "<th>ann.model.hidden</th><td><code>[256, 128]</code></td>" in ann
    )
    assert (
        "init.k1" not in by_id["model-mlp"] and "<th>square.positive</th><td><code>[0, 1, 4, 9]</code></td>" in square
    )
    assert "<th>prepare.standardize</th><td><code>false</code></td>" in by_id["shared-params"]
    assert "<th>plot.gallery_size</th>" in by_id["shared-params"]
    # The floor verdicts: mlp (98.12%) misses 98.5%, square (99.75%) makes 99.7%.
    overview = {row[0]: row for row in page.rows[1:]}
    assert overview["mlp"][5] == "no" and overview["square"][5] == "yes" and overview["ann"][5] == "yes"


def test_overview_table_is_readmes_table(tree: Path):
    """The page's results table and README's come from the same rows, cell for cell."""
    text = report.build_report(MODELS, tree)
    html_rows = Page(text).rows
    markdown = report.results_markdown(report.load_results(MODELS, tree)).splitlines()
    assert html_rows[0] == columns.headers(columns.OVERVIEW)
    assert columns.headers(columns.README) == [h for h in html_rows[0] if h != "≥ floor"]
    for html_row, line in zip(html_rows[1:], markdown[2:], strict=True):
        cells = [c.strip().strip("`").strip("*") for c in line.strip("|").split("|")]
        assert html_row[:5] + html_row[6:] == cells


def test_a_new_column_is_one_entry_that_every_view_shows(tree: Path, monkeypatch):
    """One more entry in columns.COLUMNS (Matthews' correlation, a key of the test metrics) and
    README's table, the page's overview and model sections, the summary's and the train
    stage's headline keys show it (or not) as its views say, with nothing else edited."""
    from mnistflow.workflow.train import train_metrics
    from mnistflow.tasks import MULTICLASS

    for model in MODELS:
        metrics = json.loads((tree / f"metrics/{model}.json").read_text())
        write_json(tree / f"metrics/{model}.json", {**metrics, "mcc": 0.5 + MODELS.index(model) / 8})
    mcc = columns.Column(
        "mcc", "MCC", lambda row: f"{row['mcc']:.3f}", frozenset({columns.README, columns.OVERVIEW}), columns.TEST
    )
    f1 = [c.key for c in columns.COLUMNS].index("f1")
    monkeypatch.setattr(columns, "COLUMNS", (*columns.COLUMNS[: f1 + 1], mcc, *columns.COLUMNS[f1 + 1 :]))

    markdown = report.results_markdown(report.load_results(MODELS, tree)).splitlines()
    assert (
        markdown[0].startswith("| model | architecture | test accuracy |") and "| F1 | MCC | ROC-AUC |" in markdown[0]
    )
    assert [line.split(" | ")[7] for line in markdown[2:]] == ["0.500", "0.625", "0.750"]
    page = Page(report.build_report(MODELS, tree))
    assert page.rows[0][8] == "MCC" and [row[8] for row in page.rows[1:]] == ["0.500", "0.625", "0.750"]
    assert "<th>MCC</th>" not in report.build_report(MODELS, tree).split('<section id="model-ann">')[1]
    assert "mcc" not in columns.keys(columns.SUMMARY) and "mcc" not in train_metrics(
        {"epoch": 3, **{k: 0.5 for k in columns.keys(columns.TRAIN)}}, MULTICLASS
    )


def test_each_view_shows_what_the_columns_say(tree: Path):
    page = report.build_report(MODELS, tree)
    section = page.split('<section id="model-mlp">')[1].split("</section>")[0]
    labels = re.findall(r"<tr><th>([^<]+)</th><td>", section.split("<h3>Parameters</h3>")[0])
    assert labels == [c.label or c.header for c in columns.columns(columns.SECTION)]
    assert columns.keys(columns.SUMMARY) == ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
    assert columns.keys(columns.TRAIN) == ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def test_script_prints_the_table(tree: Path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/results_table.py"), "--root", str(tree)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout == report.results_markdown(report.load_results(MODELS, tree))
    assert "**92.67%**" in proc.stdout and "**98.12%**" in proc.stdout


def test_images_are_inlined_and_nothing_is_fetched(tree: Path):
    text = report.write_report(MODELS, tree).read_text(encoding="utf-8")
    page = Page(text)
    assert page.srcs and all(src.startswith("data:image/png;base64,") for src in page.srcs)
    decoded = [base64.b64decode(src.split(",", 1)[1], validate=True) for src in page.srcs]
    assert all(data.startswith(PNG_SIGNATURE) for data in decoded)
    assert sorted(decoded) == all_pngs(tree)  # every PNG once, byte for byte, the comparison chart too
    for tag, attributes in page.tags:
        if tag == "img":
            width, height = report.png_size(base64.b64decode(attributes["src"].split(",", 1)[1]))
            assert (attributes["width"], attributes["height"]) == (str(width), str(height))
            assert attributes["alt"]
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed")]
    assert 'src="http' not in text and 'href="http' not in text and "<script" not in text and "@import" not in text
    assert "url(" not in text  # no CSS fetches either


def test_page_is_well_formed_and_escapes_text(tree: Path):
    text = report.build_report(MODELS, tree)
    page = Page(text)
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert not page.errors, page.errors
    assert page.title == "mnistflow: results report"
    assert len(page.ids) == len(set(page.ids))
    anchors = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert set(anchors) >= {"overview", "model-ann", "model-mlp", "model-square", "shared-params"}
    assert set(anchors) <= set(page.ids)  # the contents' and the table's links all land
    assert TRICKY not in text and "MLP 8-8, ReLU &lt;b&gt;&amp;&lt;/b&gt; &quot;quoted&quot;" in text
    assert TRICKY in "".join(page.text)  # and reads as written


def test_same_inputs_same_bytes(tree: Path):
    first = report.write_report(MODELS, tree).read_bytes()
    assert report.write_report(MODELS, tree).read_bytes() == first
    assert report.build_report(MODELS, tree).encode("utf-8") == first
    assert not list(tree.glob(".staging-*"))


def test_a_missing_input_writes_nothing(tree: Path):
    page = report.write_report(MODELS, tree)
    before = page.read_bytes()
    shutil.rmtree(tree / "plots/square/images")
    write_json(tree / "metrics/ann.json", {**json.loads((tree / "metrics/ann.json").read_text()), "accuracy": 0.5})
    with pytest.raises(FileNotFoundError, match=r"plots/square/images is missing; run `dvc repro plot@square`"):
        report.write_report(MODELS, tree)
    assert page.read_bytes() == before and not list(tree.glob(".staging-*"))
    (tree / "plots/mlp/images/roc_curve.png").write_bytes(b"<html>not a png</html>")
    with pytest.raises(report.UserError, match="not a PNG"):
        report.write_report(["mlp"], tree)


def test_stage_entry_point(tree: Path):
    """`python -m stages.report` in the project folder: the page, or one error line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "stages.report"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("reports/index.html: 3 models, 21 figures inlined")
    assert (tree / "reports/index.html").read_bytes() == report.build_report(MODELS, tree).encode("utf-8")
    (tree / "metrics/mlp-train.json").unlink()
    failed = subprocess.run(
        [sys.executable, "-m", "stages.report"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    assert failed.returncode == 1 and failed.stderr.startswith("error: ") and "mlp-train.json" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr


def test_page_renders_offline_in_chromium(tree: Path):
    if BROWSER is None:
        pytest.skip("no Chromium on PATH or in /usr/lib/chromium (apt-get install -y --no-install-recommends chromium)")
    page = report.write_report(MODELS, tree)
    shot = tree / "shot.png"
    proc = subprocess.run(
        [
            sys.executable,
            str(CHECK_HTML),
            str(page),
            "--timeout",
            "40",
            "--browser",
            str(BROWSER),
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "21 of 21 plots rendered offline" in proc.stdout, proc.stdout
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
