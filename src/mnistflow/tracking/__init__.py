"""MLflow: the only package that imports it, one module per job.

- ``store``: where the tracking store is, whether it works, and the one line when it does not;
- ``runs``: a training run's lifecycle (opened by train, reopened by track) and what it logs;
- ``models``: the trained network as a servable MLflow model, the model registry, and loading
  a logged model back.

The names callers use are re-exported here (``tracking.training_run``, ``tracking.check_store``).
"""

from mnistflow.tracking.models import (
    CHAMPION,
    CHECKPOINT_TAG,
    REGISTERED_PREFIX,
    VAL_ACC_TAG,
    best_champion,
    champion,
    champions,
    load_model,
    log_model,
    promote,
    registered_name,
    registry_client,
    registry_entry,
    served_module,
)
from mnistflow.tracking.runs import (
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
    CHECK_TIMEOUT_S,
    EXPERIMENT,
    EXPERIMENT_KIND,
    bounded_requests,
    check_sqlite_file,
    check_store,
    describe_failure,
    experiment_name,
    forget_checked_stores,
    mlflow_at,
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
    "attach",
    "best_champion",
    "champion",
    "champions",
    "promote",
    "registry_client",
    "registry_entry",
    "bounded_requests",
    "check_sqlite_file",
    "check_store",
    "describe_failure",
    "epoch_metrics",
    "experiment_name",
    "file_sha256",
    "forget_checked_stores",
    "git_commit",
    "load_model",
    "log_model",
    "metric_name",
    "mlflow_at",
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
