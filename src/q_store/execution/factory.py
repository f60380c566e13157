"""The execution engine a :class:`~q_store.ml.config.TrainingConfig` describes: which pipeline
stages are on, built once per target. The trainer calls :func:`engine_from_config`; each
execution feature adds its stage here, so a feature switched on in the config is on the path of
every training step."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from q_store.backends.base import QuantumBackend
from q_store.backends.cost import CostBudget
from q_store.compile.optimizer import AdaptiveCircuitOptimizer
from q_store.errors import ConfigError, ConfigWarning
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.batch_manager import CircuitBatchManagerV34
from q_store.execution.circuit_cache import QuantumCircuitCache
from q_store.execution.engine import ExecutionEngine
from q_store.execution.orchestrator import MultiBackendOrchestrator
from q_store.execution.pipeline import BatchPolicy, CircuitPipeline, FixedBatches, SingleBackend
from q_store.execution.placement import labels
from q_store.execution.queue_manager import AdaptiveQueueManager
from q_store.execution.shots import AdaptiveShotAllocator
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["cache_from_config", "engine_from_config", "optimizer_from_config",
           "pipeline_from_config", "shot_allocator_from_config", "submitter_from_config"]

log = logging.getLogger("q_store.execution")

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


def cache_from_config(config: Any, simulator: StatevectorSimulator
                      ) -> QuantumCircuitCache | None:
    """``enable_smart_caching``: results (``5 * cache_size`` of them, the spec's ratio of
    results to templates) and optimised circuits on top of the simulator's template cache.
    Training caches exact results only, which cannot go stale, so they do not expire."""
    if not config.enable_smart_caching:
        return None
    return QuantumCircuitCache(config.cache_size, 5 * config.cache_size, None,
                               templates=simulator.cache)


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
    # use_batch_api=False without use_concurrent_submission: one job at a time (v3.3's way)
    sequential = not config.use_batch_api and not config.use_concurrent_submission
    return SingleBackend(backend, timeout=config.batch_timeout,
                         retries=2 if config.retry_failed_circuits else 0, tracker=tracker,
                         sequential=sequential)


def pipeline_from_config(config: Any, backend: QuantumBackend | None, *, budget: CostBudget,
                         seed: int, tracker: Any = None, cache: Any = None,
                         optimizer: AdaptiveCircuitOptimizer | None = None) -> CircuitPipeline:
    """Result cache, deduplication, optimisation, batching and submission for ``backend``
    (or the configured backends)."""
    submitter = submitter_from_config(config, backend, budget=budget, tracker=tracker)
    caps = (submitter.capabilities if isinstance(submitter, MultiBackendOrchestrator)
            else submitter.backend.capabilities)
    one_job = (config.use_batch_api and not config.use_concurrent_submission
               and caps.batch_jobs)
    batching: BatchPolicy = FixedBatches(one_job=one_job, max_size=None if one_job else 1)
    if config.adaptive_batch_sizing and one_job:
        batching = AdaptiveQueueManager()
    return CircuitPipeline(submitter, shots=config.shots, budget=budget, batching=batching,
                           seed=seed, result_cache=cache,
                           optimized_cache=None if cache is None else cache.optimized,
                           tracker=tracker,
                           optimizer=optimizer or optimizer_from_config(config, backend))


def engine_from_config(config: Any, *, simulator: StatevectorSimulator,
                       backend: QuantumBackend | None, rng: np.random.Generator,
                       budget: CostBudget, tracker: Any = None) -> ExecutionEngine:
    """The engine for ``backend`` (None: the exact local simulator, sampling ``config.shots``
    when set), or with ``enable_multi_backend`` for the configured backends. A backend's
    pipeline is a :class:`CircuitBatchManagerV34`'s (``engine.batch_manager``);
    ``engine.circuit_cache`` is the smart cache when on."""
    if getattr(config, "executor", "local") == "dask":  # scale-out: rows or jobs as Dask tasks
        if getattr(config, "enable_multi_backend", False):
            raise ConfigError("enable_multi_backend=True runs circuits through the "
                              "multi-backend orchestrator on this process; it does not combine "
                              "with executor='dask' (choose one)")
        from q_store.execution.dask_engine import dask_engine_from_config

        return dask_engine_from_config(config, simulator=simulator, backend=backend, rng=rng,
                                       budget=budget, tracker=tracker)
    cache = cache_from_config(config, simulator)
    executor = manager = None
    multi = getattr(config, "enable_multi_backend", False)
    optimizer = optimizer_from_config(config, backend)
    if optimizer is not None and backend is None and not multi:
        if "enable_circuit_optimization" in getattr(config, "explicitly_set", ()):
            warnings.warn(_LOCAL_OPTIMIZATION, ConfigWarning, stacklevel=2)
        else:  # switched on by enable_all_v35_features: it applies where circuits are sent
            log.info("enable_all_v35_features: circuit optimisation applies to circuits sent "
                     "to backends, not to the local simulator")
    if backend is not None or multi:
        seed = int(rng.integers(2**31))
        pipeline = pipeline_from_config(config, backend, budget=budget, seed=seed,
                                        tracker=tracker, cache=cache, optimizer=optimizer)
        manager = CircuitBatchManagerV34(pipeline=pipeline, templates=simulator.cache)
        target = pipeline.submitter if multi else backend
        executor = BackendExecutor(target, config.shots, budget=budget,
                                   pipeline=manager.pipeline, timeout=config.batch_timeout,
                                   retries=2 if config.retry_failed_circuits else 0,
                                   templates=simulator.cache,
                                   prune=None if optimizer is None
                                   else optimizer.restrict_to_measured)
    return ExecutionEngine(simulator, executor=executor, shots=config.shots, rng=rng,
                           tracker=tracker, result_cache=cache if executor is None else None,
                           batch_manager=manager, shot_allocator=shot_allocator_from_config(
                               config, rng=rng, tracker=tracker))


def shot_allocator_from_config(config: Any, *, rng: np.random.Generator,
                               tracker: Any = None) -> AdaptiveShotAllocator | None:
    """The shot allocator ``adaptive_shot_allocation`` asks for, when the run samples
    (``shots`` set; with exact expectations there are no shots to allocate). Its gCANS
    constant comes from the configured step size ``a`` with ``L = 1`` assumed for the
    gradient's Lipschitz constant (the curvature scale of a loss of expectation values in
    [-1, 1]); ``a`` is capped at 1."""
    if not config.adaptive_shot_allocation or config.shots is None:
        return None
    step = config.spsa_step_size if config.gradient_method == "spsa" else config.learning_rate
    return AdaptiveShotAllocator.from_lipschitz(
        1.0, min(float(step), 1.0), min_shots=config.min_shots, max_shots=config.max_shots,
        base_shots=config.base_shots, seed=int(rng.integers(2**31)), tracker=tracker)
