"""The results' columns: one list of (key, header, format), read by every table of results.

Each :class:`Column` says which views show it: README's results table
(``scripts/results_table.py``) and the report page's overview (``readme``, ``overview``), the
page's section of each model (``section``), the summary stage's reports/summary.json
(``summary``) and the train stage's headline metrics in metrics/<model>-train.json (``train``).
A new metric is one entry here (tests/test_report.py checks that every view shows what this
list says); the row it formats is ``report.results_rows``' (``source`` says which file holds
the key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mnistflow.activations import NETWORK_COEFFICIENT
from mnistflow.errors import UserError

README, OVERVIEW, SECTION, SUMMARY, TRAIN = "readme", "overview", "section", "summary", "train"
TABLES = frozenset({README, OVERVIEW, SECTION})
# Where a row's value comes from: each model's test metrics (metrics/<model>.json), its train
# metrics (metrics/<model>-train.json), or the row itself (the summary, dvc.yaml's targets).
TEST, TRAINING, ROW = "test", "train", "row"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    format: Callable[[Row], str]
    views: frozenset[str]
    source: str = ROW
    # The model section's label and cell, where they say more than the tables' header and cell.
    label: str = ""
    detail: Callable[[Row], str] | None = None

    def cell(self, row: Row, view: str) -> str:
        return self.detail(row) if view == SECTION and self.detail is not None else self.format(row)


def bar_text(bar: float) -> str:
    """A bar as a percentage with as many decimals as it was written with: 92.0%, 99.25%."""
    text = f"{100 * bar:.2f}".rstrip("0")
    return f"{text}0%" if text.endswith(".") else f"{text}%"


@dataclass(frozen=True)
class Bar:
    """The test accuracy the project holds a model to, over training seeds 0, 1 and 2
    (scripts/seeds.py): their mean reaches ``mean`` and no seed falls below ``floor``. A single
    run is one seed, so it can only be read against the floor."""

    mean: float
    floor: float

    @classmethod
    def parse(cls, model: str, value: Any) -> Bar | None:
        """The ``bar`` of ``model``'s entry in dvc.yaml's ``vars: models`` (None: no bar)."""
        if value is None:
            return None
        ok = isinstance(value, Mapping) and set(value) == {"mean", "floor"}
        numbers = ok and all(isinstance(value[k], (int, float)) and not isinstance(value[k], bool) for k in value)
        if not (numbers and 0 < value["floor"] <= value["mean"] <= 1):
            raise UserError(
                f"dvc.yaml: vars: models: {model}: bar is {value!r}; write it as {{mean: M, floor: F}}, "
                "test accuracies with 0 < F <= M <= 1 (the mean of seeds 0-2 and the lowest seed allowed)"
            )
        return cls(float(value["mean"]), float(value["floor"]))

    def text(self) -> str:
        if self.mean == self.floor:
            return f"each seed ≥ {bar_text(self.floor)}"
        return f"mean ≥ {bar_text(self.mean)}, each seed ≥ {bar_text(self.floor)}"

    def shortfall(self, accuracies: Mapping[int, float]) -> str:
        """What the seeds' test accuracies (seed -> accuracy) miss: "" when they meet the bar."""
        if not accuracies:
            return "no seeds"
        mean = sum(accuracies.values()) / len(accuracies)
        missed = [f"mean {mean:.3%} < {bar_text(self.mean)}"] if mean < self.mean else []
        missed += [
            f"seed {s} {a:.2%} < {bar_text(self.floor)}" for s, a in sorted(accuracies.items()) if a < self.floor
        ]
        return "; ".join(missed)


def meets_bar(row: Row) -> bool | None:
    """Whether this run's test accuracy reaches the bar's floor (one run cannot show the mean);
    None when the model has no bar."""
    return None if row["bar"] is None else row["accuracy"] >= row["bar"].floor


def architecture_cell(row: Row) -> str:
    """The network's description and, for a learned activation, its coefficients (the means)."""
    ks = [key for key in row if NETWORK_COEFFICIENT.fullmatch(key)]
    extra = f" ({', '.join(f'{key} = {row[key]:.3f}' for key in ks)})" if ks else ""
    return f"{row['description']}{extra}"


