"""The execution engine a :class:`~q_store.ml.config.TrainingConfig` describes: which pipeline
stages are on, built once per target. The trainer calls :func:`engine_from_config`; each
execution feature adds its stage here, so a feature switched on in the config is on the path of
every training step."""

from __future__ import annotations

from typing import Any

import numpy as np

from q_store.backends.base import QuantumBackend
from q_store.backends.cost import CostBudget
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.engine import ExecutionEngine
from q_store.execution.pipeline import CircuitPipeline, FixedBatches, SingleBackend
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["engine_from_config", "pipeline_from_config"]


def pipeline_from_config(config: Any, backend: QuantumBackend, *, budget: CostBudget,
                         seed: int, tracker: Any = None) -> CircuitPipeline:
    """Result cache, deduplication, optimisation, batching and submission for ``backend``."""
    submitter = SingleBackend(backend, timeout=config.batch_timeout,
                              retries=2 if config.retry_failed_circuits else 0,
                              tracker=tracker)
    one_job = config.use_batch_api and backend.capabilities.batch_jobs
    batching = FixedBatches(one_job=one_job, max_size=None if one_job else 1)
    return CircuitPipeline(submitter, shots=config.shots, budget=budget, batching=batching,
                           seed=seed, tracker=tracker)


def engine_from_config(config: Any, *, simulator: StatevectorSimulator,
                       backend: QuantumBackend | None, rng: np.random.Generator,
                       budget: CostBudget, tracker: Any = None) -> ExecutionEngine:
    """The engine for ``backend`` (None: the exact local simulator, sampling ``config.shots``
    when set)."""
    if getattr(config, "executor", "local") == "dask":  # scale-out: rows or jobs as Dask tasks
        from q_store.execution.dask_engine import dask_engine_from_config

        return dask_engine_from_config(config, simulator=simulator, backend=backend, rng=rng,
                                       budget=budget, tracker=tracker)
    executor = None
    if backend is not None:
        seed = int(rng.integers(2**31))
        pipeline = pipeline_from_config(config, backend, budget=budget, seed=seed,
                                        tracker=tracker)
        executor = BackendExecutor(backend, config.shots, budget=budget, pipeline=pipeline,
                                   timeout=config.batch_timeout,
                                   retries=2 if config.retry_failed_circuits else 0)
    return ExecutionEngine(simulator, executor=executor, shots=config.shots, rng=rng,
                           tracker=tracker)
