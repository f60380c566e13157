"""The backend protocol: JobStatus, CircuitResult, JobResult, job validation, and the job
lifecycle of InProcessBackend (cancel, timeout, failure, ordering, seeds)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend
from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    JobResult,
    JobStatus,
    as_circuit_list,
)
from q_store.circuit import Circuit, theta
from q_store.errors import (
    BackendError,
    CircuitError,
    JobFailedError,
    JobTimeoutError,
    ValidationError,
)
from q_store.sim import StatevectorSimulator

SIM = StatevectorSimulator()
BELL = Circuit(2).h(0).cnot(0, 1).ry(1, 0.3)


def marker(wire: int, n: int = 3) -> Circuit:
    """|0..1..0> with the 1 on ``wire``: its result says which circuit it was."""
    return Circuit(n).x(wire)


class Recording(LocalSimulatorBackend):
    """The exact local backend, recording each job's circuits; jobs can be held until
    :attr:`release` is set, made to fail, or limited to one circuit per job."""

    def __init__(self, *, batch_jobs: bool = True, exact: bool = True,
                 hold: bool = False, fail: Exception | None = None) -> None:
        super().__init__("recording")
        self.batch_jobs = batch_jobs
        self.exact = exact
        self.fail = fail
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.started = threading.Event()
        self.calls: list[list[Circuit]] = []

    @property
    def capabilities(self) -> BackendCapabilities:
        return replace(super().capabilities, batch_jobs=self.batch_jobs,
                       exact_expectations=self.exact)

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        self.calls.append(circuits)
        self.started.set()
        if not self.release.wait(10.0):
            raise RuntimeError("test job was never released")
        if self.fail is not None:
            raise self.fail
        return super()._execute(circuits, shots, rng)


def run(backend: Recording, work: Callable[[Recording], Awaitable[Any]]) -> Any:
    """Run ``work`` in a fresh loop; held jobs are released on the way out (so no worker thread
    outlives the test) and the backend is closed."""
    async def go() -> Any:
        try:
            return await work(backend)
        finally:
            backend.release.set()
            await backend.close()
    return asyncio.run(go())


# -- JobStatus, CircuitResult, JobResult -------------------------------------------------------

def test_job_status_parse_and_done() -> None:
    assert JobStatus.parse("running") is JobStatus.STARTED  # v0.3's name
    assert JobStatus.parse("cancelled") is JobStatus.CANCELED
    assert JobStatus.parse("ready") is JobStatus.READY
    assert {s for s in JobStatus if s.done} == {JobStatus.COMPLETED, JobStatus.FAILED,
                                                JobStatus.CANCELED}
    with pytest.raises(BackendError, match="unknown job status 'exploded'"):
        JobStatus.parse("exploded")


def test_bitstring_counts_are_big_endian() -> None:
    r = CircuitResult(np.array([0.25, 0.0, 0.75, 0.0]), 4, {2: 3, 0: 1})
    assert r.n_qubits == 2
    assert r.bitstring_counts() == {"00": 1, "10": 3}  # index 2 = wire 0 set
    assert list(r.bitstring_counts()) == ["00", "10"]
    three = CircuitResult(np.eye(8)[1], 5, {1: 5})
    assert three.bitstring_counts() == {"001": 5}
    with pytest.raises(BackendError, match="exact result has no counts"):
        CircuitResult(np.array([0.5, 0.5])).bitstring_counts()


def test_sampled_result_is_a_seeded_multinomial() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    a = CircuitResult.sampled(p, 1000, np.random.default_rng(5))
    b = CircuitResult.sampled(p, 1000, np.random.default_rng(5))
    hist = np.random.default_rng(5).multinomial(1000, p)
    assert a.counts == b.counts == {i: int(v) for i, v in enumerate(hist) if v}
    np.testing.assert_array_equal(a.probabilities, hist / 1000)
    assert a.shots == 1000
    # rounding noise (tiny negatives, sums off by 1e-16) is clipped and renormalised
    noisy = CircuitResult.sampled(np.array([-1e-17, 0.5, 0.5 + 1e-16, 0.0]), 100,
                                  np.random.default_rng(0))
    assert set(noisy.counts) <= {1, 2} and sum(noisy.counts.values()) == 100


def test_job_result_sequence() -> None:
    rs = (CircuitResult(np.array([1.0, 0.0])), CircuitResult(np.array([0.0, 1.0])))
    job = JobResult("j1", "b", rs)
    assert len(job) == 2 and job[1] is rs[1] and list(job) == list(rs)
    assert [p.tolist() for p in job.probabilities] == [[1.0, 0.0], [0.0, 1.0]]


# -- validation at submission ----------------------------------------------------------------

def test_as_circuit_list_rejects_bad_jobs() -> None:
    assert as_circuit_list(BELL) == [BELL]
    assert as_circuit_list((BELL, marker(0))) == [BELL, marker(0)]
    with pytest.raises(CircuitError, match="at least one circuit"):
        as_circuit_list([])
    with pytest.raises(CircuitError, match="job item 1 is str"):
        as_circuit_list([BELL, "h q[0];"])  # type: ignore[list-item]
    with pytest.raises(CircuitError, match=r"unbound symbols \(theta\[0\]\).*Circuit.bind"):
        as_circuit_list([Circuit(1).ry(0, theta[0])])
    with pytest.raises(CircuitError, match="circuit 0 has 5 qubits; this backend runs at most 4"):
        as_circuit_list(Circuit(5).x(4), max_qubits=4)


@pytest.mark.parametrize("shots", [0, -3, 1.5, True, "100"])
def test_bad_shots_rejected(shots: object) -> None:
    async def work(b: Recording) -> None:
        with pytest.raises(ValidationError, match="shots must be a positive integer"):
            await b.submit_job_async(BELL, shots)  # type: ignore[arg-type]

    backend = Recording()
    run(backend, work)
    assert backend.calls == []


@pytest.mark.parametrize("seed", [-1, 1.5, "3"])
def test_bad_seed_rejected(seed: object) -> None:
    async def work(b: Recording) -> None:
        with pytest.raises(BackendError, match="seed must be a non-negative integer"):
            await b.submit_job_async(BELL, 10, seed=seed)  # type: ignore[arg-type]

    backend = Recording()
    run(backend, work)
    assert backend.calls == []


def test_bool_seed_rejected_like_ionq() -> None:
    async def work(b: Recording) -> None:
        with pytest.raises(BackendError, match="seed"):
            await b.submit_job_async(BELL, 10, seed=True)

    run(Recording(), work)


def test_unbound_and_oversized_circuits_rejected_before_running() -> None:
    backend = Recording()
    limit = backend.capabilities.max_qubits

    async def work(b: Recording) -> None:
        with pytest.raises(CircuitError, match="unbound symbols"):
            await b.submit_job_async([BELL, Circuit(1).rx(0, theta[0])], None)
        with pytest.raises(CircuitError, match=f"runs at most {limit}"):
            await b.submit_job_async(Circuit(limit + 1).x(0), 10)

    run(backend, work)
    assert backend.calls == []


def test_sampling_only_backend_refuses_exact_jobs() -> None:
    backend = Recording(exact=False)

    async def work(b: Recording) -> CircuitResult:
        with pytest.raises(BackendError, match="only samples"):
            await b.submit_job_async(BELL, None)
        return await b.run(BELL, 100, seed=1)

    assert run(backend, work).shots == 100
    assert len(backend.calls) == 1


# -- the job lifecycle -------------------------------------------------------------------------

def test_job_runs_to_completed_with_results_in_order() -> None:
    circuits = [marker(2), marker(0), BELL, marker(1)]

    async def work(b: Recording) -> tuple[list[JobStatus], JobResult, str]:
        job = await b.submit_job_async(circuits, None)
        first = await b.check_job_status(job)
        result = await b.get_job_result(job)
        return [first, await b.check_job_status(job)], result, job

    statuses, result, job = run(Recording(), work)
    assert statuses[0] in (JobStatus.SUBMITTED, JobStatus.STARTED, JobStatus.COMPLETED)
    assert statuses[1] is JobStatus.COMPLETED
    assert result.job_id == job and result.backend == "recording"
    assert [int(np.argmax(r.probabilities)) for r in result.circuits[:2]] == [0b001, 0b100]
    np.testing.assert_allclose(result[2].probabilities, SIM.probabilities(BELL), atol=1e-12)
    assert int(np.argmax(result[3].probabilities)) == 0b010


def test_cancel_before_start() -> None:
    backend = Recording()

    async def work(b: Recording) -> JobStatus:
        job = await b.submit_job_async(BELL, None)
        await b.cancel_job(job)  # before the loop ever ran the job
        with pytest.raises(JobFailedError, match="canceled"):
            await b.get_job_result(job)
        return await b.check_job_status(job)

    assert run(backend, work) is JobStatus.CANCELED
    assert backend.calls == []  # the simulator never saw it


def test_status_is_canceled_right_after_cancel() -> None:
    async def work(b: Recording) -> JobStatus:
        job = await b.submit_job_async(BELL, None)
        await b.cancel_job(job)
        return await b.check_job_status(job)

    assert run(Recording(), work) is JobStatus.CANCELED


def test_cancel_of_a_running_job_lets_it_finish() -> None:
    backend = Recording(hold=True)

    async def work(b: Recording) -> tuple[JobStatus, JobResult]:
        job = await b.submit_job_async(BELL, None)
        assert await asyncio.to_thread(b.started.wait, 10.0)
        status = await b.check_job_status(job)
        await b.cancel_job(job)
        b.release.set()
        return status, await b.get_job_result(job)

    status, result = run(backend, work)
    assert status is JobStatus.STARTED
    np.testing.assert_allclose(result[0].probabilities, SIM.probabilities(BELL), atol=1e-12)


def test_timeout_raises_and_the_job_keeps_running() -> None:
    backend = Recording(hold=True)

    async def work(b: Recording) -> tuple[JobStatus, JobResult]:
        job = await b.submit_job_async(BELL, None)
        with pytest.raises(JobTimeoutError, match=r"did not finish within 0\.05 s"):
            await b.get_job_result(job, timeout=0.05)
        status = await b.check_job_status(job)
        b.release.set()
        return status, await b.get_job_result(job, timeout=10.0)

    status, result = run(backend, work)
    assert status in (JobStatus.SUBMITTED, JobStatus.STARTED)
    assert result[0].n_qubits == 2
    assert len(backend.calls) == 1


def test_failing_job_raises_job_failed_error() -> None:
    backend = Recording(fail=RuntimeError("ion trap on fire"))

    async def work(b: Recording) -> JobStatus:
        job = await b.submit_job_async(BELL, None)
        with pytest.raises(JobFailedError, match="failed: ion trap on fire") as info:
            await b.get_job_result(job)
        assert isinstance(info.value.__cause__, RuntimeError)
        return await b.check_job_status(job)

    assert run(backend, work) is JobStatus.FAILED


def test_backend_error_inside_a_job_is_a_job_failure() -> None:
    async def work(b: Recording) -> None:
        job = await b.submit_job_async(BELL, None)
        with pytest.raises(JobFailedError):
            await b.get_job_result(job)

    run(Recording(fail=BackendError("simulator crashed")), work)


def test_unknown_job_id() -> None:
    async def work(b: Recording) -> None:
        for call in (b.check_job_status, b.get_job_result, b.cancel_job):
            with pytest.raises(BackendError, match="has no job 'nope'"):
                await call("nope")

    run(Recording(), work)


def test_close_cancels_unfinished_jobs_and_forgets_them() -> None:
    async def work(b: Recording) -> None:
        job = await b.submit_job_async(BELL, None)
        await b.close()
        with pytest.raises(BackendError, match="has no job"):
            await b.check_job_status(job)

    run(Recording(), work)


# -- execute_batch and run ---------------------------------------------------------------------

def test_execute_batch_one_job_keeps_order() -> None:
    backend = Recording()
    circuits = [marker(1), marker(2), marker(0), marker(0, 1)]
    results = run(backend, lambda b: b.execute_batch(circuits))
    assert len(backend.calls) == 1 and backend.calls[0] == circuits
    assert [int(np.argmax(r.probabilities)) for r in results] == [0b010, 0b001, 0b100, 0b1]
    assert [r.n_qubits for r in results] == [3, 3, 3, 1]


def test_execute_batch_one_job_per_circuit_with_consecutive_seeds() -> None:
    backend = Recording(batch_jobs=False)
    circuits = [BELL, marker(2), BELL]

    async def work(b: Recording) -> tuple[list[CircuitResult], list[CircuitResult]]:
        batch = await b.execute_batch(circuits, 500, seed=40)
        singles = [await b.run(c, 500, seed=40 + i) for i, c in enumerate(circuits)]
        return batch, singles

    batch, singles = run(backend, work)
    assert sorted(map(len, backend.calls)) == [1] * 6  # one circuit per job
    assert [r.counts for r in batch] == [r.counts for r in singles]
    assert batch[0].counts != batch[2].counts  # the same circuit, different seeds
    assert batch[1].counts == {0b001: 500}


def test_run_is_one_seeded_circuit() -> None:
    async def work(b: Recording) -> tuple[CircuitResult, CircuitResult, CircuitResult]:
        return (await b.run(BELL, 300, seed=9), await b.run(BELL, 300, seed=9),
                await b.run(BELL))

    a, b, exact = run(Recording(), work)
    assert a.counts == b.counts and sum(a.counts.values()) == 300
    np.testing.assert_allclose(exact.probabilities, SIM.probabilities(BELL), atol=1e-12)


# -- job retention ------------------------------------------------------------------------------

def test_delivered_jobs_are_released_beyond_a_small_lru() -> None:
    """A delivered job answers again while it is among the last ``keep_results``; after that it
    is released and asking for it says so. Undelivered jobs are never released."""
    async def work(b: Recording) -> None:
        b.keep_results = 2
        pending = await b.submit_job_async(marker(1), None)
        jobs = [await b.submit_job_async(marker(i % 3), None) for i in range(4)]
        first = await b.get_job_result(jobs[0])
        again = await b.get_job_result(jobs[0])  # still in the LRU: same results
        assert again.probabilities[0].tolist() == first.probabilities[0].tolist()
        for j in jobs[1:]:
            await b.get_job_result(j)
        assert b.retained_jobs == 1 + 2  # the undelivered job and the last two delivered
        assert await b.check_job_status(jobs[-1]) is JobStatus.COMPLETED
        with pytest.raises(BackendError, match="results were delivered and then released"):
            await b.get_job_result(jobs[0])
        with pytest.raises(BackendError, match="keeps only the last 2 delivered jobs"):
            await b.check_job_status(jobs[1])
        assert int(np.argmax((await b.get_job_result(pending))[0].probabilities)) == 0b010

    run(Recording(), work)


def test_failed_jobs_are_released_once_their_failure_is_delivered() -> None:
    async def work(b: Recording) -> None:
        b.keep_results = 0
        job = await b.submit_job_async(BELL, None)
        with pytest.raises(JobFailedError):
            await b.get_job_result(job)
        assert b.retained_jobs == 0
        with pytest.raises(BackendError, match="released"):
            await b.check_job_status(job)

    run(Recording(fail=RuntimeError("boom")), work)


def test_ten_thousand_jobs_keep_memory_flat() -> None:
    """A long run (one job per training step) through the local backend: the jobs held stay
    bounded and traced memory does not grow between job 1,000 and job 10,000 (the old backend
    kept every job, with its probability arrays, until close)."""
    import tracemalloc

    circuit = Circuit(4).h(0).cnot(0, 1).ry(2, 0.3).cnot(2, 3)
    held: list[int] = []

    async def work(b: LocalSimulatorBackend) -> int:
        for i in range(10_000):
            if i == 1_000:  # trace from job 1,000 on: what is still held at the end is growth
                tracemalloc.start()
            job = await b.submit_job_async(circuit, None)
            result = await b.get_job_result(job)
            assert result[0].probabilities.shape == (16,)
            held.append(b.retained_jobs)
        grown = tracemalloc.get_traced_memory()[0]
        await b.close()
        return grown

    try:
        grown = asyncio.run(work(LocalSimulatorBackend()))
    finally:
        tracemalloc.stop()
    assert max(held) <= LocalSimulatorBackend.keep_results
    # what is left is the LRU of the last 64 jobs (~180 KB); unbounded retention costs about
    # 2 KB per job, so the 9,000 traced jobs would hold ~18 MB
    assert grown < 1024 * 1024, grown