def bar_cell(row: Row) -> str:
    return "—" if row["bar"] is None else row["bar"].text()


def bar_detail(row: Row) -> str:
    met = meets_bar(row)
    if met is None:
        return "—"
    return f"seeds 0-2: {bar_cell(row)} (this run: {'at or above' if met else 'below'} the floor)"


def verdict_cell(row: Row) -> str:
    met = meets_bar(row)
    return "—" if met is None else "yes" if met else "no"


def perturbed_cell(row: Row) -> str:
    """``98.95% (-0.42 pt)``: the accuracy on the perturbed test split and its change from the
    clean one in points; — for results made before the perturbed split existed."""
    if "perturbed_accuracy" not in row:
        return "—"
    return f"{row['perturbed_accuracy']:.2%} ({-row['perturbed_drop']:+.2f} pt)"


def _number(key: str, spec: str) -> Callable[[Row], str]:
    return lambda row: format(row[key], spec)


def _optional(key: str, spec: str) -> Callable[[Row], str]:
    return lambda row: "—" if row[key] is None else format(row[key], spec)


_ALL_TABLES = TABLES
_SUMMARY_TABLES = TABLES | {SUMMARY}
COLUMNS: tuple[Column, ...] = (
    Column("model", "model", lambda row: str(row["model"]), frozenset({README, OVERVIEW})),
    Column("architecture", "architecture", architecture_cell, frozenset({README, OVERVIEW})),
    Column("accuracy", "test accuracy", _number("accuracy", ".2%"), _SUMMARY_TABLES, TEST),
    Column("seed_figure", "seed figure", _optional("seed_figure", ".2%"), _ALL_TABLES),
    Column("bar", "bar (seeds 0-2)", bar_cell, _ALL_TABLES, label="bar", detail=bar_detail),
    Column("meets_bar", "≥ floor", verdict_cell, frozenset({OVERVIEW})),
    Column("perturbed_accuracy", "perturbed (drop)", perturbed_cell, _ALL_TABLES, TEST, label="perturbed accuracy"),
    Column("f1", "F1", _number("f1", ".4f"), _SUMMARY_TABLES, TEST),
    Column("precision", "precision", _number("precision", ".4f"), frozenset({SECTION, SUMMARY}), TEST),
    Column("recall", "recall", _number("recall", ".4f"), frozenset({SECTION, SUMMARY}), TEST),
    Column("roc_auc", "ROC-AUC", _number("roc_auc", ".5f"), _SUMMARY_TABLES, TEST),
    Column("log_loss", "log-loss", _number("log_loss", ".4f"), _SUMMARY_TABLES, TEST),
    Column("n", "test images", _number("n", ","), frozenset({SECTION}), TEST),
    Column("epochs", "epochs", lambda row: str(row["epochs"]), _ALL_TABLES, TRAINING),
    # The train stage's headline: the last epoch's loss and accuracy on each split.
    Column("train_loss", "train loss", _number("train_loss", ".4f"), frozenset({TRAIN})),
    Column("train_acc", "train accuracy", _number("train_acc", ".2%"), frozenset({TRAIN})),
    Column("val_loss", "validation loss", _number("val_loss", ".4f"), frozenset({TRAIN})),
    Column("val_acc", "validation accuracy", _number("val_acc", ".2%"), frozenset({TRAIN})),
    Column("test_loss", "test loss", _number("test_loss", ".4f"), frozenset({TRAIN})),
    Column("test_acc", "test accuracy", _number("test_acc", ".2%"), frozenset({TRAIN})),
)


def columns(view: str) -> list[Column]:
    """The columns ``view`` shows, in order."""
    return [column for column in COLUMNS if view in column.views]


def sourced(source: str) -> list[Column]:
    """The columns whose values ``source`` (TEST, TRAINING) holds, in order."""
    return [column for column in COLUMNS if column.source == source]


def keys(view: str) -> tuple[str, ...]:
    """The row keys ``view`` shows, in order."""
    return tuple(column.key for column in columns(view))


def headers(view: str) -> list[str]:
    return [column.header for column in columns(view)]
