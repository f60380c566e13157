"""The emulated device behind the local IonQ server: job records and one worker thread.

Like a QPU, the device runs one circuit at a time: a single worker takes jobs FIFO among those
whose queue wait is over, and runs a multi-circuit job's circuits one after another (each child
job goes started -> completed). Every circuit is really simulated: the ideal simulator gives
exact probabilities (:class:`StatevectorSimulator`); a noise model or a QPU backend gives a
seeded shot histogram of the density-matrix simulator's noisy probabilities. Execution lasts the
:class:`LatencyModel`'s modelled time on the device's :class:`Clock` (simulation time counts
towards it), and the worker watches for a cancel all along: cancelling a running job frees the
device at once, not when its modelled time is up.

Memory is bounded (:class:`ServerLimits`): results are kept as arrays of their nonzero entries,
and the oldest finished jobs are forgotten once more than ``max_jobs`` jobs or more than
``max_stored_entries`` probabilities are kept.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from q_store.backends.cost import count_billed_gates
from q_store.backends.ionq.emulator_clock import Clock
from q_store.backends.ionq.emulator_faults import Fault
from q_store.backends.ionq.emulator_latency import LatencyModel
from q_store.backends.ionq.emulator_limits import ServerLimits
from q_store.backends.ionq.emulator_requests import MULTI, SINGLE, ApiError, JobRequest
from q_store.backends.ionq.emulator_results import EXACT_TOL, Probabilities
from q_store.circuit.ir import Circuit
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel

__all__ = ["ACTIVE", "EmulatedDevice", "EmulatedJob", "forte_noise_model"]

SUBMITTED, READY, STARTED = "submitted", "ready", "started"
COMPLETED, FAILED, CANCELED = "completed", "failed", "canceled"
ACTIVE = (SUBMITTED, READY, STARTED)
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
    ``response`` are Unix seconds on the device's clock; ``execution_time``,
    ``predicted_execution`` and ``predicted_wait`` are seconds. ``failure`` is
    ``{"code", "message"}`` (IonQ's v0.4 form)."""

    id: str
    seq: int
    name: str | None
    type: str
    backend: str
    shots: int
    metadata: dict[str, str] | None
    noise: dict[str, Any] | None
    qubits: int
    gate_counts: tuple[int, int]
    request: float
    settings: dict[str, Any] = field(default_factory=dict)
    status: str = SUBMITTED
    start: float | None = None
    response: float | None = None
    execution_time: float | None = None
    predicted_execution: float | None = None
    predicted_wait: float | None = None
    child_ids: tuple[str, ...] = ()
    parent_id: str | None = None
    failure: dict[str, str] | None = None
    probabilities: Probabilities | None = None
    request_bytes: int = 0
    circuit: Circuit | None = field(default=None, repr=False)
    ready_at: float = field(default=0.0, repr=False)  # clock.monotonic()
    children: list[EmulatedJob] = field(default_factory=list, repr=False)
    noise_model: str = field(default="ideal", repr=False)
    exact: bool = field(default=True, repr=False)
    rng: np.random.Generator | None = field(default=None, repr=False)
    fail_with: Fault | None = field(default=None, repr=False)

    @property
    def circuits(self) -> int:
        return len(self.children) or 1


def _snapshot(job: EmulatedJob) -> EmulatedJob:
    """A copy of a record that later updates do not reach (and that cannot change it)."""
    snap = copy.copy(job)
    snap.metadata = None if job.metadata is None else dict(job.metadata)
    snap.children = [_snapshot(c) for c in job.children]
    snap.rng = None
    return snap


