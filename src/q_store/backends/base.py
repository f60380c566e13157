"""The one async protocol every backend speaks, and what it returns.

A *job* is one request: one or more bound circuits (no free ``theta``/``x`` symbols) run with the
same number of shots. ``shots=None`` asks for exact probabilities, which only backends whose
capabilities say ``exact_expectations`` can give. Every qubit is measured at the end (as on
IonQ); results are probabilities over all ``2**n`` basis states in our big-endian order (wire 0
is the most significant bit), whatever the provider's own bit order.

In-process backends (local, noisy, Qiskit Aer, Cirq) derive from :class:`InProcessBackend`: a job
runs in a worker thread, so ``submit_job_async`` returns at once and many jobs can be in flight.
A job is held until its outcome (results or failure) has been delivered by ``get_job_result``;
after that only the last :attr:`InProcessBackend.keep_results` delivered jobs are kept (for a
repeated ``get_job_result`` or ``check_job_status``), so memory stays bounded over millions of
jobs.
"""

from __future__ import annotations

import asyncio
import itertools
import numbers
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from q_store.backends.cost import CostEstimate, CostModel
from q_store.circuit.ir import Circuit
from q_store.errors import BackendError, CircuitError, JobFailedError, JobTimeoutError
from q_store.sim.sampling import check_shots

__all__ = [
    "BackendCapabilities",
    "CircuitResult",
    "InProcessBackend",
    "JobResult",
    "JobStatus",
    "QuantumBackend",
    "as_circuit_list",
    "check_job_seeds",
]


ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives a job's waiting state: ``{job_id, status, waited, allowed?, predicted?}``."""


