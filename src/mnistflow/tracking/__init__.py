"""MLflow: the only package that imports it, one module per job.

- ``store``: where the tracking store is, whether it works, and the one line when it does not;
- ``runs``: a training run's lifecycle (opened by train, reopened by track) and what it logs;
- ``models``: the trained network as a servable MLflow model, and the model registry.

The names callers use are re-exported here (``tracking.training_run``, ``tracking.check_store``).
"""

from mnistflow.tracking.models import (
    CHAMPION,
    REGISTERED_PREFIX,
    VAL_ACC_TAG,
    champion,
    champions,
    log_model,
    promote,
    registered_name,
    registry_entry,
    served_module,
)
from mnistflow.tracking.runs import (
    CHECKPOINT_TAG,
    DATASET_CONTEXTS,
    Run,
    attach,
    epoch_metrics,
    file_sha256,
    git_commit,
    metric_name,
    run_tags,
    training_run,
)
from mnistflow.tracking.store import (
    _READY,
    CHECK_TIMEOUT_S,
    EXPERIMENT,
    EXPERIMENT_KIND,
    bounded_requests,
    check_sqlite_file,
    check_store,
    describe_failure,
    experiment_name,
    probe_server,
    redact,
    scheme,
    sqlite_file,
    store_errors,
    tracking_uri,
)

__all__ = [
    "CHAMPION",
    "CHECKPOINT_TAG",
    "CHECK_TIMEOUT_S",
    "DATASET_CONTEXTS",
    "EXPERIMENT",
    "EXPERIMENT_KIND",
    "REGISTERED_PREFIX",
    "Run",
    "VAL_ACC_TAG",
    "_READY",
    "attach",
    "champion",
    "champions",
    "promote",
    "registry_entry",
    "bounded_requests",
    "check_sqlite_file",
    "check_store",
    "describe_failure",
    "epoch_metrics",
    "experiment_name",
    "file_sha256",
    "git_commit",
    "log_model",
    "metric_name",
    "probe_server",
    "redact",
    "registered_name",
    "run_tags",
    "scheme",
    "served_module",
    "sqlite_file",
    "store_errors",
    "training_run",
    "tracking_uri",
]
