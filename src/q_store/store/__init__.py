"""The run store: every training run's configuration (secrets removed), status, per-step
metrics, telemetry events and checkpoints (paths and SHA-256 hashes), in a SQLite database in
a project directory (``./qstore-runs`` by default), written while training runs and readable
at the same time (``q-store runs``, the dashboard). Optional MLflow logging rides along."""

from q_store.store.db import DEFAULT_ROOT, STATUSES, CheckpointInfo, RunInfo, RunStore
from q_store.store.recorder import RunRecorder, file_sha256
from q_store.store.redact import scrub
from q_store.store.schema import SCHEMA_VERSION

__all__ = [
    "DEFAULT_ROOT",
    "SCHEMA_VERSION",
    "STATUSES",
    "CheckpointInfo",
    "RunInfo",
    "RunRecorder",
    "RunStore",
    "file_sha256",
    "scrub",
]
