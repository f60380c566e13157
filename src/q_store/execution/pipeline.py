"""The circuit pipeline between bound circuits and backend results.

Stages, in order: result cache -> deduplicate -> circuit optimisation -> cost check against the
budget -> split into jobs (batch policy) -> submission (one backend, or many through an
orchestrator) -> reassembly in order -> cache fill -> telemetry. Each stage is a small object
chosen once from the config; a stage left out is simply not there (no cache: every circuit
runs). Circuits are values, so a circuit is its own cache and deduplication key.

Every circuit is sampled from its own seed, a function of the pipeline's seed, the call's number
and the circuit's position in the call (:func:`circuit_seeds`), or, where sampled results may be
cached, of the pipeline's seed and the circuit alone (``circuit_seed``): how circuits are grouped
into jobs, or spread over backends, cannot change a result.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.backends.cost import CostBudget, CostEstimate
from q_store.circuit.ir import Circuit
from q_store.compile.optimizer import optimization_stage
from q_store.errors import ConfigError, JobFailedError
from q_store.execution.result_cache import backend_identity, circuit_seed

__all__ = ["BatchPolicy", "CircuitPipeline", "FixedBatches", "SingleBackend", "Submitter",
           "circuit_seeds", "seeded_jobs"]

log = logging.getLogger("q_store.execution")
_LOG_EVERY = 30.0  # seconds between log lines about one job's wait


def circuit_seeds(seed: int, call: int, n: int) -> list[int]:
    """The seeds of the ``n`` circuits of call number ``call``: depend on the pipeline's seed,
    the call and each circuit's position only."""
    return [int(s) for s in np.random.default_rng([seed, call]).integers(2**31, size=n)]


def seeded_jobs(backend: QuantumBackend, circuits: Sequence[Circuit], seeds: Sequence[int],
                shots: int | None) -> list[tuple[list[Circuit], list[int]]]:
    """A job as the backend can take it with one seed per circuit: as it is, or one circuit
    per job where the backend's seed is per job (IonQ's noisy simulator) and shots are drawn."""
    if shots is None or len(circuits) == 1 or backend.capabilities.seeds_per_circuit:
        return [(list(circuits), list(seeds))]
    return [([c], [s]) for c, s in zip(circuits, seeds, strict=True)]


class Submitter(Protocol):
    """Runs jobs: lists of circuits, each circuit with its own seed (``seeds[j][i]`` for
    circuit ``i`` of job ``j``), results in order. A submitter whose ``charges_budget`` is True
    charges the pipeline's budget itself (it chooses where, hence at what price, circuits run)."""

    name: str

    def estimate_cost(self, circuits: Sequence[Circuit], shots: int | None) -> CostEstimate: ...

    async def run_jobs(self, jobs: Sequence[Sequence[Circuit]], shots: int | None,
                       seeds: Sequence[Sequence[int]]) -> list[list[CircuitResult]]: ...

    async def close(self) -> None: ...


class BatchPolicy(Protocol):
    """How many circuits go into one job."""

    def job_size(self, n_circuits: int) -> int: ...

    def record(self, circuits: int, seconds: float, queue_seconds: float | None) -> None: ...


@dataclass
class FixedBatches:
    """All circuits of a call in one job (``one_job``) or one job per circuit; ``max_size``
    caps a job when the backend limits circuits per job."""

    one_job: bool = True
    max_size: int | None = None

    def job_size(self, n_circuits: int) -> int:
        size = max(1, n_circuits) if self.one_job else 1
        return min(size, self.max_size) if self.max_size else size

    def record(self, circuits: int, seconds: float, queue_seconds: float | None) -> None:
        """Fixed: nothing to learn."""


