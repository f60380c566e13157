"""Optional MLflow logging (``tracking = "mlflow"``): a run's parameters, metrics and final
status also go to an MLflow tracking server, for teams that already keep their runs there.

It is one more sink of the :class:`~q_store.store.recorder.RunRecorder`: the same batches the
run store gets, on the recorder's thread, through MLflow's client API (``MlflowClient``:
``create_run``, ``log_batch``, ``set_terminated``). The run store stays the record of truth;
MLflow needs the ``mlflow`` extra (``pip install 'q-store[mlflow]'``, MLflow's client).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from q_store.errors import ConfigError
from q_store.store.redact import scrub

__all__ = ["MLflowSink", "flatten_params", "require_mlflow"]

_STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
           "running": "RUNNING"}
_MAX_PARAM = 500  # MLflow's smallest limit on a parameter value
_STEP_METRICS = ("loss", "accuracy", "circuits", "shots", "learning_rate", "seconds")
_EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"training.learning_rate": "0.05", ...}`` from a nested config (secrets removed)."""
    out: dict[str, str] = {}
    for key, value in scrub(dict(config)).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[name] = text[:_MAX_PARAM]
    return out


def require_mlflow() -> None:
    """A ConfigError saying how to install MLflow's client, where it is missing."""
    _client_api()


def _client_api() -> tuple[Any, Any, Any]:
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("tracking='mlflow' needs MLflow's client: pip install "
                          "'q-store[mlflow]' (or mlflow), or use tracking='none'") from None
    return MlflowClient, Metric, Param


class MLflowSink:
    """Logs one q-store run to MLflow (``client``: an ``MlflowClient``-compatible object, by
    default one for ``tracking_uri``; ``resume_run_id`` continues an earlier MLflow run)."""

    def __init__(self, run_name: str, params: Mapping[str, Any], *,
                 tracking_uri: str | None = None, experiment: str = "q-store",
                 tags: Mapping[str, str] | None = None, client: Any = None,
                 resume_run_id: str | None = None) -> None:
        client_cls, self._metric, param = _client_api()
        self.client = client if client is not None else client_cls(tracking_uri=tracking_uri)
        if resume_run_id is not None:
            self.run_id = resume_run_id
            self.client.update_run(resume_run_id, status="RUNNING")
            return
        found = self.client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found is not None else \
            self.client.create_experiment(experiment)
        run = self.client.create_run(exp_id, run_name=run_name, tags=dict(tags or {}))
        self.run_id = run.info.run_id
        items = [param(k, v) for k, v in flatten_params(params).items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i : i + 100])
        self._usd = 0.0

    def write(self, events: Sequence[dict[str, Any]]) -> None:
        metrics = []
        for e in events:
            kind, ms = e.get("event"), int(1000 * float(e.get("t", time.time())))
            if kind == "step" and isinstance(e.get("step"), int):
                metrics += self._metrics(e, _STEP_METRICS, "", ms, e["step"])
            elif kind == "epoch" and isinstance(e.get("epoch"), int):
                metrics += self._metrics(e, _EPOCH_METRICS, "epoch_", ms, e["epoch"])
            elif kind == "circuits" and _finite(e.get("usd")):
                self._usd = getattr(self, "_usd", 0.0) + float(e["usd"])
                metrics.append(self._metric("cost_usd", self._usd, ms, 0))
            elif kind == "evaluate" and _finite(e.get("accuracy")):
                metrics.append(self._metric(f"{e.get('split', 'eval')}_accuracy",
                                            float(e["accuracy"]), ms, 0))
        for i in range(0, len(metrics), 1000):  # MLflow's limit per batch
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def _metrics(self, e: dict[str, Any], names: tuple[str, ...], prefix: str, ms: int,
                 step: int) -> list[Any]:
        return [self._metric(f"{prefix}{n}", float(e[n]), ms, step) for n in names
                if _finite(e.get(n))]

    def close(self, status: str, summary: dict[str, Any]) -> None:
        finals = [self._metric(f"final_{k}", float(v), int(1000 * time.time()), 0)
                  for k, v in summary.items() if _finite(v)]
        if finals:
            self.client.log_batch(self.run_id, metrics=finals)
        self.client.set_terminated(self.run_id, _STATUS.get(status, "FINISHED"))


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