class EmulatedDevice:
    """Job store plus the single worker thread that plays the QPU."""

    def __init__(self, latency: Callable[[], LatencyModel], seed: int | None,
                 stopping: threading.Event, clock: Clock, limits: ServerLimits) -> None:
        self._latency = latency
        self._seeds = np.random.SeedSequence(seed)
        self._stopping = stopping
        self._clock = clock
        self._limits = limits
        self._cond = threading.Condition()
        self._jobs: dict[str, EmulatedJob] = {}
        self._top: list[str] = []  # top-level job ids, oldest first
        self._queue: list[EmulatedJob] = []  # top-level jobs not started yet, FIFO
        self._seq = 0
        self._stored = 0  # probabilities kept over all jobs
        self._stored_bytes = 0  # request bodies of the jobs kept
        self.created = 0
        self.expired = 0
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

    @property
    def stored_entries(self) -> int:
        """Probabilities currently kept, over all remembered jobs."""
        with self._cond:
            return self._stored

    # -- requests ----------------------------------------------------------------------------
    def _record(self, req: JobRequest, kind: str, name: str | None, circuit: Circuit | None,
                gates: tuple[int, int], metadata: dict[str, str] | None, now: float,
                ready_at: float) -> EmulatedJob:
        self._seq += 1
        job = EmulatedJob(str(uuid.uuid4()), self._seq, name, kind, req.backend, req.shots,
                          metadata, req.noise, req.qubits, gates, now, dict(req.settings),
                          circuit=circuit, ready_at=ready_at, noise_model=req.noise_model,
                          exact=req.exact)
        if circuit is not None:
            job.qubits = circuit.n_qubits
            job.predicted_execution = self._latency().circuit_seconds(req.shots, *gates)
        self._jobs[job.id] = job
        return job

    def submit(self, req: JobRequest, fail_with: Fault | None, request_bytes: int = 0
               ) -> EmulatedJob:
        """Record a new top-level job (and its children) and queue it; return a snapshot.
        429 when unfinished jobs alone fill ``max_jobs`` or ``max_stored_request_bytes``."""
        counts = [count_billed_gates(c.circuit) for c in req.circuits]
        lim = self._limits
        with self._cond:
            self._evict(room=1, room_bytes=request_bytes)
            if (len(self._top) >= lim.max_jobs
                    or self._stored_bytes + request_bytes > lim.max_stored_request_bytes):
                raise ApiError(429, f"the emulator already holds {len(self._top)} unfinished "
                               f"jobs (max_jobs {lim.max_jobs}, max_stored_request_bytes "
                               f"{lim.max_stored_request_bytes}); retry once some have "
                               "finished", {"Retry-After": "1"})
            wait = self._latency().queue_delay()
            now, ready_at = self._clock.time(), self._clock.monotonic() + wait
            if req.multi:
                total = (sum(n1 for n1, _ in counts), sum(n2 for _, n2 in counts))
                job = self._record(req, MULTI, req.name, None, total, req.metadata, now,
                                   ready_at)
                for spec, gates in zip(req.circuits, counts, strict=True):
                    child = self._record(req, SINGLE, spec.name, spec.circuit, gates, None, now,
                                         ready_at)
                    child.parent_id, child.predicted_wait = job.id, wait
                    job.children.append(child)
                job.child_ids = tuple(c.id for c in job.children)
                job.predicted_execution = sum(c.predicted_execution or 0.0
                                              for c in job.children)
            else:
                job = self._record(req, SINGLE, req.name, req.circuits[0].circuit, counts[0],
                                   req.metadata, now, ready_at)
            job.qubits, job.predicted_wait = req.qubits, wait
            seed = req.noise_seed if req.noise_seed is not None else self._seeds.spawn(1)[0]
            job.rng = np.random.default_rng(seed)
            job.fail_with, job.request_bytes = fail_with, request_bytes
            self._stored_bytes += request_bytes
            self._top.append(job.id)
            self._queue.append(job)
            self.created += 1
            self._cond.notify_all()
            return _snapshot(job)

    def _promote(self) -> None:
        now = self._clock.monotonic()
        for job in self._queue:
            if job.status == SUBMITTED and job.ready_at <= now:
                for j in (job, *job.children):
                    j.status = READY

    def _get(self, job_id: str) -> EmulatedJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise ApiError(404, f"no job with id {job_id!r:.80} (it never existed, was "
                           "deleted, or expired: see max_jobs)") from None

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
                if cursor not in self._jobs or self._jobs[cursor].parent_id is not None:
                    raise ApiError(400, f"unknown 'next' cursor {cursor!r:.80}")
                begin = ids.index(cursor) + 1
            chosen = ids[begin:begin + limit]
            more = begin + limit < len(ids)
            return [_snapshot(self._jobs[i]) for i in chosen], chosen[-1] if more else None

    def cancel(self, job_id: str) -> str:
        """Cancel a job that has not finished, the circuit running now included (the worker
        notices at once); return its status afterwards."""
        with self._cond:
            self._promote()
            job = self._get(job_id)
            if job.parent_id is not None:
                raise ApiError(400, f"job {job_id} is a child job; cancel its parent "
                               f"{job.parent_id}")
            if job.status in ACTIVE:
                now = self._clock.time()
                for j in (job, *job.children):
                    if j.status in ACTIVE:
                        j.status, j.response = CANCELED, now
                if job in self._queue:
                    self._queue.remove(job)
                job.rng = None
                self._cond.notify_all()
                self._evict(keep=job)
            return job.status

    def delete(self, job_id: str) -> None:
        """Cancel a job if it has not finished, then forget it and its children."""
        with self._cond:  # re-entrant: cancel() takes the same lock
            if self._get(job_id).parent_id is not None:
                raise ApiError(400, f"job {job_id} is a child job; delete its parent")
            self.cancel(job_id)
            if job_id in self._jobs:  # cancel() may have expired it already
                self._forget(self._jobs[job_id])

    def snapshot(self) -> dict[str, EmulatedJob]:
        with self._cond:
            self._promote()
            return {k: _snapshot(v) for k, v in self._jobs.items()}

    # -- memory bounds (lock held) ---------------------------------------------------------------
    def _forget(self, job: EmulatedJob) -> None:
        for j in (job, *job.children):
            self._jobs.pop(j.id, None)
            if j.probabilities is not None:
                self._stored -= len(j.probabilities)
        self._stored_bytes -= job.request_bytes
        self._top.remove(job.id)

    def _evict(self, room: int = 0, room_bytes: int = 0, keep: EmulatedJob | None = None
               ) -> None:
        """Forget the oldest finished jobs (never ``keep``, the one finishing now) while the
        kept jobs, plus ``room`` more jobs of ``room_bytes``, exceed ``max_jobs``,
        ``max_stored_entries`` or ``max_stored_request_bytes``."""
        lim = self._limits
        while (len(self._top) + room > lim.max_jobs or self._stored > lim.max_stored_entries
               or self._stored_bytes + room_bytes > lim.max_stored_request_bytes):
            victim = next((self._jobs[i] for i in self._top
                           if self._jobs[i].status not in ACTIVE and self._jobs[i] is not keep),
                          None)
            if victim is None:
                return
            self._forget(victim)
            self.expired += 1

    # -- the device --------------------------------------------------------------------------
    def _next(self) -> EmulatedJob | None:
        """Wait for the first queued job whose queue wait is over (None: shutting down)."""
        with self._cond:
            while not self._stopping.is_set():
                self._promote()
                now = self._clock.monotonic()
                job = next((j for j in self._queue if j.ready_at <= now), None)
                if job is not None:
                    self._queue.remove(job)
                    if job.fail_with is not None:
                        fault = job.fail_with
                        self._finish(job, FAILED, {"code": fault.code, "message": fault.error})
                        continue
                    job.status, job.start = STARTED, self._clock.time()
                    return job
                waits = [j.ready_at - now for j in self._queue]
                self._clock.wait(self._cond, min(waits) if waits else None)
        return None

    def _finish(self, job: EmulatedJob, status: str, failure: dict[str, str] | None) -> None:
        now = self._clock.time()
        job.status, job.response, job.failure, job.rng = status, now, failure, None
        for child in job.children:
            if child.status in ACTIVE:
                child.status, child.response, child.failure = status, now, failure
        self._evict(keep=job)

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._execute(job)
            except Exception as exc:  # a bug here must not stop the device silently
                _log.exception("IonQ emulator: job %s crashed the device", job.id)
                with self._cond:
                    if job.status in ACTIVE:
                        self._finish(job, FAILED, {"code": "InternalError",
                                                   "message": f"emulator error: {exc!r}"})

    def _simulate(self, unit: EmulatedJob, rng: np.random.Generator) -> Probabilities:
        assert unit.circuit is not None
        n = unit.circuit.n_qubits
        probs = self._sims[unit.noise_model].probabilities(unit.circuit)
        if unit.exact:
            return Probabilities.from_dense(probs, n, EXACT_TOL)
        return Probabilities.sampled(probs, unit.shots, n, rng)

    def _run_for(self, job: EmulatedJob, deadline: float) -> bool:
        """Wait (lock held) until clock ``deadline``; False if the job was canceled or the
        device is stopping first."""
        while job.status == STARTED and not self._stopping.is_set():
            now = self._clock.monotonic()
            if now >= deadline:
                return True
            self._clock.wait(self._cond, deadline - now)
        return False

    def _execute(self, job: EmulatedJob) -> None:
        units = job.children or [job]
        total = 0.0
        rng = job.rng
        assert rng is not None
        for i, unit in enumerate(units):
            with self._cond:
                if job.status != STARTED:
                    return
                if unit is not job:
                    unit.status, unit.start = STARTED, self._clock.time()
                t0 = self._clock.monotonic()
            try:
                probs = self._simulate(unit, rng)
            except Exception as exc:  # reported as a failed job, with the reason
                with self._cond:
                    if job.status == STARTED:
                        self._finish(job, FAILED, {"code": "SimulationError",
                                                   "message": f"simulation failed: {exc!r}"})
                return
            n1, n2 = unit.gate_counts
            seconds = self._latency().circuit_seconds(unit.shots, n1, n2)
            with self._cond:
                if not self._run_for(job, t0 + seconds):
                    return
                elapsed = self._clock.monotonic() - t0
                total += elapsed
                unit.probabilities, unit.execution_time = probs, elapsed
                self._stored += len(probs)
                if unit is not job:
                    unit.status, unit.response = COMPLETED, self._clock.time()
                if i == len(units) - 1:  # under the same lock: nobody sees it half-finished
                    job.execution_time = total
                    self._finish(job, COMPLETED, None)