class SingleBackend:
    """Submits jobs to one backend concurrently; resubmits a job that failed on the backend
    up to ``retries`` times; ``timeout`` bounds the wait for each job.

    Each finished job is reported as a ``job`` event to ``tracker`` and to every listener
    (:meth:`add_job_listener`, e.g. an adaptive batch policy's ``record_job``): circuits,
    seconds to submit and to wait, the queue wait the backend measured (``queue_seconds``,
    None when it reports none) and this submitter's jobs in flight at submission."""

    def __init__(self, backend: QuantumBackend, *, timeout: float | None = None,
                 retries: int = 0, tracker: Any = None, sequential: bool = False) -> None:
        self.backend, self.timeout, self.retries = backend, timeout, retries
        self.sequential = sequential  # one job in flight at a time, else all at once
        self.name = backend.name
        self.tracker = tracker
        self.stats = {"jobs": 0, "retried_jobs": 0}
        self._listeners: list[Any] = []
        self._in_flight = 0

    @property
    def cache_key(self) -> Any:
        """What names this backend in result-cache keys (the instance and its description)."""
        return backend_identity(self.backend)

    def add_job_listener(self, listener: Any) -> None:
        """Call ``listener(**fields)`` with each finished job's fields (see the class)."""
        self._listeners.append(listener)

    def estimate_cost(self, circuits: Sequence[Circuit], shots: int | None) -> CostEstimate:
        return self.backend.estimate_cost(list(circuits), shots)

    @property
    def max_job_size(self) -> int | None:
        return None if self.backend.capabilities.batch_jobs else 1

    async def run_jobs(self, jobs: Sequence[Sequence[Circuit]], shots: int | None,
                       seeds: Sequence[Sequence[int]]) -> list[list[CircuitResult]]:
        parts = [seeded_jobs(self.backend, j, s, shots) for j, s in zip(jobs, seeds, strict=True)]
        units = [(c, s) for part in parts for c, s in part]
        if self.sequential:
            done = [await self._job(c, shots, s) for c, s in units]
        else:
            done = list(await asyncio.gather(*(self._job(c, shots, s) for c, s in units)))
        it = iter(done)
        return [[r for _ in part for r in next(it)] for part in parts]

    async def _job(self, circuits: list[Circuit], shots: int | None, seed: list[int]
                   ) -> list[CircuitResult]:
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            in_flight = self._in_flight
            self._in_flight += 1
            try:
                job = await self.backend.submit_job_async(circuits, shots, seed=seed)
                t1 = time.perf_counter()
                self.stats["jobs"] += 1
                try:
                    result = await self.backend.get_job_result(job, timeout=self.timeout,
                                                               progress=self._progress(job))
                except JobFailedError:
                    if attempt == self.retries:
                        raise
                    self.stats["retried_jobs"] += 1
                    continue
            finally:
                self._in_flight -= 1
            self._report(backend=self.name, circuits=len(circuits), shots=shots,
                         submit_seconds=t1 - t0, wait_seconds=time.perf_counter() - t1,
                         queue_seconds=getattr(result, "queue_seconds", None),
                         in_flight=in_flight)
            return list(result.circuits)
        raise AssertionError("unreachable")  # pragma: no cover

    def _report(self, **fields: Any) -> None:
        if self.tracker is not None:
            self.tracker.emit("job", **fields)
        for listener in self._listeners:
            listener(**fields)

    def _progress(self, job_id: str) -> Any:
        """Forward a job's waiting state as ``job_progress`` events, and log it now and then
        (a long queue should not look like a hang)."""
        last = [-math.inf]

        def report(state: dict[str, Any]) -> None:
            if self.tracker is not None:
                self.tracker.emit("job_progress", backend=self.name, **state)
            waited = float(state.get("waited", 0.0))
            if waited - last[0] >= _LOG_EVERY:
                last[0] = waited
                log.info("%s job %s: %s after %.0f s (allowed %s s)", self.name, job_id,
                         state.get("status"), waited, _seconds(state.get("allowed")))

        return report

    async def close(self) -> None:
        await self.backend.close()


def _seconds(value: Any) -> str:
    return "?" if value is None else f"{float(value):.0f}"


