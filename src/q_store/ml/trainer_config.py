"""What a trainer needs to notice and apply configuration changes: a comparable snapshot of
the config (secrets only as digests) and the options whose change rebuilds the engine."""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

from q_store.ml.config import SECRET_FIELDS, TrainingConfig

__all__ = ["BACKEND_FIELDS", "config_snapshot", "scheduled_learning_rate"]

# options whose change rebuilds the backend, its executor and the engine
BACKEND_FIELDS = frozenset({
    "quantum_sdk", "quantum_target", "quantum_api_key", "shots", "ionq_noise_model",
    "ionq_base_url", "batch_timeout", "use_batch_api", "use_native_gates",
    "connection_pool_size", "max_queue_wait_time", "retry_failed_circuits",
    "checkpoint_dir",  # IonQ's job ledger lives in the checkpoint directory
    "adaptive_shot_allocation", "min_shots", "max_shots", "base_shots",
    "enable_multi_backend", "backend_configs", "allow_mixed_exactness",
    "executor", "dask_scheduler", "dask_workers", "dask_chunk_rows", "dask_connect_timeout",
    "dask_retries", "use_concurrent_submission", "enable_smart_caching",
    "adaptive_batch_sizing", "enable_circuit_optimization", "gate_merging",
    "identity_removal", "entanglement_pruning", "pruning_tolerance"})


def config_snapshot(config: TrainingConfig) -> dict[str, Any]:
    """The config's values, to notice changes; secrets kept only as digests."""
    snap = copy.deepcopy(config.to_dict(include_secrets=True))
    for name in SECRET_FIELDS:
        if snap[name] is not None:
            snap[name] = hashlib.sha256(str(snap[name]).encode()).hexdigest()
    if snap.get("backend_configs") is not None:
        snap["backend_configs"] = hashlib.sha256(
            repr(snap["backend_configs"]).encode()).hexdigest()
    return snap


def scheduled_learning_rate(config: TrainingConfig, count: int, planned_steps: int) -> float:
    """Decay from ``learning_rate`` to ``final_fraction * learning_rate`` over the planned
    steps (``config.epochs`` times the batches per epoch)."""
    frac = min(1.0, count / max(1, planned_steps))
    f, lr = config.learning_rate_final_fraction, config.learning_rate
    if config.learning_rate_schedule == "exponential":
        return lr * (f**frac if f > 0 else 1.0 - frac)
    return lr * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * frac)))
