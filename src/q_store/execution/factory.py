"""The execution engine a :class:`~q_store.ml.config.TrainingConfig` describes: which pipeline
stages are on, built once per target. The trainer calls :func:`engine_from_config`; each
execution feature adds its stage here, so a feature switched on in the config is on the path of
every training step."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from q_store.backends.base import QuantumBackend
from q_store.backends.cost import CostBudget
from q_store.compile.optimizer import AdaptiveCircuitOptimizer
from q_store.errors import ConfigWarning
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.engine import ExecutionEngine
from q_store.execution.pipeline import CircuitPipeline, FixedBatches, SingleBackend
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["engine_from_config", "optimizer_from_config", "pipeline_from_config"]

_LOCAL_OPTIMIZATION = (
    "TrainingConfig.enable_circuit_optimization=True has no effect on the exact local "
    "simulator: it rewrites bound circuits sent to a backend (quantum_sdk 'ionq', 'qiskit', "
    "'cirq', a noisy or remote model backend), while the local simulator runs circuit "
    "templates and already fuses one-qubit gates itself")


def optimizer_from_config(config: Any, backend: Any = None
                          ) -> AdaptiveCircuitOptimizer | None:
    """The circuit-optimisation stage (``enable_circuit_optimization``), else None; tuned
    for a ``backend`` that compiles to IonQ native gates (its ``compiler``)."""
    if not config.enable_circuit_optimization:
        return None
    native = getattr(backend, "compiler", None) is not None
    return AdaptiveCircuitOptimizer.from_config(config, virtual_z=native)


def pipeline_from_config(config: Any, backend: QuantumBackend, *, budget: CostBudget,
                         seed: int, tracker: Any = None,
                         optimizer: AdaptiveCircuitOptimizer | None = None) -> CircuitPipeline:
    """Result cache, deduplication, optimisation, batching and submission for ``backend``."""
    submitter = SingleBackend(backend, timeout=config.batch_timeout,
                              retries=2 if config.retry_failed_circuits else 0,
                              tracker=tracker)
    one_job = config.use_batch_api and backend.capabilities.batch_jobs
    batching = FixedBatches(one_job=one_job, max_size=None if one_job else 1)
    return CircuitPipeline(submitter, shots=config.shots, budget=budget, batching=batching,
                           seed=seed, tracker=tracker,
                           optimizer=optimizer or optimizer_from_config(config, backend))


def engine_from_config(config: Any, *, simulator: StatevectorSimulator,
                       backend: QuantumBackend | None, rng: np.random.Generator,
                       budget: CostBudget, tracker: Any = None) -> ExecutionEngine:
    """The engine for ``backend`` (None: the exact local simulator, sampling ``config.shots``
    when set)."""
    executor = None
    optimizer = optimizer_from_config(config, backend)
    if optimizer is not None and backend is None:
        warnings.warn(_LOCAL_OPTIMIZATION, ConfigWarning, stacklevel=2)
    if backend is not None:
        seed = int(rng.integers(2**31))
        pipeline = pipeline_from_config(config, backend, budget=budget, seed=seed,
                                        tracker=tracker, optimizer=optimizer)
        executor = BackendExecutor(backend, config.shots, budget=budget, pipeline=pipeline,
                                   timeout=config.batch_timeout,
                                   retries=2 if config.retry_failed_circuits else 0,
                                   prune=None if optimizer is None
                                   else optimizer.restrict_to_measured)
    return ExecutionEngine(simulator, executor=executor, shots=config.shots, rng=rng,
                           tracker=tracker)
