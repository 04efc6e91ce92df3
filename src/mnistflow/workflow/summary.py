"""Stage summary: every model's headline test metrics side by side, and the comparison chart."""

from __future__ import annotations

from typing import Any

from mnistflow import outputs, paths
from mnistflow.columns import SUMMARY, keys
from mnistflow.files import read_json, staged, write_csv, write_json
from mnistflow.plotting import render_summary


def summary_rows(models: list[str]) -> list[dict[str, Any]]:
    """One row per model: its name, a description of its network and its test metrics."""
    rows = []
    for name in models:
        metrics = read_json(paths.eval_metrics(name))
        headline = {key: metrics[key] for key in keys(SUMMARY)}  # the headline test metrics (mnistflow.columns)
        rows.append({"model": name, "description": outputs.load(name).description, **headline})
    return rows


def summarize(models: list[str]) -> list[dict[str, Any]]:
    """Every model's headline test metrics in one JSON, one CSV and one comparison chart."""
    rows = summary_rows(models)
    with staged() as stage_file:
        write_json(
            stage_file(paths.SUMMARY), {row["model"]: {k: v for k, v in row.items() if k != "model"} for row in rows}
        )
        write_csv(stage_file(paths.SUMMARY_TABLE), rows)
        render_summary(rows, stage_file(paths.SUMMARY_IMAGES))
    for row in rows:
        print(f"{row['model']:8s} accuracy {row['accuracy']:.2%}  F1 {row['f1']:.4f}  ({row['description']})")
    return rows
