"""Every file the pipeline reads or writes, relative to the project root.

dvc.yaml names the same paths (DVC cannot import Python); ``tests/test_dvc_yaml.py`` checks
that the two agree, so a path is changed here and in dvc.yaml together or not at all.
"""

from __future__ import annotations

import os
from pathlib import Path

PARAMS = Path("params.yaml")
DVC_YAML = Path("dvc.yaml")  # the pipeline; its `vars: models` is the list of models

RAW_DIR = Path("data/raw")  # the four MNIST .gz files, as downloaded
PROCESSED_DIR = Path("data/processed")  # train/val/test arrays written by preprocess
MODELS_DIR = Path("models")  # checkpoints (state_dict + the config that rebuilds the model)
METRICS_DIR = Path("metrics")  # JSON metrics committed to git (dvc metrics show/diff)
PLOTS_DIR = Path("plots")  # plot data committed to git, and the PNGs (dvc plots show/diff)

SPLITS = ("train", "val", "test")
# The test images moved, turned, resized and re-inked (mnistflow.data.perturb), in split_file's
# format: scored after training, never trained on.
PERTURBED = "test_perturbed"


def split_file(split: str) -> Path:
    """``data/processed/<split>.npz`` holding ``x`` (N, 28, 28) float32 and ``y`` (N,) int64."""
    return PROCESSED_DIR / f"{split}.npz"


PREPARE_INFO = PROCESSED_DIR / "info.json"  # sizes, normalisation statistics, source indices


def checkpoint(model: str) -> Path:
    return MODELS_DIR / f"{model}.pt"


def test_logits(model: str) -> Path:
    """The trained network's logits on the test split, as its training measured them last
    (float32, N x outputs; ``mnistflow.outputs``)."""
    return MODELS_DIR / f"{model}-test.npy"


def perturbed_logits(model: str) -> Path:
    """The trained network's logits on the perturbed test split (``PERTURBED``), computed by the
    training stage after training, as :func:`test_logits` (same rows, same task)."""
    return MODELS_DIR / f"{model}-perturbed.npy"


def test_info(model: str) -> Path:
    """What :func:`test_logits` mean: the task (label rule, threshold) and the network's description."""
    return MODELS_DIR / f"{model}-test.json"


def train_metrics(model: str) -> Path:
    """Final k0/k1 and last-epoch losses and accuracies, written by the training stage."""
    return METRICS_DIR / f"{model}-train.json"


def eval_metrics(model: str) -> Path:
    """Test-set metrics computed by the evaluate stage."""
    return METRICS_DIR / f"{model}.json"


def history(model: str) -> Path:
    """One row per epoch (epoch 0 = before training): k0, k1, losses and accuracies."""
    return PLOTS_DIR / model / "history.csv"


def steps(model: str) -> Path:
    """Mini-batch training loss every ``log_every`` steps: the fine-grained loss curve."""
    return PLOTS_DIR / model / "steps.csv"


def confusion(model: str) -> Path:
    """``actual,predicted`` rows, one per test image, for DVC's confusion template (CSV: a
    tenth of the git space the same rows take as indented JSON)."""
    return PLOTS_DIR / model / "confusion.csv"


def images(model: str) -> Path:
    """Folder of the matplotlib PNGs drawn by the plot stage."""
    return PLOTS_DIR / model / "images"


def pipeline_entries(dvc_yaml: Path = DVC_YAML) -> dict[str, dict]:
    """The models of the pipeline, in order, each with its entry of ``vars: models`` in dvc.yaml,
    the one place the list is written (the stages' ``foreach`` iterates over it): ``reads``, the
    other params section its training reads, and optionally ``bar`` (the test accuracy this
    project holds it to) and ``seed_figure`` (what the seed's write-up reported)."""
    import yaml

    with open(dvc_yaml, encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    for entry in document.get("vars", []):
        if isinstance(entry, dict) and "models" in entry:
            return {name: dict(item or {}) for name, item in entry["models"].items()}
    raise KeyError(f"{dvc_yaml} has no `vars: models` list")


def pipeline_models(dvc_yaml: Path = DVC_YAML) -> list[str]:
    """The names of the pipeline's models, in order (see :func:`pipeline_entries`)."""
    return list(pipeline_entries(dvc_yaml))


def project_root(cwd: Path | None = None) -> Path:
    """The user's project folder, also when a stage runs in a ``dvc exp run --temp/--queue`` copy.

    DVC runs temporary experiments in ``<project>/.dvc/tmp/exps/<run>/``. Anything that must
    outlive that copy (the MLflow store) or that the user named relative to the project
    (``MNIST_MIRROR=../shared/mnist``) is resolved against the project, not the copy.
    """
    # DVC sets DVC_ROOT for every stage it runs; for queued and --temp experiments it
    # points at the user's project rather than the temporary copy.
    if cwd is None and os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return cwd


def per_class(model: str) -> Path:
    """Precision, recall, F1 and support per class (per digit; negative/positive for square)."""
    return PLOTS_DIR / model / "per_class.csv"


def roc(model: str) -> Path:
    """ROC curve points ``fpr, tpr, threshold`` (micro-averaged one-vs-rest for ten classes)."""
    return PLOTS_DIR / model / "roc.csv"


REPORTS_DIR = Path("reports")  # what the summary stage makes of every model's results
SUMMARY = REPORTS_DIR / "summary.json"  # every model's headline test metrics, side by side
SUMMARY_TABLE = PLOTS_DIR / "summary" / "models.csv"  # the same as rows, for `dvc plots`
SUMMARY_IMAGES = PLOTS_DIR / "summary" / "images"  # the comparison chart
# Each model's champion in the MLflow registry, as the track stage last found it (read by the report).
REGISTRY = REPORTS_DIR / "registry.json"
