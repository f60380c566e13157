"""The circuit pipeline between bound circuits and backend results.

Stages, in order: result cache -> deduplicate -> circuit optimisation -> cost check against the
budget -> split into jobs (batch policy) -> submission (one backend, or many through an
orchestrator) -> reassembly in order -> cache fill -> telemetry. Each stage is a small object
chosen once from the config; a stage left out is simply not there (no cache: every circuit
runs). Circuits are values, so a circuit is its own cache and deduplication key.

Every circuit is sampled from its own seed, a function of the pipeline's seed, the call's number
and the circuit's position in the call (:func:`circuit_seeds`): how circuits are grouped into
jobs, or spread over backends, cannot change a result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.backends.cost import CostBudget, CostEstimate
from q_store.circuit.ir import Circuit
from q_store.errors import JobFailedError

__all__ = ["BatchPolicy", "CircuitPipeline", "FixedBatches", "SingleBackend", "Submitter",
           "circuit_seeds", "seeded_jobs"]


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
    up to ``retries`` times; ``timeout`` bounds the wait for each job."""

    def __init__(self, backend: QuantumBackend, *, timeout: float | None = None,
                 retries: int = 0, tracker: Any = None) -> None:
        self.backend, self.timeout, self.retries = backend, timeout, retries
        self.name = backend.name
        self.tracker = tracker
        self.stats = {"jobs": 0, "retried_jobs": 0}

    def estimate_cost(self, circuits: Sequence[Circuit], shots: int | None) -> CostEstimate:
        return self.backend.estimate_cost(list(circuits), shots)

    @property
    def max_job_size(self) -> int | None:
        return None if self.backend.capabilities.batch_jobs else 1

    async def run_jobs(self, jobs: Sequence[Sequence[Circuit]], shots: int | None,
                       seeds: Sequence[Sequence[int]]) -> list[list[CircuitResult]]:
        parts = [seeded_jobs(self.backend, j, s, shots) for j, s in zip(jobs, seeds, strict=True)]
        done = await asyncio.gather(*(self._job(c, shots, s) for part in parts for c, s in part))
        it = iter(done)
        return [[r for _ in part for r in next(it)] for part in parts]

    async def _job(self, circuits: list[Circuit], shots: int | None, seed: list[int]
                   ) -> list[CircuitResult]:
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            job = await self.backend.submit_job_async(circuits, shots, seed=seed)
            t1 = time.perf_counter()
            self.stats["jobs"] += 1
            try:
                result = await self.backend.get_job_result(job, timeout=self.timeout)
                if self.tracker is not None:
                    self.tracker.emit("job", backend=self.name, circuits=len(circuits),
                                      shots=shots, submit_seconds=t1 - t0,
                                      wait_seconds=time.perf_counter() - t1)
                return list(result.circuits)
            except JobFailedError:
                if attempt == self.retries:
                    raise
                self.stats["retried_jobs"] += 1
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        await self.backend.close()


class CircuitPipeline:
    """Bound circuits in, results out, through the stages above.

    ``shots``: None for exact probabilities; ``budget`` is charged before anything is
    submitted; ``seed`` seeds the circuits (:func:`circuit_seeds`); ``result_cache`` (a
    :class:`~q_store.execution.cache.ResultCache`), ``optimizer`` (circuit -> equivalent
    circuit) and ``tracker`` (``emit(event, **fields)``) are optional stages."""

    def __init__(self, submitter: Submitter, *, shots: int | None = None,
                 budget: CostBudget | None = None, batching: BatchPolicy | None = None,
                 seed: int | None = None, result_cache: Any = None, optimizer: Any = None,
                 tracker: Any = None) -> None:
        self.submitter = submitter
        self.shots = shots
        self.budget = budget if budget is not None else CostBudget(None)
        max_size = getattr(submitter, "max_job_size", None)
        self.batching = batching or FixedBatches(max_size=max_size)
        self._seed = int(np.random.SeedSequence(seed).entropy % 2**63)  # type: ignore[operator]
        self._calls = 0
        self.result_cache = result_cache
        self.optimizer = optimizer
        self.tracker = tracker
        self.stats = {"circuits": 0, "jobs": 0, "usd": 0.0, "cache_hits": 0, "deduplicated": 0}

    async def run(self, circuits: Sequence[Circuit], shots: int | None = ...,  # type: ignore[assignment]
                  *, role: str = "values") -> list[CircuitResult]:
        """Results of ``circuits`` in order (``shots`` overrides the pipeline's for this call)."""
        shots = self.shots if shots is ... else shots
        t0 = time.perf_counter()
        circuits = list(circuits)
        out: list[CircuitResult | None] = [None] * len(circuits)
        cache = self.result_cache if self._cacheable(shots) else None
        todo: dict[Circuit, list[int]] = {}
        for i, c in enumerate(circuits):
            hit = None if cache is None else cache.get(c, shots, self.submitter.name)
            if hit is not None:
                out[i] = hit
            else:
                todo.setdefault(c, []).append(i)
        hits = sum(r is not None for r in out)
        unique = list(todo)
        call_seeds = circuit_seeds(self._seed, self._calls, len(circuits))
        self._calls += 1
        seeds = [call_seeds[todo[c][0]] for c in unique]  # a circuit's first position
        dedup = len(circuits) - hits - len(unique)
        runnable = [self.optimizer(c) if self.optimizer else c for c in unique]
        estimate = self.submitter.estimate_cost(runnable, shots) if runnable else None
        if estimate is not None and not getattr(self.submitter, "charges_budget", False):
            self.budget.charge(estimate)  # raises before anything is submitted
        self._last_jobs = 0
        results = await self._submit(runnable, shots, seeds) if runnable else []
        for c, r in zip(unique, results, strict=True):
            for i in todo[c]:
                out[i] = r
            if cache is not None:
                cache.put(c, shots, self.submitter.name, r)
        self.stats["circuits"] += len(runnable)
        self.stats["cache_hits"] += hits
        self.stats["deduplicated"] += dedup
        if estimate is not None:
            self.stats["usd"] += estimate.usd
        if self.tracker is not None:
            self.tracker.emit("circuits", role=role, requested=len(circuits), run=len(runnable),
                              cache_hits=hits, deduplicated=dedup, shots=shots,
                              jobs=self._last_jobs,
                              backend=self.submitter.name,
                              usd=0.0 if estimate is None else estimate.usd,
                              seconds=time.perf_counter() - t0)
        return [r for r in out if r is not None]

    def _cacheable(self, shots: int | None) -> bool:
        """Exact results are always reusable; sampled ones only when the cache says so (a
        repeated seeded run), never by default."""
        if self.result_cache is None:
            return False
        return shots is None or bool(getattr(self.result_cache, "cache_sampled", False))

    async def _submit(self, circuits: list[Circuit], shots: int | None, seeds: list[int]
                      ) -> list[CircuitResult]:
        size = self.batching.job_size(len(circuits))
        starts = range(0, len(circuits), size)
        jobs = [circuits[i : i + size] for i in starts]
        t0 = time.perf_counter()
        self._last_jobs = len(jobs)
        parts = await self.submitter.run_jobs(jobs, shots, [seeds[i : i + size] for i in starts])
        self.batching.record(len(circuits), time.perf_counter() - t0, None)
        self.stats["jobs"] += len(jobs)
        return [r for part in parts for r in part]

    async def close(self) -> None:
        await self.submitter.close()