class CircuitPipeline:
    """Bound circuits in, results out, through the stages above.

    ``shots``: None for exact probabilities; ``budget`` is charged before anything is
    submitted; ``seed`` seeds the circuits (:func:`circuit_seeds`); ``result_cache`` (a
    :class:`~q_store.execution.result_cache.ResultCache` or
    :class:`~q_store.execution.circuit_cache.QuantumCircuitCache`), ``optimizer`` (circuit ->
    equivalent circuit, memoised per target in ``optimized_cache`` when given) and ``tracker``
    (``emit(event, **fields)``) are optional stages. A batch policy with ``record_job`` (the
    adaptive queue manager) hears of every finished job from the submitter.

    A result cache that keeps sampled results (``cache_sampled``) needs ``seed``: each sampled
    circuit is then seeded by ``seed`` and the circuit alone (``circuit_seed``), so its result
    (and cache entry) does not depend on what else ran with it."""

    def __init__(self, submitter: Submitter, *, shots: int | None = None,
                 budget: CostBudget | None = None, batching: BatchPolicy | None = None,
                 seed: int | None = None, result_cache: Any = None, optimizer: Any = None,
                 optimized_cache: Any = None, tracker: Any = None) -> None:
        self.submitter = submitter
        self.shots = shots
        self.budget = budget if budget is not None else CostBudget(None)
        max_size = getattr(submitter, "max_job_size", None)
        self.batching = batching or FixedBatches(max_size=max_size)
        self.seed = seed
        self._root = int(np.random.SeedSequence(seed).entropy % 2**63)  # type: ignore[operator]
        self._calls = 0
        self.result_cache = result_cache
        if getattr(result_cache, "cache_sampled", False) and seed is None:
            raise ConfigError("a result cache that keeps sampled results needs a seeded "
                              "pipeline (seed=...): unseeded noise must never be reused")
        self.optimizer = optimizer
        self.optimized_cache = optimized_cache
        self.tracker = tracker
        record_job = getattr(self.batching, "record_job", None)
        if record_job is not None:
            add = getattr(submitter, "add_job_listener", None)
            if add is None:
                raise ConfigError(f"batch policy {type(self.batching).__name__} learns from "
                                  f"finished jobs, but submitter {submitter.name!r} does not "
                                  "report them (no add_job_listener)")
            add(record_job)
        self.stats = {"circuits": 0, "jobs": 0, "usd": 0.0, "cache_hits": 0, "deduplicated": 0,
                      "requested": 0, "busy_seconds": 0.0}
        self._active, self._busy_since = 0, 0.0  # calls running now, since when

    async def run(self, circuits: Sequence[Circuit], shots: int | None = ...,  # type: ignore[assignment]
                  *, role: str = "values") -> list[CircuitResult]:
        """Results of ``circuits`` in order (``shots`` overrides the pipeline's for this call)."""
        shots = self.shots if shots is ... else shots
        t0 = time.perf_counter()
        if self._active == 0:
            self._busy_since = t0
        self._active += 1
        try:
            return await self._run(list(circuits), shots, role, t0)
        finally:
            self._active -= 1
            if self._active == 0:  # busy time: calls that overlap count once
                self.stats["busy_seconds"] += time.perf_counter() - self._busy_since

    async def _run(self, circuits: list[Circuit], shots: int | None, role: str, t0: float
                   ) -> list[CircuitResult]:
        out: list[CircuitResult | None] = [None] * len(circuits)
        cache = self.result_cache
        backend = getattr(self.submitter, "cache_key", self.submitter.name)
        seeded = self._circuit_seeds(shots)
        todo: dict[Circuit, list[int]] = {}
        for i, c in enumerate(circuits):
            hit = None
            if cache is not None:
                seed = circuit_seed(self.seed, c) if seeded else None  # type: ignore[arg-type]
                hit = cache.get(c, shots, backend, seed=seed)
            if hit is not None:
                out[i] = hit
            else:
                todo.setdefault(c, []).append(i)
        hits = sum(r is not None for r in out)
        unique = list(todo)
        if seeded:
            seeds = [circuit_seed(self.seed, c) for c in unique]  # type: ignore[arg-type]
        else:
            call_seeds = circuit_seeds(self._root, self._calls, len(circuits))
            seeds = [call_seeds[todo[c][0]] for c in unique]  # a circuit's first position
        self._calls += 1
        dedup = len(circuits) - hits - len(unique)
        runnable, optimized = optimization_stage(self._optimizer_for(backend), unique)
        if optimized is not None and self.tracker is not None:
            self.tracker.emit("optimization", role=role, backend=self.submitter.name,
                              **optimized)
        estimate = self.submitter.estimate_cost(runnable, shots) if runnable else None
        if estimate is not None and not getattr(self.submitter, "charges_budget", False):
            self.budget.charge(estimate)  # raises before anything is submitted
        results, n_jobs = (await self._submit(runnable, shots, seeds) if runnable
                           else ([], 0))
        for c, r in zip(unique, results, strict=True):
            for i in todo[c]:
                out[i] = r
            if cache is not None:
                seed = circuit_seed(self.seed, c) if seeded else None  # type: ignore[arg-type]
                cache.put(c, shots, backend, r, seed=seed)
        self.stats["circuits"] += len(runnable)
        self.stats["requested"] += len(circuits)
        self.stats["cache_hits"] += hits
        self.stats["deduplicated"] += dedup
        if estimate is not None:
            self.stats["usd"] += estimate.usd
        if self.tracker is not None:
            self.tracker.emit("circuits", role=role, requested=len(circuits), run=len(runnable),
                              cache_hits=hits, deduplicated=dedup, shots=shots,
                              jobs=n_jobs,
                              backend=self.submitter.name,
                              usd=0.0 if estimate is None else estimate.usd,
                              seconds=time.perf_counter() - t0)
            if cache is not None and hasattr(cache, "get_stats"):
                stats = cache.get_stats()
                self.tracker.emit("cache", level="results", entries=stats["cached_results"],
                                  memory_mb=stats["memory_mb"])
        return [r for r in out if r is not None]

    def _circuit_seeds(self, shots: int | None) -> bool:
        """Whether circuits get their own seeds: sampled results that the cache may keep."""
        return shots is not None and bool(getattr(self.result_cache, "cache_sampled", False))

    def _optimizer_for(self, target: Any) -> Any:
        """The optimisation stage's optimizer, memoised per target in the optimised-circuit
        cache when there is one. Approximate pruning is not memoised, so that its measured
        fidelity loss is reported for every circuit it changes."""
        optimizer, cache = self.optimizer, self.optimized_cache
        if optimizer is None or cache is None or getattr(optimizer, "pruning_tolerance",
                                                         None) is not None:
            return optimizer
        return lambda circuit: cache.get_or_build(circuit, target, optimizer)

    async def _submit(self, circuits: list[Circuit], shots: int | None, seeds: list[int]
                      ) -> tuple[list[CircuitResult], int]:
        size = self.batching.job_size(len(circuits))
        starts = range(0, len(circuits), size)
        jobs = [circuits[i : i + size] for i in starts]
        t0 = time.perf_counter()
        parts = await self.submitter.run_jobs(jobs, shots, [seeds[i : i + size] for i in starts])
        self.batching.record(len(circuits), time.perf_counter() - t0, None)
        self.stats["jobs"] += len(jobs)
        return [r for part in parts for r in part], len(jobs)

    async def close(self) -> None:
        await self.submitter.close()
