"""The emulated device behind the local IonQ server: job records and one worker thread.

Like a QPU, the device runs one circuit at a time: a single worker takes jobs FIFO among those
whose queue wait is over, and runs a multi-circuit job's circuits one after another (each child
job goes started -> completed). Every circuit is really simulated: the ideal simulator gives
exact probabilities (:class:`StatevectorSimulator`); a noise model or a QPU backend gives a
seeded shot histogram of the density-matrix simulator's noisy probabilities. Execution lasts at
least the :class:`LatencyModel`'s modelled time (simulation time counts towards it).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from q_store.backends.cost import count_billed_gates
from q_store.backends.ionq.emulator_faults import Fault
from q_store.backends.ionq.emulator_latency import LatencyModel
from q_store.backends.ionq.emulator_requests import MULTI, SINGLE, ApiError, JobRequest
from q_store.backends.ionq.serialize import probabilities_to_ionq
from q_store.circuit.ir import Circuit
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel

__all__ = ["ACTIVE", "EmulatedDevice", "EmulatedJob", "forte_noise_model"]

SUBMITTED, READY, STARTED = "submitted", "ready", "started"
COMPLETED, FAILED, CANCELED = "completed", "failed", "canceled"
ACTIVE = (SUBMITTED, READY, STARTED)
EXACT_TOL = 1e-14  # exact probabilities below this are rounding noise of zero amplitudes
_log = logging.getLogger(__name__)


def forte_noise_model() -> NoiseModel:
    """Noise preset for ``forte-1``.

    The public sources we checked (Azure Quantum's IonQ provider page: Forte-1 has 36 qubits)
    give gate and SPAM fidelities only for Aria, so this preset reuses Aria's published numbers
    (1q 99.95 %, 2q 99.6 %, SPAM 99.61 %): Forte results are, if anything, pessimistic.
    """
    return NoiseModel.ionq_aria()


@dataclass(eq=False)
class EmulatedJob:
    """One job (or child job) as the emulator records it. Times: ``request``/``start``/
    ``response`` are Unix seconds; ``execution_time`` is seconds of device time."""

    id: str
    seq: int
    name: str | None
    type: str
    backend: str
    shots: int
    metadata: dict[str, str]
    noise: dict[str, Any] | None
    qubits: int
    gate_counts: tuple[int, int]
    request: float
    status: str = SUBMITTED
    start: float | None = None
    response: float | None = None
    execution_time: float | None = None
    child_ids: tuple[str, ...] = ()
    parent_id: str | None = None
    failure: dict[str, str] | None = None
    probabilities: dict[str, float] | None = None
    circuit: Circuit | None = field(default=None, repr=False)
    ready_at: float = field(default=0.0, repr=False)  # time.monotonic()
    children: list[EmulatedJob] = field(default_factory=list, repr=False)
    noise_model: str = field(default="ideal", repr=False)
    exact: bool = field(default=True, repr=False)
    rng: np.random.Generator | None = field(default=None, repr=False)
    fail_with: Fault | None = field(default=None, repr=False)


def _snapshot(job: EmulatedJob) -> EmulatedJob:
    """A copy of a record that later updates do not reach (and that cannot change it)."""
    snap = copy.copy(job)
    snap.metadata = dict(job.metadata)
    snap.children = [_snapshot(c) for c in job.children]
    return snap


class EmulatedDevice:
    """Job store plus the single worker thread that plays the QPU."""

    def __init__(self, latency: Callable[[], LatencyModel], seed: int | None,
                 stopping: threading.Event) -> None:
        self._latency = latency
        self._seeds = np.random.SeedSequence(seed)
        self._stopping = stopping
        self._cond = threading.Condition()
        self._jobs: dict[str, EmulatedJob] = {}
        self._top: list[str] = []  # top-level job ids, oldest first
        self._queue: list[EmulatedJob] = []  # top-level jobs not started yet, FIFO
        self._seq = 0
        self.created = 0
        self._sims: dict[str, StatevectorSimulator | DensityMatrixSimulator] = {
            "ideal": StatevectorSimulator(),
            "aria-1": DensityMatrixSimulator(NoiseModel.ionq_aria()),
            "forte-1": DensityMatrixSimulator(forte_noise_model()),
        }
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ionq-emulator-device",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- requests ----------------------------------------------------------------------------
    def _record(self, req: JobRequest, kind: str, name: str | None, circuit: Circuit | None,
                gates: tuple[int, int], metadata: dict[str, str], now: float,
                ready_at: float) -> EmulatedJob:
        self._seq += 1
        job = EmulatedJob(str(uuid.uuid4()), self._seq, name, kind, req.backend, req.shots,
                          metadata, req.noise, req.qubits, gates, now, circuit=circuit,
                          ready_at=ready_at, noise_model=req.noise_model, exact=req.exact)
        self._jobs[job.id] = job
        return job

    def submit(self, req: JobRequest, fail_with: Fault | None) -> EmulatedJob:
        """Record a new top-level job (and its children) and queue it; return a snapshot."""
        now, ready_at = time.time(), time.monotonic() + self._latency().queue_delay()
        counts = [count_billed_gates(c.circuit) for c in req.circuits]
        with self._cond:
            if req.multi:
                total = (sum(n1 for n1, _ in counts), sum(n2 for _, n2 in counts))
                job = self._record(req, MULTI, req.name, None, total, req.metadata, now, ready_at)
                for spec, gates in zip(req.circuits, counts, strict=True):
                    child = self._record(req, SINGLE, spec.name, spec.circuit, gates, {}, now,
                                         ready_at)
                    child.parent_id = job.id
                    job.children.append(child)
                job.child_ids = tuple(c.id for c in job.children)
            else:
                job = self._record(req, SINGLE, req.name, req.circuits[0].circuit, counts[0],
                                   req.metadata, now, ready_at)
            seed = req.noise_seed if req.noise_seed is not None else self._seeds.spawn(1)[0]
            job.rng = np.random.default_rng(seed)
            job.fail_with = fail_with
            self._top.append(job.id)
            self._queue.append(job)
            self.created += 1
            self._cond.notify_all()
            return _snapshot(job)

    def _promote(self) -> None:
        now = time.monotonic()
        for job in self._queue:
            if job.status == SUBMITTED and job.ready_at <= now:
                for j in (job, *job.children):
                    j.status = READY

    def _get(self, job_id: str) -> EmulatedJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise ApiError(404, "NotFound", f"no job with id {job_id!r}") from None

    def get(self, job_id: str) -> tuple[EmulatedJob, list[EmulatedJob]]:
        """Snapshots of a job and of its children."""
        with self._cond:
            self._promote()
            snap = _snapshot(self._get(job_id))
            return snap, snap.children

    def page(self, limit: int, cursor: str | None) -> tuple[list[EmulatedJob], str | None]:
        """Top-level jobs newest first, ``limit`` at a time after job ``cursor``."""
        with self._cond:
            self._promote()
            ids = self._top[::-1]
            begin = 0
            if cursor is not None:
                if cursor not in ids:
                    raise ApiError(400, "BadRequest", f"unknown 'next' cursor {cursor!r}")
                begin = ids.index(cursor) + 1
            chosen = ids[begin:begin + limit]
            more = begin + limit < len(ids)
            return [_snapshot(self._jobs[i]) for i in chosen], chosen[-1] if more else None

    def cancel(self, job_id: str) -> str:
        """Cancel a job that has not finished (a started job stops before its next circuit);
        return its status afterwards."""
        with self._cond:
            self._promote()
            job = self._get(job_id)
            if job.parent_id is not None:
                raise ApiError(400, "BadRequest", f"job {job_id} is a child job; cancel its "
                               f"parent {job.parent_id}")
            if job.status in ACTIVE:
                now = time.time()
                job.status, job.response = CANCELED, now
                for child in job.children:
                    if child.status in (SUBMITTED, READY):
                        child.status, child.response = CANCELED, now
                if job in self._queue:
                    self._queue.remove(job)
                self._cond.notify_all()
            return job.status

    def delete(self, job_id: str) -> None:
        """Cancel a job if it has not finished, then forget it and its children."""
        with self._cond:  # re-entrant: cancel() takes the same lock
            if self._get(job_id).parent_id is not None:
                raise ApiError(400, "BadRequest", f"job {job_id} is a child job; delete its "
                               "parent")
            self.cancel(job_id)
            job = self._jobs.pop(job_id)
            for child in job.children:
                self._jobs.pop(child.id, None)
            self._top.remove(job_id)

    def snapshot(self) -> dict[str, EmulatedJob]:
        with self._cond:
            self._promote()
            return {k: _snapshot(v) for k, v in self._jobs.items()}

    # -- the device --------------------------------------------------------------------------
    def _next(self) -> EmulatedJob | None:
        """Wait for the first queued job whose queue wait is over (None: shutting down)."""
        with self._cond:
            while not self._stopping.is_set():
                self._promote()
                now = time.monotonic()
                job = next((j for j in self._queue if j.ready_at <= now), None)
                if job is not None:
                    self._queue.remove(job)
                    if job.fail_with is not None:
                        self._finish(job, FAILED, {"error": job.fail_with.error,
                                                   "code": job.fail_with.code})
                        continue
                    job.status, job.start = STARTED, time.time()
                    return job
                waits = [j.ready_at - now for j in self._queue]
                self._cond.wait(min(waits) if waits else None)
        return None

    def _finish(self, job: EmulatedJob, status: str, failure: dict[str, str] | None) -> None:
        now = time.time()
        job.status, job.response, job.failure = status, now, failure
        for child in job.children:
            if child.status in ACTIVE:
                child.status, child.response, child.failure = status, now, failure

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._execute(job)
            except Exception as exc:  # a bug here must not stop the device silently
                _log.exception("IonQ emulator: job %s crashed the device", job.id)
                with self._cond:
                    if job.status in ACTIVE:
                        self._finish(job, FAILED, {"error": f"emulator error: {exc!r}",
                                                   "code": "InternalError"})

    def _simulate(self, unit: EmulatedJob, rng: np.random.Generator) -> dict[str, float]:
        assert unit.circuit is not None
        n = unit.circuit.n_qubits
        probs = self._sims[unit.noise_model].probabilities(unit.circuit)
        if unit.exact:
            return probabilities_to_ionq(probs, n, EXACT_TOL)
        p = np.clip(probs, 0.0, None)
        hist = rng.multinomial(unit.shots, p / p.sum())
        return probabilities_to_ionq(hist / unit.shots, n)

    def _execute(self, job: EmulatedJob) -> None:
        units = job.children or [job]
        total = 0.0
        assert job.rng is not None
        for unit in units:
            with self._cond:
                if job.status != STARTED:
                    return
                if unit is not job:
                    unit.status, unit.start = STARTED, time.time()
            t0 = time.monotonic()
            try:
                probs = self._simulate(unit, job.rng)
            except Exception as exc:  # reported as a failed job, with the reason
                with self._cond:
                    if job.status == STARTED:
                        self._finish(job, FAILED, {"error": f"simulation failed: {exc!r}",
                                                   "code": "SimulationError"})
                return
            n1, n2 = unit.gate_counts
            remaining = self._latency().circuit_seconds(unit.shots, n1, n2) - (
                time.monotonic() - t0)
            if remaining > 0 and self._stopping.wait(remaining):
                return
            with self._cond:
                elapsed = time.monotonic() - t0
                total += elapsed
                if unit is not job or job.status == STARTED:
                    unit.probabilities, unit.execution_time = probs, elapsed
                    unit.status, unit.response = COMPLETED, time.time()
        with self._cond:
            if job.status == STARTED:
                job.status, job.response, job.execution_time = COMPLETED, time.time(), total