class JobStatus(str, Enum):
    """Lifecycle of a job (IonQ's names; v0.3's ``running`` is ``STARTED``)."""

    SUBMITTED = "submitted"
    READY = "ready"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def done(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)

    @classmethod
    def parse(cls, value: str) -> JobStatus:
        value = {"running": "started", "cancelled": "canceled"}.get(value, value)
        try:
            return cls(value)
        except ValueError:
            raise BackendError(f"unknown job status {value!r}") from None


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend can do; trainers, gradient methods and the compiler choose by these.

    ``native_gates``: gate names it runs directly (others must be compiled first; empty means
    every gate of our circuit model). ``batch_jobs``: many circuits go in one request.
    ``seeds_per_circuit``: a multi-circuit job can sample each circuit from its own seed (False
    for IonQ's noisy simulator, whose noise seed is per job: per-circuit seeds need one circuit
    per job there). ``exact_with_shots``: results are exact probabilities even when shots are
    given (IonQ's ideal simulator).
    """

    max_qubits: int
    exact_expectations: bool
    native_gradients: tuple[str, ...] = ()
    noisy: bool = False
    native_gates: tuple[str, ...] = ()
    batch_jobs: bool = True
    cost_model: CostModel = field(default_factory=CostModel.free)
    seeds_per_circuit: bool = True
    exact_with_shots: bool = False


@dataclass(frozen=True)
class CircuitResult:
    """Outcome of one circuit: ``probabilities (2**n,)`` (big-endian), ``shots`` (None when
    exact) and, for sampled results, ``counts`` keyed by basis-state index."""

    probabilities: np.ndarray
    shots: int | None = None
    counts: Mapping[int, int] | None = None

    @property
    def n_qubits(self) -> int:
        return int(self.probabilities.shape[-1]).bit_length() - 1

    def bitstring_counts(self) -> dict[str, int]:
        """Counts keyed by bitstrings, wire 0 first."""
        if self.counts is None:
            raise BackendError("an exact result has no counts; submit with shots to get them")
        n = self.n_qubits
        return {format(k, f"0{n}b"): v for k, v in sorted(self.counts.items())}

    @staticmethod
    def sampled(probabilities: np.ndarray, shots: int, rng: np.random.Generator
                ) -> CircuitResult:
        p = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
        hist = rng.multinomial(shots, p / p.sum())
        nz = np.flatnonzero(hist)
        return CircuitResult(hist / shots, shots, {int(k): int(hist[k]) for k in nz})


@dataclass(frozen=True)
class JobResult:
    """Results of a job's circuits, in submission order; ``queue_seconds``: how long the job
    waited between submission and start, as the backend measured it (None when unknown)."""

    job_id: str
    backend: str
    circuits: tuple[CircuitResult, ...]
    queue_seconds: float | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.circuits)

    def __getitem__(self, i: int) -> CircuitResult:
        return self.circuits[i]

    def __iter__(self) -> Any:
        return iter(self.circuits)

    @property
    def probabilities(self) -> list[np.ndarray]:
        return [c.probabilities for c in self.circuits]


def as_circuit_list(circuits: Circuit | Sequence[Circuit], max_qubits: int | None = None
                    ) -> list[Circuit]:
    """Validate a job's circuits: at least one, all bound, within the backend's qubit limit."""
    items = [circuits] if isinstance(circuits, Circuit) else list(circuits)
    if not items:
        raise CircuitError("a job needs at least one circuit")
    for i, c in enumerate(items):
        if not isinstance(c, Circuit):
            raise CircuitError(f"job item {i} is {type(c).__name__}, not a Circuit")
        if c.symbols:
            names = ", ".join(sorted(map(str, c.symbols))[:4])
            raise CircuitError(f"circuit {i} has unbound symbols ({names}); bind weights and "
                               "inputs with Circuit.bind before submitting")
        if max_qubits is not None and c.n_qubits > max_qubits:
            raise CircuitError(f"circuit {i} has {c.n_qubits} qubits; this backend runs at most "
                               f"{max_qubits}")
    return items


def check_job_seed(seed: object) -> int | None:
    if seed is not None and (not isinstance(seed, numbers.Integral)
                             or isinstance(seed, bool) or seed < 0):
        raise BackendError(f"seed must be a non-negative integer, got {seed!r}")
    return None if seed is None else int(seed)


def check_job_seeds(seed: object, n_circuits: int) -> int | tuple[int, ...] | None:
    """A job's seed: None, one integer for the whole job, or a sequence with one integer per
    circuit (each circuit then samples from its own seed, so its result does not depend on
    which job, or which position in a job, it was sent in)."""
    if seed is None or isinstance(seed, numbers.Integral):
        return check_job_seed(seed)
    if isinstance(seed, (str, bytes)) or not isinstance(seed, Sequence | np.ndarray):
        raise BackendError(f"seed must be a non-negative integer or a sequence of one per "
                           f"circuit, got {type(seed).__name__}")
    seeds = tuple(check_job_seed(s) for s in seed)
    if len(seeds) != n_circuits:
        raise BackendError(f"{len(seeds)} seeds for {n_circuits} circuits; give one seed per "
                           "circuit, or a single integer for the job")
    return seeds  # type: ignore[return-value]


def check_job_shots(shots: object, exact_ok: bool) -> int | None:
    if shots is None:
        if not exact_ok:
            raise BackendError("this backend only samples; pass shots (a positive integer)")
        return None
    return check_shots(shots)


class QuantumBackend(ABC):
    """The backend protocol: declared capabilities plus async job calls."""

    name: str

    @property
    @abstractmethod
    def capabilities(self) -> BackendCapabilities: ...

    @abstractmethod
    async def submit_job_async(self, circuits: Circuit | Sequence[Circuit],
                               shots: int | None = None, *,
                               seed: int | Sequence[int] | None = None,
                               name: str | None = None,
                               metadata: Mapping[str, str] | None = None) -> str:
        """Submit one job (one or many circuits); return its id without waiting for it.
        ``seed``: one integer for the job, or one per circuit (see :func:`check_job_seeds`)."""

    @abstractmethod
    async def check_job_status(self, job_id: str) -> JobStatus: ...

    @abstractmethod
    async def get_job_result(self, job_id: str, *, timeout: float | None = None,
                             progress: ProgressCallback | None = None) -> JobResult:
        """Wait for the job (up to ``timeout`` seconds, beyond its expected duration where the
        backend knows it) and return its results; raise :class:`JobFailedError` if it failed
        or was canceled. ``progress`` receives ``{job_id, status, waited, ...}`` while waiting,
        where the backend reports it."""

    @abstractmethod
    async def cancel_job(self, job_id: str) -> None: ...

    async def execute_batch(self, circuits: Sequence[Circuit], shots: int | None = None, *,
                            seed: int | Sequence[int] | None = None,
                            timeout: float | None = None) -> list[CircuitResult]:
        """Run circuits and wait: one job when the backend takes batches, else one per circuit
        (submitted concurrently)."""
        items = as_circuit_list(circuits)
        if self.capabilities.batch_jobs:
            job = await self.submit_job_async(items, shots, seed=seed)
            return list((await self.get_job_result(job, timeout=timeout)).circuits)
        given = check_job_seeds(seed, len(items))
        seeds = (list(given) if isinstance(given, tuple)
                 else [None if given is None else given + i for i in range(len(items))])
        jobs = [await self.submit_job_async(c, shots, seed=s) for c, s in zip(items, seeds,
                                                                             strict=True)]
        results = await asyncio.gather(*(self.get_job_result(j, timeout=timeout) for j in jobs))
        return [r.circuits[0] for r in results]

    async def run(self, circuit: Circuit, shots: int | None = None, *,
                  seed: int | None = None) -> CircuitResult:
        """One circuit, submitted and awaited."""
        return (await self.execute_batch([circuit], shots, seed=seed))[0]

    def estimate_cost(self, circuits: Circuit | Sequence[Circuit], shots: int | None
                      ) -> CostEstimate:
        """Gate counts, dollars and hardware time of running ``circuits`` here."""
        return self.capabilities.cost_model.estimate(as_circuit_list(circuits), shots)

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections and worker threads."""

    async def __aenter__(self) -> QuantumBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@dataclass
class _LocalJob:
    task: asyncio.Task[list[CircuitResult]]
    started: bool = False
    canceled: bool = False
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None

    @property
    def queue_seconds(self) -> float | None:
        """Submission to start: the wait for a worker thread."""
        return None if self.started_at is None else self.started_at - self.submitted_at


class InProcessBackend(QuantumBackend):
    """A backend that runs jobs on this machine, one worker thread per job.

    Jobs are released once delivered: a job stays until ``get_job_result`` has returned its
    results (or raised its failure); then it joins a small LRU of the last ``keep_results``
    delivered jobs, which answer a repeated ``get_job_result`` / ``check_job_status`` with the
    same results. An older delivered job is released, and asking for it raises
    :class:`BackendError` saying so. (A long training run submits a job per step; holding
    every job's probability arrays until ``close`` grew memory without bound.)
    """

    _ids = itertools.count()
    keep_results: int = 64

    def __init__(self) -> None:
        self._jobs: dict[str, _LocalJob] = {}  # in flight or not yet delivered
        self._delivered: OrderedDict[str, _LocalJob] = OrderedDict()

    @property
    def retained_jobs(self) -> int:
        """Jobs held now: undelivered ones plus the recent delivered ones."""
        return len(self._jobs) + len(self._delivered)

    def _mark_delivered(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            self._delivered[job_id] = job
        while len(self._delivered) > max(0, self.keep_results):
            self._delivered.popitem(last=False)

    @abstractmethod
    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        """Run bound circuits (validated) and return their results."""

    async def submit_job_async(self, circuits: Circuit | Sequence[Circuit],
                               shots: int | None = None, *,
                               seed: int | Sequence[int] | None = None,
                               name: str | None = None,
                               metadata: Mapping[str, str] | None = None) -> str:
        """Submit a job; with one seed per circuit, each circuit samples from its own RNG
        (circuit by circuit; exact runs need no RNG and run as one batch)."""
        caps = self.capabilities
        items = as_circuit_list(circuits, caps.max_qubits)
        shots = check_job_shots(shots, caps.exact_expectations)
        seeds = check_job_seeds(seed, len(items))
        job_id = f"{self.name}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        per_circuit = isinstance(seeds, tuple) and shots is not None
        rng = np.random.default_rng(None if isinstance(seeds, tuple) else seeds)
        job: _LocalJob

        def work() -> list[CircuitResult]:
            if job.canceled:
                raise JobFailedError(f"job {job_id} was canceled before it started")
            job.started_at = time.perf_counter()
            job.started = True
            if per_circuit:
                assert isinstance(seeds, tuple)
                return [r for c, s in zip(items, seeds, strict=True)
                        for r in self._execute([c], shots, np.random.default_rng(s))]
            return self._execute(items, shots, rng)

        job = _LocalJob(asyncio.get_running_loop().create_task(asyncio.to_thread(work)))
        self._jobs[job_id] = job
        return job_id

    def _job(self, job_id: str) -> _LocalJob:
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        job = self._delivered.get(job_id)
        if job is not None:
            self._delivered.move_to_end(job_id)
            return job
        raise BackendError(
            f"{self.name} has no job {job_id!r}: the id is unknown, or the job's results were "
            f"delivered and then released (results are delivered once; this backend keeps "
            f"only the last {self.keep_results} delivered jobs)")

    async def check_job_status(self, job_id: str) -> JobStatus:
        job = self._job(job_id)
        task = job.task
        if job.canceled:
            return JobStatus.CANCELED
        if not task.done():
            return JobStatus.STARTED if job.started else JobStatus.SUBMITTED
        if task.cancelled():
            return JobStatus.CANCELED
        return JobStatus.FAILED if task.exception() is not None else JobStatus.COMPLETED

    async def get_job_result(self, job_id: str, *, timeout: float | None = None,
                             progress: ProgressCallback | None = None) -> JobResult:
        job = self._job(job_id)
        task = job.task
        try:
            results = await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            raise JobTimeoutError(f"job {job_id} on {self.name} did not finish within "
                                  f"{timeout} s; it is still running") from None
        except asyncio.CancelledError:
            if task.cancelled():
                self._mark_delivered(job_id)
                raise JobFailedError(f"job {job_id} on {self.name} was canceled") from None
            raise
        except (JobFailedError, JobTimeoutError):
            self._mark_delivered(job_id)
            raise
        except Exception as exc:
            self._mark_delivered(job_id)
            raise JobFailedError(f"job {job_id} on {self.name} failed: {exc}") from exc
        self._mark_delivered(job_id)
        return JobResult(job_id, self.name, tuple(results), job.queue_seconds)

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a job that has not started; a running local job runs to its end."""
        job = self._job(job_id)
        if not job.started:
            job.canceled = True
            job.task.cancel()

    async def close(self) -> None:
        for job in self._jobs.values():
            if not job.task.done():
                job.task.cancel()
        self._jobs.clear()
        self._delivered.clear()
