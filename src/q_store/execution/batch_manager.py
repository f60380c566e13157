"""The spec's batch managers: ``CircuitBatchManager`` (v3.3) and ``CircuitBatchManagerV34``.

Both are thin layers over one :class:`~q_store.execution.pipeline.CircuitPipeline` (result
cache, deduplication, batching, budget, submission, tracker events): there is no second way to
submit circuits. Used alone they build the pipeline for a backend; the trainer's engine is built
the other way round (:func:`q_store.execution.factory.engine_from_config` wraps the pipeline it
builds in a V34 manager), so the trainer's circuits go through a batch manager too.

Circuits may be templates with free weights/inputs: ``parameters`` (weights rows) and
``inputs`` bind them through the template cache (structure built once, values bound per row,
``template`` events), every template's rows in order.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.backends.cost import CostBudget
from q_store.circuit.ir import Circuit
from q_store.circuit.params import parameter_map_for, resolve_batch
from q_store.errors import ConfigError, ValidationError
from q_store.execution.backend_executor import bind_angles
from q_store.execution.cache import SmartCircuitCache
from q_store.execution.pipeline import BatchPolicy, CircuitPipeline, FixedBatches, SingleBackend
from q_store.execution.tracker import PerformanceTracker

__all__ = ["CircuitBatchManager", "CircuitBatchManagerV34"]


class CircuitBatchManager:
    """Runs lists of circuits on ``backend`` as few jobs as possible (at most
    ``max_batch_size`` circuits per job; None: no cap beyond the backend's).

    ``shots`` (default for every call; None: exact where the backend allows), ``seed``,
    ``budget``, ``cache`` (result cache), ``batching`` (a batch policy instead of fixed jobs),
    ``timeout``/``retries`` (per job) and ``tracker`` configure the pipeline built here; or
    pass a ready ``pipeline`` (and no backend) to wrap it."""

    _ids = itertools.count(1)

    def __init__(self, backend: QuantumBackend | None = None,
                 max_batch_size: int | None = 100, *, pipeline: CircuitPipeline | None = None,
                 shots: int | None = 1000, seed: int | None = None,
                 budget: CostBudget | None = None, cache: Any = None,
                 batching: BatchPolicy | None = None, timeout: float | None = None,
                 retries: int = 0, tracker: Any = None,
                 templates: SmartCircuitCache | None = None) -> None:
        if pipeline is not None:
            if backend is not None:
                raise ConfigError("pass a backend or a ready pipeline, not both")
            self.pipeline, self._owns = pipeline, False
        else:
            if not isinstance(backend, QuantumBackend):
                raise ConfigError(f"CircuitBatchManager needs a QuantumBackend, got "
                                  f"{type(backend).__name__}")
            if max_batch_size is not None and (not isinstance(max_batch_size, int)
                                               or isinstance(max_batch_size, bool)
                                               or max_batch_size < 1):
                raise ConfigError(f"max_batch_size must be a positive integer or None, got "
                                  f"{max_batch_size!r}")
            if shots is None and not backend.capabilities.exact_expectations:
                raise ConfigError(f"backend {backend.name!r} only samples; give shots")
            submitter = SingleBackend(backend, timeout=timeout, retries=retries,
                                      tracker=tracker)
            cap = submitter.max_job_size
            size = cap if max_batch_size is None else min(max_batch_size, cap or max_batch_size)
            self.pipeline = CircuitPipeline(
                submitter, shots=shots, budget=budget, seed=seed, result_cache=cache,
                batching=batching or FixedBatches(one_job=True, max_size=size),
                optimized_cache=getattr(cache, "optimized", None), tracker=tracker)
            self._owns = True
        self.tracker = self.pipeline.tracker
        self.templates = templates if templates is not None else SmartCircuitCache(
            1000, tracker=self.tracker)
        self._pending: dict[str, asyncio.Task[list[CircuitResult]]] = {}

    @property
    def backend(self) -> Any:
        return getattr(self.pipeline.submitter, "backend", None)

    # -- running ------------------------------------------------------------------------------
    def bind(self, circuits: Sequence[Circuit], parameters: object = None,
             inputs: object = None) -> list[Circuit]:
        """Bound circuits: bound ones as they are, templates bound with every row of
        ``parameters`` (weights) and ``inputs``, in order."""
        items = list(circuits)
        bad = [type(c).__name__ for c in items if not isinstance(c, Circuit)]
        if bad:
            raise ValidationError(f"circuits must be q_store Circuits, got {bad[0]}")
        if not items:
            raise ValidationError("a batch needs at least one circuit")
        out: list[Circuit] = []
        for c in items:
            if not c.symbols and parameters is None and inputs is None:
                out.append(c)
                continue
            found = self.templates.lookup(("binding", c), lambda c=c: parameter_map_for(c))
            t0 = time.perf_counter()
            angles = found.template.angles(resolve_batch(c, parameters, inputs))
            out += [bind_angles(c, row) for row in angles]
            self.templates.record(found, time.perf_counter() - t0)
        return out

    async def execute_batch(self, circuits: Sequence[Circuit], shots: int | None = ...,  # type: ignore[assignment]
                            wait_for_results: bool = True, *, parameters: object = None,
                            inputs: object = None) -> Any:
        """Results of ``circuits`` in order (``shots``: the manager's by default); with
        ``wait_for_results=False``, the batch ids of :meth:`submit_batch` instead."""
        if not wait_for_results:
            return await self.submit_batch(circuits, shots, parameters=parameters,
                                           inputs=inputs)
        return await self.pipeline.run(self.bind(circuits, parameters, inputs), shots,
                                       role="batch")

    async def submit_batch(self, circuits: Sequence[Circuit], shots: int | None = ...,  # type: ignore[assignment]
                           *, parameters: object = None, inputs: object = None) -> list[str]:
        """Start running ``circuits`` without waiting; returns the batch's id (in a list, as
        the spec's job ids) for :meth:`get_results`. Errors (budget, backend) are raised
        there."""
        bound = self.bind(circuits, parameters, inputs)
        batch_id = f"batch-{next(self._ids)}"
        self._pending[batch_id] = asyncio.create_task(self.pipeline.run(bound, shots,
                                                                         role="batch"))
        await asyncio.sleep(0)  # let it start: cache lookups, budget, submission
        return [batch_id]

    async def get_results(self, batch_ids: str | Sequence[str]) -> list[CircuitResult]:
        """The results of batches from :meth:`submit_batch`, in order (each id once)."""
        ids = [batch_ids] if isinstance(batch_ids, str) else list(batch_ids)
        unknown = [i for i in ids if i not in self._pending]
        if unknown:
            raise ValidationError(f"unknown or already collected batch ids {unknown}")
        out: list[CircuitResult] = []
        for i in ids:
            task = self._pending.pop(i)
            out += await task
        return out

    # -- statistics -----------------------------------------------------------------------------
    def get_performance_stats(self) -> dict[str, Any]:
        """Circuits asked for and run, jobs, cache hits, dollars, busy seconds, throughput
        (circuits delivered per busy second), the template cache (``circuit_cache``), the
        result cache and batch policy where present, and the tracker's spec metrics."""
        p = self.pipeline.stats
        busy = p["busy_seconds"]
        out: dict[str, Any] = {
            "circuits_requested": p["requested"], "circuits_executed": p["circuits"],
            "jobs": p["jobs"], "cache_hits": p["cache_hits"],
            "deduplicated": p["deduplicated"], "usd": p["usd"], "busy_seconds": busy,
            "throughput_circuits_per_sec": p["requested"] / busy if busy else None,
            "circuit_cache": self.templates.get_stats()}
        cache = self.pipeline.result_cache
        if cache is not None and hasattr(cache, "get_stats"):
            out["result_cache"] = cache.get_stats()
        if hasattr(self.pipeline.batching, "get_stats"):
            out["batching"] = self.pipeline.batching.get_stats()
        if self.tracker is not None and hasattr(self.tracker, "get_statistics"):
            out["tracker"] = self.tracker.get_statistics()
        return out

    def print_performance_report(self, file: TextIO | None = None) -> None:
        out = file or sys.stdout
        stats = self.get_performance_stats()
        print(f"{type(self).__name__} on {self.pipeline.submitter.name}", file=out)
        for key, value in stats.items():
            if isinstance(value, dict):
                print(f"  {key}:", file=out)
                for k, v in value.items():
                    print(f"    {k:<30} {_shown(v)}", file=out)
            else:
                print(f"  {key:<32} {_shown(value)}", file=out)

    # -- lifetime -----------------------------------------------------------------------------
    async def close(self) -> None:
        """Cancel batches never collected; close the backend when this manager built the
        pipeline (a wrapped pipeline is closed by its owner)."""
        pending, self._pending = list(self._pending.values()), {}
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._owns:
            await self.pipeline.close()

    async def __aenter__(self) -> CircuitBatchManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pipeline.submitter.name!r})"


