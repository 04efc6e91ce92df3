"""The results report: one self-contained HTML page, and README's results table, from the same rows.

``results_rows`` turns the pipeline's files (the summary, each model's test and training
metrics) into one row per model; every table formats it by ``mnistflow.columns``.
``results_markdown`` prints the rows as README's table
(``scripts/results_table.py``) and ``render_html`` as the page the ``report`` stage writes to
``reports/index.html``: every model's test results beside the seed write-ups' figures and the
bars, the learned k0/k1, each model's PNGs inlined as ``data:`` URIs and the params sections
that produced them. The page needs no network and no JavaScript, and the same inputs give the
same bytes (no timestamps; files in a fixed order).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mnistflow import paths
from mnistflow.activations import COEFFICIENT, NETWORK_COEFFICIENT, model_family
from mnistflow.columns import (
    OVERVIEW,
    README,
    SECTION,
    TEST,
    TRAINING,
    Bar,
    Column,
    columns,
    headers,
    meets_bar,
    sourced,
)
from mnistflow.errors import UserError
from mnistflow.files import read_json, staged

REPORT = paths.REPORTS_DIR / "index.html"

BINARY_KEYS = ("threshold", "tn", "fp", "fn", "tp")  # the binary (square) model's extra test results
# Accuracy on the perturbed test split and its drop from the clean one, in points (docs/robustness.md);
# absent from results made before the perturbed split existed.
PERTURBED_KEYS = ("perturbed_accuracy", "perturbed_drop")
# params.yaml sections every model's results depend on (data split, evaluation, plots).
SHARED_SECTIONS = ("prepare", "evaluate", "plot")
# Each model's PNGs (plot stage) in the order the page shows them, with a caption; files not
# named here follow in name order, captioned by their name.
FIGURES = {
    "loss_train_vs_test.png": "Loss per epoch: train, validation and test",
    "accuracy_train_vs_test.png": "Accuracy per epoch: train, validation and test",
    "loss_curve.png": "Loss curve: mini-batch training loss",
    "confusion_matrix.png": "Confusion matrix (test set)",
    "roc_curve.png": "ROC curve (test set)",
    "misclassified.png": "Misclassified test digits",
}
ACTIVATION_FIGURES = {
    "k_per_epoch.png": "The activation's coefficients (k0, k1, ...) per epoch",
    "activation_first_last.png": "The learned g(x) at the first and the last epoch",
}
WIDE = {"misclassified.png"}  # figures given a whole row of the grid (their labels are small)
COMPARISON = "comparison.png"  # the summary stage's chart, in paths.SUMMARY_IMAGES
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- rows: the numbers, shared by README's table and the page ------------------------------------


def results_rows(
    models: Sequence[str],
    summary: Mapping[str, Mapping[str, Any]],
    test_metrics: Mapping[str, Mapping[str, Any]],
    train_metrics: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per model, in ``models`` order: its description (from the summary), its test
    metrics (binary models also threshold and tn/fp/fn/tp), epochs and learned k's (from the
    training metrics), the seed write-up's figure and the bar (``targets``: each model's entry in
    dvc.yaml's ``vars: models``, whose ``seed_figure`` and ``bar`` are None where not written)."""
    rows = []
    for model in models:
        test, train = test_metrics[model], train_metrics[model]
        target = (targets or {}).get(model, {})
        seed, bar = target.get("seed_figure"), Bar.parse(model, target.get("bar"))
        row: dict[str, Any] = {"model": model, "description": summary[model]["description"]}
        row.update({c.key: test[c.key] for c in sourced(TEST) if c.key not in PERTURBED_KEYS})
        row.update({key: test[key] for key in BINARY_KEYS if key in test})
        row.update({key: test[key] for key in PERTURBED_KEYS if key in test})
        row.update({c.key: train[c.key] for c in sourced(TRAINING)})
        row.update({key: value for key, value in train.items() if COEFFICIENT.fullmatch(key)})
        row.update(seed_figure=seed, bar=bar)
        rows.append(row)
    return rows


def load_results(models: Sequence[str], root: Path = Path(".")) -> list[dict[str, Any]]:
    """``results_rows`` from the files under ``root``: reports/summary.json and each model's
    metrics/<model>.json and metrics/<model>-train.json."""
    root = Path(root)
    summary = read_json(root / paths.SUMMARY)
    missing = [m for m in models if m not in summary]
    if missing:
        raise FileNotFoundError(f"{paths.SUMMARY} has no results for {', '.join(missing)}; run `dvc repro summary`")
    return results_rows(
        models,
        summary,
        {m: read_json(root / paths.eval_metrics(m)) for m in models},
        {m: read_json(root / paths.train_metrics(m)) for m in models},
        paths.pipeline_entries(root / paths.DVC_YAML),
    )


