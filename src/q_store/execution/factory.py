"""The execution engine a :class:`~q_store.ml.config.TrainingConfig` describes: which pipeline
stages are on, built once per target. The trainer calls :func:`engine_from_config`; each
execution feature adds its stage here, so a feature switched on in the config is on the path of
every training step."""

from __future__ import annotations

from typing import Any

import numpy as np

from q_store.backends.base import QuantumBackend
from q_store.backends.cost import CostBudget
from q_store.errors import ConfigError
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.engine import ExecutionEngine
from q_store.execution.orchestrator import MultiBackendOrchestrator
from q_store.execution.pipeline import CircuitPipeline, FixedBatches, SingleBackend
from q_store.execution.placement import labels
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["engine_from_config", "pipeline_from_config", "submitter_from_config"]


def submitter_from_config(config: Any, backend: QuantumBackend | None, *, budget: CostBudget,
                          tracker: Any = None) -> Any:
    """``backend`` alone, or with ``enable_multi_backend`` the orchestrator over the
    ``backend_configs`` backends (``backend`` is then not used)."""
    if getattr(config, "enable_multi_backend", False):
        from q_store.backends.configs import backends_from_config

        specs = backends_from_config(config)
        backends = [s.backend for s in specs]
        names = [s.name or d for s, d in zip(specs, labels(backends), strict=True)]
        return MultiBackendOrchestrator(
            backends, shots=config.shots, names=names, weights=[s.weight for s in specs],
            max_circuits_per_job=[s.max_circuits_per_job for s in specs], budget=budget,
            job_deadline=config.batch_timeout,
            allow_mixed_exactness=config.allow_mixed_exactness, tracker=tracker)
    if backend is None:
        raise ConfigError("a backend pipeline needs a backend (or enable_multi_backend=True)")
    return SingleBackend(backend, timeout=config.batch_timeout,
                         retries=2 if config.retry_failed_circuits else 0, tracker=tracker)


def pipeline_from_config(config: Any, backend: QuantumBackend | None, *, budget: CostBudget,
                         seed: int, tracker: Any = None) -> CircuitPipeline:
    """Result cache, deduplication, optimisation, batching and submission for ``backend``
    (or the configured backends)."""
    submitter = submitter_from_config(config, backend, budget=budget, tracker=tracker)
    caps = (submitter.capabilities if isinstance(submitter, MultiBackendOrchestrator)
            else submitter.backend.capabilities)
    one_job = config.use_batch_api and caps.batch_jobs
    batching = FixedBatches(one_job=one_job, max_size=None if one_job else 1)
    return CircuitPipeline(submitter, shots=config.shots, budget=budget, batching=batching,
                           seed=seed, tracker=tracker)


def engine_from_config(config: Any, *, simulator: StatevectorSimulator,
                       backend: QuantumBackend | None, rng: np.random.Generator,
                       budget: CostBudget, tracker: Any = None) -> ExecutionEngine:
    """The engine for ``backend`` (None: the exact local simulator, sampling ``config.shots``
    when set), or with ``enable_multi_backend`` for the configured backends."""
    executor = None
    if backend is not None or getattr(config, "enable_multi_backend", False):
        seed = int(rng.integers(2**31))
        pipeline = pipeline_from_config(config, backend, budget=budget, seed=seed,
                                        tracker=tracker)
        target = (pipeline.submitter if isinstance(pipeline.submitter, MultiBackendOrchestrator)
                  else backend)
        executor = BackendExecutor(target, config.shots, budget=budget, pipeline=pipeline,
                                   timeout=config.batch_timeout,
                                   retries=2 if config.retry_failed_circuits else 0)
    return ExecutionEngine(simulator, executor=executor, shots=config.shots, rng=rng,
                           tracker=tracker)