class CircuitBatchManagerV34(CircuitBatchManager):
    """The v3.4 manager, an async context manager: IonQ built from ``api_key`` (``target``,
    ``noise_model``, ``base_url`` e.g. a local IonQ-compatible server, ``connection_pool_size``,
    ``max_queue_wait_time`` as the job timeout, ``use_native_gates``, further ``ionq_options``)
    or any ``backend``; ``use_batch_api`` (one job for many circuits, else one per circuit),
    ``adaptive_batch_sizing`` (job sizes from queue waits: an
    :class:`~q_store.execution.queue_manager.AdaptiveQueueManager`), ``enable_smart_caching``
    (a :class:`~q_store.execution.circuit_cache.QuantumCircuitCache` of ``cache_size``
    templates, ``result_ttl``; ``cache_sampled`` also keeps sampled results of a run with a
    ``seed``, each circuit then its own job), ``retry_failed_circuits`` (resubmit a failed job
    twice). A :class:`PerformanceTracker` is made when none is given."""

    def __init__(self, api_key: str | None = None, *, backend: QuantumBackend | None = None,
                 target: str = "simulator", noise_model: str = "ideal",
                 base_url: str | None = None, use_batch_api: bool = True,
                 use_native_gates: bool = True, adaptive_batch_sizing: bool = False,
                 enable_smart_caching: bool = True, connection_pool_size: int = 5,
                 max_queue_wait_time: float = 120.0, retry_failed_circuits: bool = True,
                 max_batch_size: int | None = None, shots: int | None = 1000,
                 seed: int | None = None, budget: CostBudget | None = None,
                 cache_size: int = 1000, result_ttl: float | None = 300.0,
                 cache_sampled: bool = False, tracker: Any = None,
                 pipeline: CircuitPipeline | None = None,
                 templates: SmartCircuitCache | None = None, **ionq_options: Any) -> None:
        if pipeline is not None:
            super().__init__(pipeline=pipeline, templates=templates)
            return
        for name in ("use_batch_api", "use_native_gates", "adaptive_batch_sizing",
                     "enable_smart_caching", "retry_failed_circuits"):
            if not isinstance(locals()[name], bool):
                raise ConfigError(f"{name} must be True or False, got {locals()[name]!r}")
        if backend is None:
            from q_store.backends.ionq.backend import IonQBackend

            backend = IonQBackend(api_key, target, noise_model=noise_model, base_url=base_url,
                                  pool_size=connection_pool_size,
                                  job_timeout=max_queue_wait_time,
                                  native_gates=use_native_gates, **ionq_options)
        elif api_key is not None or base_url is not None or ionq_options:
            raise ConfigError("pass either a backend or the IonQ settings (api_key, base_url, "
                              "...) to build one, not both")
        if cache_sampled and not enable_smart_caching:
            raise ConfigError("cache_sampled needs enable_smart_caching=True")
        if adaptive_batch_sizing and not use_batch_api:
            raise ConfigError("adaptive_batch_sizing chooses circuits per job; with "
                              "use_batch_api=False every circuit is its own job")
        tracker = tracker if tracker is not None else PerformanceTracker()
        batching: BatchPolicy | None = None
        if adaptive_batch_sizing:
            from q_store.execution.queue_manager import AdaptiveQueueManager

            cap = None if backend.capabilities.batch_jobs else 1
            batching = AdaptiveQueueManager(max_size=_min(max_batch_size, cap))
        elif not use_batch_api:
            batching = FixedBatches(one_job=False)
        cache = None
        if enable_smart_caching:
            from q_store.execution.circuit_cache import QuantumCircuitCache

            cache = QuantumCircuitCache(cache_size, 5 * cache_size, result_ttl,
                                        cache_sampled=cache_sampled, templates=templates,
                                        tracker=tracker)
            templates = cache.templates
        super().__init__(backend, max_batch_size, shots=shots, seed=seed, budget=budget,
                         cache=cache, batching=batching, timeout=max_queue_wait_time,
                         retries=2 if retry_failed_circuits else 0, tracker=tracker,
                         templates=templates)

    async def __aenter__(self) -> CircuitBatchManagerV34:
        return self


def _min(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else min(a, b)


def _shown(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
