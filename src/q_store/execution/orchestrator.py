"""``MultiBackendOrchestrator``: one pipeline's circuits spread over several backends.

A submitter (:class:`~q_store.execution.pipeline.Submitter`) for the circuit pipeline. Per
call it

* splits the circuits over the usable backends in proportion to their measured throughput
  (circuits per second each backend delivered in earlier calls, an exponential average; before a
  backend has been measured, its ``weight`` times the others' mean, or the weights alone), so the
  split rebalances as it learns;
* keeps within the budget: the placement's price is charged before anything is submitted
  (all or nothing); when the throughput split would cost more than is left, circuits move from
  the dearest backends to the cheapest until it fits (or :class:`BudgetExceededError`);
* fails over: a job that errors, or misses its deadline (``job_deadline``, or sooner, once the
  backend is measured, ``stall_factor`` times its predicted time but at least ``min_deadline``;
  on top of the queue and execution time a backend predicts itself, as IonQ does; a response
  that never comes counts too),
  has its circuits re-split over the backends not yet tried for them; the failing backend is
  left out of new calls for ``cooldown`` seconds. No circuit is lost: when every backend failed
  for some circuits the call raises :class:`JobFailedError`. None runs twice where that costs
  money: a paid job is cancelled and its status read back before its circuits go elsewhere; if it
  had completed meanwhile its results are used, and if its fate cannot be confirmed (the backend
  is unreachable) the call raises instead of paying twice. A paid submission is never cut short
  (IonQ's client makes it idempotent and bounds it); if it fails in a way that may have created
  the job, the call raises too. Charges of failed jobs stay on the budget (conservative).

Results do not depend on the split: every circuit comes with its own seed from the pipeline,
and backends sample each circuit from its seed. This makes results identical whatever the split
when the backends sample alike (several backends of one kind: local simulators, IonQ servers);
backends of different kinds (e.g. Qiskit Aer and the local simulator) give statistically
equivalent, not identical, samples. Mixing exact and sampled backends, or noisy and noiseless
ones, inside one gradient is refused unless ``allow_mixed_exactness=True``.

Events (to ``tracker``): ``job`` per job (backend label, circuits, shots, submit/wait/queue
seconds, status) and ``backend_stats`` per call (the split and every backend's totals);
finished jobs also go to listeners (:meth:`MultiBackendOrchestrator.add_job_listener`, e.g. the
adaptive queue manager). The trainer's ``backend`` is the orchestrator (``name``,
``capabilities``, ``estimate_cost``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    JobResult,
    JobStatus,
    QuantumBackend,
)
from q_store.backends.cost import CostBudget, CostEstimate
from q_store.circuit.ir import Circuit
from q_store.errors import BackendError, ConfigError, JobFailedError
from q_store.execution.pipeline import seeded_jobs
from q_store.execution.placement import (
    BackendSlot,
    Part,
    labels,
    place,
    print_backend_table,
)
from q_store.execution.result_cache import backend_identity

__all__ = ["BackendSlot", "MultiBackendOrchestrator", "print_backend_table"]

_FAILURES = (BackendError, TimeoutError, asyncio.TimeoutError, OSError)
_ALPHA = 0.5  # weight of the newest throughput measurement


class _Failed(Exception):
    """A chunk's job failed in a way that lets its circuits go elsewhere."""