def results_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """README's results table: a header, a rule and a line per row, each ending in a newline."""
    lines = ["| " + " | ".join(headers(README)) + " |", "| " + " | ".join("---" for _ in columns(README)) + " |"]
    for row in rows:
        cells = [_markdown_cell(column, column.cell(row, README)) for column in columns(README)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _markdown_cell(column: Column, text: str) -> str:
    """README writes the model's name as code and the test accuracy in bold."""
    return f"`{text}`" if column.key == "model" else f"**{text}**" if column.key == "accuracy" else text


# --- the page --------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, from its header; ValueError when ``data`` is not a PNG."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def anchor(model: str) -> str:
    """The page's id for a model's section (letters, digits, '-' and '_' only)."""
    return "model-" + re.sub(r"[^A-Za-z0-9_-]", "-", model)


def _figure(data: bytes, caption: str, alt: str, wide: bool = False) -> str:
    width, height = png_size(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    css = ' class="wide"' if wide else ""
    return (
        f'<figure{css}><img src="{uri}" alt="{_e(alt)}" width="{width}" height="{height}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _value(value: Any) -> str:
    """A params value as YAML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _flatten(data: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(data, Mapping):
        return [pair for key, value in data.items() for pair in _flatten(value, f"{prefix}.{key}")]
    return [(prefix, _value(data))]


def _params_table(params: Mapping[str, Any], sections: Sequence[str]) -> str:
    pairs = [pair for section in sections if section in params for pair in _flatten(params[section], section)]
    if not pairs:
        return "<p>No params.yaml sections.</p>"
    body = "\n".join(f"<tr><th>{_e(key)}</th><td><code>{_e(value)}</code></td></tr>" for key, value in pairs)
    return f'<table class="params"><tbody>\n{body}\n</tbody></table>'


def _key_values(pairs: Sequence[tuple[str, str]]) -> str:
    body = "\n".join(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td></tr>" for key, value in pairs)
    return f'<table class="kv"><tbody>\n{body}\n</tbody></table>'


def _overview_cell(column: Column, row: Mapping[str, Any]) -> str:
    """One cell of the overview: the model's name links to its section, the test accuracy is
    bold, the verdict coloured, numbers right-aligned."""
    text = _e(column.cell(row, OVERVIEW))
    if column.key == "model":
        return f'<td><a href="#{anchor(row["model"])}"><code>{text}</code></a></td>'
    if column.key in ("architecture", "bar"):
        return f"<td>{text}</td>"
    if column.key == "meets_bar":
        met = meets_bar(row)
        return f'<td class="{"na" if met is None else "pass" if met else "fail"}">{text}</td>'
    return (
        f'<td class="num"><strong>{text}</strong></td>' if column.key == "accuracy" else f'<td class="num">{text}</td>'
    )


def _overview_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{_e(header)}</th>" for header in headers(OVERVIEW))
    lines = ["<tr>" + "".join(_overview_cell(column, row) for column in columns(OVERVIEW)) + "</tr>" for row in rows]
    body = "\n".join(lines)
    return f'<table class="results"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def _model_section(
    row: Mapping[str, Any], figures: Mapping[str, bytes], params: Mapping[str, Any], sections: Sequence[str]
) -> str:
    model = row["model"]
    results = [(column.label or column.header, column.cell(row, SECTION)) for column in columns(SECTION)]
    parts = [
        f'<section id="{anchor(model)}">',
        f"<h2><code>{_e(model)}</code>: {_e(row['description'])}</h2>",
        '<div class="cols">',
        "<div>",
        "<h3>Test results</h3>",
        _key_values(results),
    ]
    if all(key in row for key in BINARY_KEYS):
        parts += [
            f"<h3>Decision threshold {row['threshold']:.4f}</h3>",
            '<table class="confusion"><thead><tr><th></th><th>predicted negative</th>'
            "<th>predicted positive</th></tr></thead><tbody>",
            f'<tr><th>actual negative</th><td class="num">tn {row["tn"]:,}</td>'
            f'<td class="num">fp {row["fp"]:,}</td></tr>',
            f'<tr><th>actual positive</th><td class="num">fn {row["fn"]:,}</td>'
            f'<td class="num">tp {row["tp"]:,}</td></tr>',
            "</tbody></table>",
        ]
    parts += ["</div>", "<div>", "<h3>Parameters</h3>", _params_table(params, sections), "</div>", "</div>"]
    ks = sorted(key for key in row if COEFFICIENT.fullmatch(key))
    activation = [name for name in ACTIVATION_FIGURES if name in figures]
    g = model_family(params.get(model))  # the family, from the model's params section
    if ks or activation:
        parts.append("<h3>Learned activation</h3>")
        if g is not None and g.learned and ks:
            parts.append(f'<p class="formula">{_e(g.formula(row))} after the last epoch</p>')
        if any(not NETWORK_COEFFICIENT.fullmatch(key) for key in ks):  # one set per layer: each layer's k's
            parts.append(_key_values([(key, f"{row[key]:.4f}") for key in ks]))
        parts.append(
            '<div class="figures">'
            + "".join(
                _figure(figures[n], ACTIVATION_FIGURES[n], f"{model}: {ACTIVATION_FIGURES[n]}") for n in activation
            )
            + "</div>"
        )
    others = [n for n in FIGURES if n in figures] + sorted(
        n for n in figures if n not in FIGURES and n not in ACTIVATION_FIGURES
    )
    parts.append("<h3>Figures</h3>")
    if others:
        parts.append(
            '<div class="figures">'
            + "".join(
                _figure(figures[n], FIGURES.get(n, n), f"{model}: {FIGURES.get(n, n)}", n in WIDE) for n in others
            )
            + "</div>"
        )
    else:
        parts.append("<p>No figures.</p>")
    parts.append("</section>")
    return "\n".join(parts)


CSS = """\
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;\
margin:0 auto;max-width:1240px;padding:0 20px 40px}
h1{margin:24px 0 4px}h2{border-top:2px solid #d0d7de;padding-top:18px;margin-top:36px}h3{margin:18px 0 6px}
nav ol{columns:3;padding-left:20px}code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.92em}
table{border-collapse:collapse;margin:6px 0}\
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#f3f5f7}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#116329;font-weight:600}.fail{color:#b42318;font-weight:600}.na{color:#6e7781}
table.params{font-size:13px}table.params th{font-weight:normal;color:#424a53}
.cols{display:flex;flex-wrap:wrap;gap:32px}.formula{font-size:1.1em}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:16px}
figure{margin:0;border:1px solid #d0d7de;padding:6px;background:#fff}figure.wide{grid-column:1/-1}\
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:13px;color:#424a53;text-align:center}footer{margin-top:40px;color:#6e7781;font-size:13px}
"""


def _registry_section(registry: Mapping[str, Mapping[str, Any]]) -> str:
    """Each model's ``@champion`` in the MLflow registry (``paths.REGISTRY``, written by track)."""
    lines = []
    for model, entry in registry.items():
        acc = entry.get("champion_val_acc")
        mine = "yes" if entry.get("checkpoint_is_champion") else "no"
        lines.append(
            f"<tr><td><code>{_e(model)}</code></td><td><code>models:/{_e(entry['registered_model'])}@champion</code></td>"
            f'<td class="num">{_e(entry["champion_version"])}</td>'
            f'<td class="num">{"—" if acc is None else f"{acc:.4f}"}</td><td>{mine}</td></tr>'
        )
    return "\n".join(
        [
            '<section id="registry">',
            "<h2>MLflow registry: champions</h2>",
            "<p>Per model, the registered version with the best validation accuracy (alias <code>champion</code>), as "
            "the track stage found it in the MLflow store, and whether it is the checkpoint reported on this page. "
            "Serve one with <code>mlflow models serve -m models:/mnist-deepcnn@champion</code>.</p>",
            '<table class="results"><thead><tr><th>model</th><th>model URI</th><th>champion version</th>'
            "<th>validation accuracy</th><th>this checkpoint</th></tr></thead>\n<tbody>",
            *lines,
            "</tbody></table>",
            "</section>",
        ]
    )


def render_html(
    rows: Sequence[Mapping[str, Any]],
    figures: Mapping[str, Mapping[str, bytes]],
    params: Mapping[str, Any],
    reads: Mapping[str, Sequence[str]] | None = None,
    comparison: bytes | None = None,
    registry: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The report page. ``rows`` from ``results_rows``; ``figures``: model -> PNG file name ->
    bytes; ``params``: params.yaml as a dict; ``reads``: model -> the params sections its
    results come from (default: the model's own); ``comparison``: the summary chart's PNG;
    ``registry``: model -> its champion in the MLflow registry (no section without one)."""
    reads = reads or {}
    toc = ['<li><a href="#overview">Overview</a></li>']
    toc += [
        f'<li><a href="#{anchor(r["model"])}"><code>{_e(r["model"])}</code>: {_e(r["description"])}</a></li>'
        for r in rows
    ]
    shared = [s for s in SHARED_SECTIONS if s in params]
    if shared:
        toc.append('<li><a href="#shared-params">Shared parameters</a></li>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>mnistflow: results report</title>",
        f"<style>\n{CSS}</style>",
        "</head>",
        "<body>",
        "<header><h1>mnistflow: results report</h1>",
        f"<p>{len(rows)} models trained, evaluated and plotted by the DVC pipeline; every number, figure and "
        "parameter below is read from its outputs (<code>reports/summary.json</code>, <code>metrics/</code>, "
        "<code>plots/</code>, <code>params.yaml</code>). Rebuild this page with "
        "<code>dvc repro report</code>.</p></header>",
        '<nav aria-label="contents"><h2 id="contents">Contents</h2><ol>' + "".join(toc) + "</ol></nav>",
        '<section id="overview">',
        "<h2>Overview: test results</h2>",
        "<p>Test accuracy of this run against the figure of the seed write-up and the bar set for this project. "
        "A bar is on the mean of training seeds 0, 1 and 2 with a floor for each seed (<code>scripts/seeds.py</code>, "
        "README's seeds table); this run is one seed, so it is read against the floor. "
        "F1 and ROC-AUC are macro averages over the ten digits (ROC-AUC one-vs-rest); for a binary model they are "
        "the positive class's, at its decision threshold.</p>",
        _overview_table(rows),
    ]
    if comparison is not None:
        parts.append(
            '<div class="figures">'
            + _figure(comparison, "Test accuracy and F1, every model", "models compared on the test set")
            + "</div>"
        )
    parts.append("</section>")
    if registry:
        parts.append(_registry_section(registry))
    for row in rows:
        model = row["model"]
        parts.append(_model_section(row, figures.get(model, {}), params, reads.get(model, [model])))
    if shared:
        parts += [
            '<section id="shared-params">',
            "<h2>Shared parameters</h2>",
            "<p>The params.yaml sections every model's results depend on.</p>",
            _params_table(params, shared),
            "</section>",
        ]
    parts += [
        "<footer>Written by <code>python -m stages.report</code> (src/mnistflow/report.py).</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --- the stage -------------------------------------------------------------------------------------


def sections_read(models: Sequence[str], dvc_yaml: Path = paths.DVC_YAML) -> dict[str, list[str]]:
    """model -> the params.yaml sections its results come from: its own, then the one its
    entry in dvc.yaml's ``vars: models`` ``reads`` (ann: ``init``)."""
    import yaml

    with open(dvc_yaml, encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    entries: dict[str, Any] = {}
    for entry in document.get("vars", []):
        if isinstance(entry, dict) and "models" in entry:
            entries = entry["models"] or {}
    result = {}
    for model in models:
        reads = (entries.get(model) or {}).get("reads") or []
        reads = [reads] if isinstance(reads, str) else list(reads)
        result[model] = list(dict.fromkeys([model, *reads]))
    return result


def load_figures(models: Sequence[str], root: Path = Path(".")) -> dict[str, dict[str, bytes]]:
    """model -> PNG file name -> bytes, for every PNG in plots/<model>/images."""
    figures = {}
    for model in models:
        folder = Path(root) / paths.images(model)
        if not folder.is_dir():
            raise FileNotFoundError(f"{paths.images(model)} is missing; run `dvc repro plot@{model}`")
        figures[model] = {png.name: png.read_bytes() for png in sorted(folder.glob("*.png"))}
        for name, data in figures[model].items():
            if not data.startswith(PNG_SIGNATURE):
                raise UserError(f"{paths.images(model) / name} is not a PNG file; run `dvc repro -f plot@{model}`")
    return figures


def build_report(models: Sequence[str], root: Path = Path(".")) -> str:
    """The page for ``models`` from the files under ``root`` (the project)."""
    import yaml

    root = Path(root)
    with open(root / paths.PARAMS, encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    comparison = root / paths.SUMMARY_IMAGES / COMPARISON
    return render_html(
        load_results(models, root),
        load_figures(models, root),
        params,
        sections_read(models, root / paths.DVC_YAML),
        comparison.read_bytes() if comparison.is_file() else None,
        load_registry(models, root),
    )


def load_registry(models: Sequence[str], root: Path = Path(".")) -> dict[str, Any]:
    """The track stage's record of each model's champion (``paths.REGISTRY``); empty when it is
    absent (no MLflow store has been found yet)."""
    path = Path(root) / paths.REGISTRY
    registry = read_json(path) if path.is_file() else {}
    return {model: registry[model] for model in models if registry.get(model)}


def write_report(models: Sequence[str], root: Path = Path(".")) -> Path:
    """Write ``reports/index.html`` under ``root`` all at once (nothing on any error); return its path."""
    page = build_report(models, root).encode("utf-8")
    with staged(root) as stage_file:
        stage_file(REPORT).write_bytes(page)
    n_figures = page.count(b'src="data:image/png;base64,')
    print(f"{REPORT}: {len(models)} models, {n_figures} figures inlined, {len(page) / 1e6:.1f} MB")
    return Path(root) / REPORT