class MultiBackendOrchestrator:
    """Runs a pipeline's jobs on several backends (see the module docstring).

    ``backends``: two or more (one works too); ``names``: their labels in stats and events
    (default: the backend's name, numbered when repeated); ``weights``: prior relative
    throughputs (default 1); ``max_circuits_per_job``: per-backend job size caps (None: the
    pipeline's job size); ``shots``: the shots the pipeline runs with (for the exactness check);
    ``budget``: the :class:`CostBudget` it charges (the pipeline's); ``clock``: monotonic
    seconds for throughput (tests may pass a fake one).
    """

    charges_budget = True
    max_job_size = None

    def __init__(self, backends: Sequence[QuantumBackend], *, shots: int | None = None,
                 names: Sequence[str] | None = None, weights: Sequence[float] | None = None,
                 max_circuits_per_job: Sequence[int | None] | None = None,
                 budget: CostBudget | None = None, job_deadline: float = 60.0,
                 min_deadline: float = 5.0, stall_factor: float | None = 4.0,
                 cooldown: float = 30.0, control_timeout: float = 10.0,
                 allow_mixed_exactness: bool = False, tracker: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        backends = list(backends)
        if not backends or not all(isinstance(b, QuantumBackend) for b in backends):
            raise ConfigError("MultiBackendOrchestrator needs a non-empty list of backends "
                              "(QuantumBackend instances)")
        n = len(backends)
        names = list(names) if names is not None else labels(backends)
        weights = list(weights) if weights is not None else [1.0] * n
        caps = list(max_circuits_per_job) if max_circuits_per_job is not None else [None] * n
        if not len(names) == len(weights) == len(caps) == n:
            raise ConfigError(f"names, weights and max_circuits_per_job need one entry per "
                              f"backend ({n})")
        if len(set(names)) != n:
            raise ConfigError(f"backend labels must be unique, got {names}")
        for w in weights:
            _positive("weight", w)
        for c in caps:
            if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 1):
                raise ConfigError(f"max_circuits_per_job must be a positive integer or None, "
                                  f"got {c!r}")
        for name, value in (("job_deadline", job_deadline), ("min_deadline", min_deadline),
                            ("cooldown", cooldown), ("control_timeout", control_timeout)):
            _positive(name, value)
        if stall_factor is not None:
            _positive("stall_factor", stall_factor)
        self.slots = [BackendSlot(str(label), b, float(w), c)
                      for label, b, w, c in zip(names, backends, weights, caps, strict=True)]
        self.shots = shots
        self.allow_mixed_exactness = bool(allow_mixed_exactness)
        self.budget = budget if budget is not None else CostBudget(None)
        self.job_deadline, self.min_deadline = float(job_deadline), float(min_deadline)
        self.stall_factor = None if stall_factor is None else float(stall_factor)
        self.cooldown, self.control_timeout = float(cooldown), float(control_timeout)
        self.tracker = tracker
        self.clock = clock
        self.name = "multi[" + ",".join(s.label for s in self.slots) + "]"
        self.stats = {"jobs": 0, "retried_jobs": 0, "calls": 0}
        self._background: set[asyncio.Task[Any]] = set()
        self._listeners: list[Any] = []
        self._check_kinds(self.slots, shots)

    def __repr__(self) -> str:
        inner = ", ".join(f"{s.label}={s.backend!r}" for s in self.slots)
        return f"MultiBackendOrchestrator({inner})"

    # -- what the pipeline and the trainer ask --------------------------------------------------
    @property
    def backends(self) -> list[QuantumBackend]:
        return [s.backend for s in self.slots]

    @property
    def capabilities(self) -> BackendCapabilities:
        """What every backend can do (a circuit may land on any of them)."""
        caps = [s.backend.capabilities for s in self.slots]
        dearest = max(caps, key=lambda c: (c.cost_model.minimum_per_circuit,
                                           c.cost_model.usd_per_2q_gate_shot))
        return BackendCapabilities(
            max_qubits=min(c.max_qubits for c in caps),
            exact_expectations=all(c.exact_expectations for c in caps),
            noisy=any(c.noisy for c in caps), batch_jobs=True, cost_model=dearest.cost_model,
            exact_with_shots=all(c.exact_with_shots for c in caps))

    def estimate_cost(self, circuits: Sequence[Circuit], shots: int | None) -> CostEstimate:
        """The price of the placement the next call would choose for ``circuits``."""
        circuits = list(circuits)
        slots = self._usable(shots, circuits)
        return place(list(range(len(circuits))), circuits, shots, slots,
                     self.budget.remaining_usd)[1]

    async def run_jobs(self, jobs: Sequence[Sequence[Circuit]], shots: int | None,
                       seeds: Sequence[Sequence[int]]) -> list[list[CircuitResult]]:
        """Results of the pipeline's jobs, in order; the circuits are re-split over the
        backends (jobs no larger than the pipeline's)."""
        circuits = [c for job in jobs for c in job]
        flat = [int(s) for job_seeds in seeds for s in job_seeds]
        if len(flat) != len(circuits):
            raise ConfigError(f"{len(flat)} seeds for {len(circuits)} circuits")
        size = max((len(j) for j in jobs), default=1)
        slots = self._usable(shots, circuits)
        t0 = self.clock()
        out: list[CircuitResult | None] = [None] * len(circuits)
        split: dict[str, int] = {}
        run = _Call(circuits, flat, shots, size, out, split)
        placement, estimate = place(list(range(len(circuits))), circuits, shots, slots,
                                    self.budget.remaining_usd)
        self._charge(estimate, placement)  # raises before anything is submitted
        await self._run_placement(placement, run, frozenset())
        self.stats["calls"] += 1
        if self.tracker is not None:
            self.tracker.emit("backend_stats", orchestrator=self.name, circuits=len(circuits),
                              split=split, failovers=run.failovers,
                              seconds=self.clock() - t0, backends=self.get_backend_stats())
        results = [r for r in out if r is not None]
        assert len(results) == len(circuits)  # every chunk either filled its results or raised
        it = iter(results)
        return [[next(it) for _ in job] for job in jobs]

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for slot in self.slots:
            await slot.backend.close()

    # -- statistics ------------------------------------------------------------------------------
    def get_backend_stats(self) -> dict[str, dict[str, Any]]:
        """Per backend label: backend name, circuits run, jobs, failures, throughput
        (circuits per second, None before it was measured), USD charged, suspended."""
        now = self.clock()
        return {s.label: {"backend": s.backend.name, "circuits": s.circuits, "jobs": s.jobs,
                          "failures": s.failures, "throughput": s.rate, "usd": s.usd,
                          "suspended": s.suspended_until > now}
                for s in self.slots}

    def print_backend_stats(self, file: TextIO | None = None) -> None:
        """The per-backend statistics as a table."""
        print_backend_table(self.get_backend_stats(), file)

    # -- choosing backends -----------------------------------------------------------------------
    @staticmethod
    def _kinds_error(slots: Sequence[BackendSlot], shots: int | None) -> str | None:
        kinds = {s.kind(shots) for s in slots}
        if len(kinds) <= 1:
            return None
        listed = ", ".join(f"{s.label}: {s.kind(shots)}" for s in slots)
        return (f"the backends give different kinds of results with shots={shots} ({listed}); "
                "one gradient would mix them. Use backends of one kind, or pass "
                "allow_mixed_exactness=True (TrainingConfig.allow_mixed_exactness) to allow it")

    def _check_kinds(self, slots: Sequence[BackendSlot], shots: int | None) -> None:
        if shots is None:
            sampling = [s.label for s in slots if not s.backend.capabilities.exact_expectations]
            if sampling:
                raise ConfigError(f"backends {sampling} only sample; set shots (e.g. "
                                  "TrainingConfig(shots=1000)) or leave them out")
        error = self._kinds_error(slots, shots)
        if error is not None and not self.allow_mixed_exactness:
            raise ConfigError(error)

    def _usable(self, shots: int | None, circuits: Sequence[Circuit]) -> list[BackendSlot]:
        """Backends that can take this call: every one when none is suspended."""
        self._check_kinds(self.slots, shots)
        qubits = max((c.n_qubits for c in circuits), default=0)
        able = [s for s in self.slots if s.backend.capabilities.max_qubits >= qubits]
        if not able:
            raise ConfigError(f"no backend of {self.name} runs {qubits} qubits")
        now = self.clock()
        awake = [s for s in able if s.suspended_until <= now]
        return awake or able

    def _charge(self, estimate: CostEstimate, placement: list[Part]) -> None:
        if estimate.usd <= 0:
            return
        self.budget.charge(estimate)
        for part in placement:
            part.slot.usd += part.usd

    def _deadline(self, slot: BackendSlot, k: int) -> float:
        """How long a job of ``k`` circuits may take on ``slot`` before it counts as
        stalled."""
        if self.stall_factor is None or slot.rate is None:
            return self.job_deadline
        predicted = (slot.latency or 0.0) + k / slot.rate
        return min(self.job_deadline, max(self.min_deadline, self.stall_factor * predicted))

    # -- running ---------------------------------------------------------------------------------
    async def _run_placement(self, placement: list[Part], run: _Call,
                             tried: frozenset[BackendSlot]) -> None:
        await asyncio.gather(*(self._run_on(p.slot, p.indices, run, tried) for p in placement))

    async def _run_on(self, slot: BackendSlot, idx: list[int], run: _Call,
                      tried: frozenset[BackendSlot]) -> None:
        """Run circuits ``idx`` on ``slot``; fail the ones whose job failed over to the
        backends not yet tried for them."""
        size = min(run.size, slot.max_circuits_per_job or run.size)
        chunks = []
        for start in range(0, len(idx), size):
            part = idx[start : start + size]
            for cs, ss in seeded_jobs(slot.backend, [run.circuits[i] for i in part],
                                      [run.seeds[i] for i in part], run.shots):
                chunks.append((part[: len(cs)], cs, ss))
                part = part[len(cs):]
        run.split[slot.label] = run.split.get(slot.label, 0) + len(idx)
        t0 = self.clock()
        done = await asyncio.gather(*(self._job(slot, cs, ss, run.shots)
                                      for _, cs, ss in chunks), return_exceptions=True)
        failed: list[int] = []
        delivered = 0
        for (part, _, _), result in zip(chunks, done, strict=True):
            if isinstance(result, _Failed):
                failed += part
            elif isinstance(result, BaseException):
                raise result
            else:
                for i, r in zip(part, result, strict=True):
                    run.out[i] = r
                delivered += len(part)
        if delivered:
            observed = delivered / max(self.clock() - t0, 1e-9)
            slot.rate = observed if slot.rate is None else (
                (1 - _ALPHA) * slot.rate + _ALPHA * observed)
            slot.circuits += delivered
        if failed:
            slot.suspended_until = self.clock() + self.cooldown
            await self._fail_over(failed, run, tried | {slot}, slot)

    async def _fail_over(self, idx: list[int], run: _Call, tried: frozenset[BackendSlot],
                         failed: BackendSlot) -> None:
        others = [s for s in self._usable(run.shots, run.circuits) if s not in tried]
        others = others or [s for s in self.slots if s not in tried
                            and s.backend.capabilities.max_qubits >= max(
                                run.circuits[i].n_qubits for i in idx)]
        if not others:
            raise JobFailedError(
                f"{len(idx)} circuits failed on every backend tried "
                f"({', '.join(s.label for s in tried)}); last failure on {failed.label}")
        run.failovers += 1
        self.stats["retried_jobs"] += 1
        placement, estimate = place(idx, run.circuits, run.shots, others,
                                    self.budget.remaining_usd)
        self._charge(estimate, placement)
        await self._run_placement(placement, run, tried)

    async def _job(self, slot: BackendSlot, circuits: list[Circuit], seeds: list[int],
                   shots: int | None) -> list[CircuitResult]:
        """One job on ``slot``: its results, or :class:`_Failed` when its circuits may go
        elsewhere (anything else propagates)."""
        backend = slot.backend
        deadline = self._deadline(slot, len(circuits))
        t0 = self.clock()
        job_id: str | None = None
        slot.jobs += 1
        self.stats["jobs"] += 1
        t1 = t0
        status = "completed"
        try:
            submit = backend.submit_job_async(circuits, shots, seed=seeds)
            # a paid submission is not cut short: it may create the job after we gave up
            job_id = await (submit if slot.paid else asyncio.wait_for(submit, deadline))
            t1 = self.clock()
            result = await self._wait(backend, job_id, max(deadline - (t1 - t0), 1e-3))
        except _FAILURES as exc:
            slot.failures += 1
            self._emit_job(slot, len(circuits), shots, t0, t1, "failed", None,
                           type(exc).__name__)
            recovered = await self._release(slot, job_id, exc)
            if recovered is None:
                raise _Failed(slot.label) from exc
            result, status = recovered, "recovered"
        self._emit_job(slot, len(circuits), shots, t0, t1, status, result)
        slot.latency = min(slot.latency or math.inf, self.clock() - t0)
        if len(result.circuits) != len(circuits):
            raise BackendError(f"{slot.label} returned {len(result.circuits)} results for "
                               f"{len(circuits)} circuits")
        return list(result.circuits)

    async def _wait(self, backend: QuantumBackend, job_id: str, limit: float) -> JobResult:
        """The job's result, or TimeoutError once it has taken ``limit`` seconds beyond what
        the backend itself allows for it (IonQ adds its predicted queue and execution time,
        reported through ``progress``): a response that never comes counts as a stall too."""
        allowed = [limit]

        def progress(state: dict[str, Any]) -> None:
            value = state.get("allowed")
            if isinstance(value, int | float) and math.isfinite(value):
                allowed[0] = max(allowed[0], float(value))

        loop = asyncio.get_running_loop()
        start = loop.time()
        task = loop.create_task(backend.get_job_result(job_id, timeout=limit,
                                                       progress=progress))
        while True:
            left = allowed[0] - (loop.time() - start)
            done, _ = await asyncio.wait({task}, timeout=max(left, 0.0))
            if done:
                return task.result()
            if loop.time() - start >= allowed[0]:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise TimeoutError(f"job {job_id} gave no result within {allowed[0]:g} s")

    async def _release(self, slot: BackendSlot, job_id: str | None, exc: BaseException
                       ) -> JobResult | None:
        """After a failed job: None when its circuits may run elsewhere, the job's own
        results when it completed after all, or an error when that cannot be known for a paid
        job (resubmitting could pay twice)."""
        backend = slot.backend
        if not slot.paid:
            if job_id is not None:
                self._in_background(self._abandon(backend, job_id))
            return None
        if job_id is None:
            if getattr(exc, "maybe_sent", True) is False:
                return None  # the submission never reached the backend
            raise BackendError(
                f"submitting a paid job to {slot.label} failed in a way that may have created "
                "it; its circuits are not sent elsewhere, which could pay for them twice "
                f"({type(exc).__name__}: {exc})") from exc
        if isinstance(exc, JobFailedError):
            return None  # failed or canceled on the backend: it produced nothing
        try:
            await asyncio.wait_for(backend.cancel_job(job_id), self.control_timeout)
            status = await asyncio.wait_for(backend.check_job_status(job_id),
                                            self.control_timeout)
            if status is JobStatus.COMPLETED:
                return await asyncio.wait_for(
                    backend.get_job_result(job_id, timeout=self.control_timeout),
                    self.control_timeout)
        except _FAILURES as err:
            raise BackendError(
                f"paid job {job_id} on {slot.label} stalled or failed ({type(exc).__name__}), "
                f"and cancelling it could not be confirmed ({type(err).__name__}: {err}); its "
                "circuits are not sent elsewhere, which could pay for them twice") from err
        if status in (JobStatus.CANCELED, JobStatus.FAILED):
            return None
        raise BackendError(f"paid job {job_id} on {slot.label} is still {status.value} after "
                           "being cancelled; its circuits are not sent elsewhere, which could "
                           "pay for them twice")

    async def _abandon(self, backend: QuantumBackend, job_id: str) -> None:
        """Cancel a free job and collect its outcome, so the backend releases it."""
        await backend.cancel_job(job_id)
        await backend.get_job_result(job_id, timeout=self.control_timeout)

    def _in_background(self, coro: Any) -> None:
        """Best-effort clean-up (cancelling a free job) that must not hold up failover."""
        async def bounded() -> None:
            try:
                await asyncio.wait_for(coro, self.control_timeout)
            except Exception:  # best effort: the job is free and abandoned
                pass

        task = asyncio.get_running_loop().create_task(bounded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def add_job_listener(self, listener: Any) -> None:
        """Call ``listener(**fields)`` with each finished job's fields (as
        :class:`~q_store.execution.pipeline.SingleBackend` does; e.g. the adaptive queue
        manager's ``record_job``)."""
        self._listeners.append(listener)

    @property
    def cache_key(self) -> Any:
        """What names these backends in result-cache keys."""
        return backend_identity(self)

    def _emit_job(self, slot: BackendSlot, circuits: int, shots: int | None, t0: float,
                  t1: float, status: str, result: JobResult | None,
                  error: str | None = None) -> None:
        fields: dict[str, Any] = {"backend": slot.label, "orchestrator": self.name,
                                  "circuits": circuits, "shots": shots, "status": status,
                                  "submit_seconds": t1 - t0, "wait_seconds": self.clock() - t1,
                                  "queue_seconds": getattr(result, "queue_seconds", None)}
        if error is not None:
            fields["error"] = error  # the exception's type only: messages may quote requests
        if self.tracker is not None:
            self.tracker.emit("job", **fields)
        if result is not None:
            for listener in self._listeners:
                listener(**fields)


@dataclass
class _Call:
    """What one ``run_jobs`` call works on (kept per call, never on the orchestrator)."""

    circuits: list[Circuit]
    seeds: list[int]
    shots: int | None
    size: int
    out: list[CircuitResult | None]
    split: dict[str, int]
    failovers: int = 0


def _positive(name: str, value: object) -> None:
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not math.isfinite(value) or value <= 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
