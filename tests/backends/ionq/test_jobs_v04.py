"""IonQBackend and IonQBatchClient against job objects shaped exactly like IonQ's documented
ones (v0.4 "Get a job"; v0.3 under /v0.3), served by the in-memory fake of ``fakes.py``:
re-attaching after a restart, reading jobs another client submitted, concurrent native-gate
submissions, releasing per-job state, validating result probabilities, bounded waits."""

from __future__ import annotations

import asyncio
import gc
import json
import math
import tracemalloc
from typing import Any

import httpx
import numpy as np
import pytest

from q_store.backends.ionq import backend as backend_module
from q_store.backends.ionq.backend import DELIVERED_KEPT, IonQBackend
from q_store.backends.ionq.batch import IonQBatchClient
from q_store.backends.ionq.client import DEFAULT_JOB_TIMEOUT, TOKEN_KEY
from q_store.backends.ionq.ledger import JobLedger
from q_store.circuit.ir import Circuit
from q_store.compile.ionq_native import IonQNativeGateCompiler
from q_store.errors import BackendError, ConfigError, JobFailedError, JobTimeoutError
from q_store.sim import StatevectorSimulator
from tests.backends.ionq.fakes import V03_JOB_FIELDS, V04_JOB_FIELDS, FakeClock, FakeIonQ

KEY = "fake-ionq-key-8e2b71c4"
EXACT = 1e-12
SIM = StatevectorSimulator()
# asymmetric: every basis state has its own probability, so a bit-order error shows
ASYM = Circuit(3).x(0).ry(1, 0.7).cnot(1, 2).rx(2, 0.3).ry(0, 0.4)
BELL = Circuit(2).h(0).cnot(0, 1).ry(1, 0.25)
VERSIONS = ("v0.4", "v0.3")


def make(fake: FakeIonQ, **kwargs: Any) -> IonQBackend:
    """A backend on ``fake``, waiting on a fake clock (no real sleeps)."""
    kwargs.setdefault("poll_min", 0.01)
    backend = IonQBackend(KEY, base_url="https://ionq.test", transport=fake.transport(),
                          **kwargs)
    FakeClock().install(backend.client)
    return backend


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def padded(circuit: Circuit, n: int) -> np.ndarray:
    """Exact probabilities of ``circuit`` run on ``n >= circuit.n_qubits`` qubits."""
    return SIM.probabilities(Circuit(n, circuit.operations))


# -- item 1: job objects this client did not submit ------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_the_fake_serves_exactly_ionqs_job_fields(version: str) -> None:
    fake = FakeIonQ()

    async def go() -> dict[str, Any]:
        async with make(fake, api_version=version) as b:
            job_id = await b.submit_job_async([ASYM, BELL])
            return await b.client.get_job(job_id)

    job = run(go())
    assert tuple(job) == (V04_JOB_FIELDS if version == "v0.4" else V03_JOB_FIELDS)
    if version == "v0.4":
        assert job["stats"]["qubits"] == 3 and job["stats"]["circuits"] == 2
        assert job["submitted_at"].endswith("Z") and len(job["child_job_ids"]) == 2
        assert job["results"]["probabilities"]["url"].endswith("/results/probabilities")
    else:
        assert job["qubits"] == 3 and len(job["children"]) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_a_restarted_run_reattaches_through_the_ledger(version: str, tmp_path) -> None:
    ledger = tmp_path / "jobs.json"
    fake = FakeIonQ(polls_to_finish=3)

    async def first_run() -> str:
        b = make(fake, api_version=version, ledger=ledger, run_key="exp")
        job_id = await b.submit_job_async([ASYM, BELL, Circuit(1).x(0)], 100)
        assert not (await b.check_job_status(job_id)).done
        await b.close()  # the process stops before the job finishes
        return job_id

    async def second_run() -> tuple[str, Any]:
        async with make(fake, api_version=version, ledger=ledger, run_key="exp") as b:
            again = await b.submit_job_async([ASYM, BELL, Circuit(1).x(0)], 100)
            return again, await b.get_job_result(again)

    job_id = run(first_run())
    again, res = run(second_run())
    assert again == job_id and fake.created == 1
    # the re-submitted request rebuilt each circuit's own qubit count
    for c, r in zip([ASYM, BELL, Circuit(1).x(0)], res.circuits, strict=True):
        np.testing.assert_allclose(r.probabilities, SIM.probabilities(c), atol=EXACT)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reserved_ledger_entry_is_found_by_its_token(version: str, tmp_path) -> None:
    """The process stopped between reserving a token and recording the job id: the token is
    found among IonQ's jobs (v0.4: paged by submitted_at) and nothing is submitted again."""
    ledger = JobLedger(tmp_path / "jobs.json")
    fake = FakeIonQ(page_size=2)
    b = make(fake, api_version=version, ledger=ledger, run_key="exp")
    body, _ = b.build_request([ASYM], 100)
    key = f"{b.request_key(body)}-0"
    entry = ledger.reserve(key)

    async def go() -> tuple[str, Any]:
        async with b:
            await b.client.create_job(body, token=entry.token)  # it reached IonQ
            others = make(fake, api_version=version)
            for _ in range(5):  # newer jobs, so the lookup has to page
                await others.submit_job_async([BELL])
            await others.close()
            job_id = await b.submit_job_async([ASYM], 100)
            return job_id, await b.get_job_result(job_id)

    job_id, res = run(go())
    assert fake.created == 6 and ledger.get(key).job_id == job_id  # type: ignore[union-attr]
    assert fake.jobs[job_id].body["metadata"][TOKEN_KEY] == entry.token
    np.testing.assert_allclose(res[0].probabilities, SIM.probabilities(ASYM), atol=EXACT)


@pytest.mark.parametrize("version", VERSIONS)
def test_results_parallel_on_a_new_batch_client(version: str) -> None:
    """A new IonQBatchClient (say, after a restart) reads jobs it never submitted: every
    circuit of such a job spans the job's qubits (v0.4 stats.qubits, v0.3 qubits)."""
    fake = FakeIonQ(polls_to_finish=2)
    jobs = [[ASYM], [BELL, Circuit(2).x(1)], [ASYM, Circuit(1).x(0)]]

    async def submit() -> list[str]:
        async with make(fake, api_version=version) as b:
            return [await b.submit_job_async(j) for j in jobs]

    async def read(ids: list[str]) -> list[Any]:
        backend = make(fake, api_version=version)
        async with IonQBatchClient(backend=backend) as batch:
            return await batch.get_results_parallel(ids)

    ids = run(submit())
    results = run(read(ids))
    assert [r.job_id for r in results] == ids
    for circuits, res in zip(jobs, results, strict=True):
        n = max(c.n_qubits for c in circuits)
        for c, r in zip(circuits, res.circuits, strict=True):
            np.testing.assert_allclose(r.probabilities, padded(c, n), atol=EXACT)


# -- item 2: concurrent submissions keep their own compiled circuits -------------------------

def test_concurrent_native_submissions_keep_their_own_wire_order() -> None:
    """Two circuits whose SWAPs the compiler absorbs into different relabellings, submitted
    concurrently as separate jobs (native gates, no batching): each result is its own."""
    a = Circuit(3).x(0).ry(1, 0.3).swap(0, 1)
    b = Circuit(3).x(0).rx(2, 0.2).swap(0, 2)
    compiler = IonQNativeGateCompiler("aria")
    perms = {compiler.compile(c).output_permutation for c in (a, b)}
    assert len(perms) == 2 and all(p != (0, 1, 2) for p in perms)
    assert not np.allclose(SIM.probabilities(a), SIM.probabilities(b))
    fake = FakeIonQ(interleave=True)

    async def go() -> list[Any]:
        async with make(fake, native_gates=True) as backend:
            ids = await asyncio.gather(*(backend.submit_job_async(c) for c in (a, b, a, b)))
            return list(await asyncio.gather(*(backend.get_job_result(j) for j in ids)))

    results = run(go())
    assert fake.created == 4
    for c, r in zip((a, b, a, b), results, strict=True):
        np.testing.assert_allclose(r[0].probabilities, SIM.probabilities(c), atol=1e-9)


def test_build_request_stores_nothing_on_the_backend() -> None:
    backend = make(FakeIonQ(), native_gates=True)
    before = dict(vars(backend))
    _, layout = backend.build_request(Circuit(3).x(0).swap(0, 2))
    assert vars(backend) == before
    assert layout.qubits == (3,) and layout.job_qubits == 3
    assert layout.compiled is not None and layout.compiled[0].is_permuted


# -- item 3: per-job state is released ---------------------------------------------------------

def test_a_long_run_holds_no_per_job_state() -> None:
    """10,000 jobs through one backend: what it keeps does not grow with the job count.

    Counted, not timed: the jobs in flight and the delivered jobs it remembers (at most
    DELIVERED_KEPT) at every step, the objects the garbage collector
    tracks from job 1,000 to job 10,000, and the bytes allocated and still held over the last
    1,000 jobs (tracemalloc starts at job 8,500 and is read at 9,000 and 10,000, once the
    delivered-jobs cache and caches of URLs have been refilled with traced entries)."""
    fake = FakeIonQ(forget_delivered=True)
    circuit = Circuit(1).x(0)
    checkpoints = (1_000, 8_500, 9_000, 10_000)
    objects: dict[int, int] = {}
    traced: dict[int, int] = {}
    in_flight = 0  # the most jobs the backend had in flight (a list would itself grow)

    async def go() -> None:
        nonlocal in_flight
        async with make(fake) as backend:
            for i in range(1, checkpoints[-1] + 1):
                job_id = await backend.submit_job_async(circuit)
                in_flight = max(in_flight, len(backend._jobs))
                assert (await backend.get_job_result(job_id))[0].probabilities[1] == 1.0
                assert not backend._jobs
                assert len(backend._delivered) == min(i, DELIVERED_KEPT)
                if i in checkpoints:
                    gc.collect()
                    objects[i] = len(gc.get_objects())
                    if i == checkpoints[1]:
                        tracemalloc.start()
                    traced[i] = tracemalloc.get_traced_memory()[0]

    try:
        run(go())
    finally:
        tracemalloc.stop()
    assert in_flight == 1 and fake.created == 10_000 and not fake.jobs
    # keeping each job would add 9,000 objects and about 200 kB per 1,000 jobs
    assert objects[10_000] - objects[1_000] < 100
    assert traced[10_000] - traced[9_000] < 64_000


def test_failed_or_canceled_jobs_are_released_too() -> None:
    fake = FakeIonQ(polls_to_finish=10)

    async def go() -> IonQBackend:
        async with make(fake) as backend:
            job_id = await backend.submit_job_async(BELL)
            assert job_id in backend._jobs
            await backend.cancel_job(job_id)
            with pytest.raises(JobFailedError, match="canceled"):
                await backend.get_job_result(job_id)
            return backend

    backend = run(go())
    assert backend._jobs == {} and not backend._delivered


def test_a_timed_out_wait_keeps_the_job_for_the_next_wait() -> None:
    fake = FakeIonQ(polls_to_finish=150)  # later than 0.2 s beyond the predicted 0.5 s

    async def go() -> Any:
        async with make(fake, job_timeout=0.2) as backend:
            job_id = await backend.submit_job_async([ASYM, BELL])
            with pytest.raises(JobTimeoutError):
                await backend.get_job_result(job_id)
            assert job_id in backend._jobs
            return await backend.get_job_result(job_id, timeout=100)

    res = run(go())
    np.testing.assert_allclose(res[1].probabilities, SIM.probabilities(BELL), atol=EXACT)


def test_a_delivered_result_can_be_read_again(monkeypatch) -> None:
    """The last DELIVERED_KEPT delivered jobs keep their layout: reading a result again gives
    the same result. Older ones are read like jobs submitted elsewhere, which a native-gate
    backend refuses rather than guessing the wire order."""
    monkeypatch.setattr(backend_module, "DELIVERED_KEPT", 3)
    fake = FakeIonQ()
    swapped = Circuit(3).x(0).swap(0, 2)

    async def go() -> None:
        async with make(fake, native_gates=True) as backend:
            job_id = await backend.submit_job_async([swapped, BELL])
            first = await backend.get_job_result(job_id)
            again = await backend.get_job_result(job_id)
            for c, a, b in zip([swapped, BELL], first, again, strict=True):
                np.testing.assert_allclose(a.probabilities, SIM.probabilities(c), atol=1e-9)
                np.testing.assert_array_equal(a.probabilities, b.probabilities)
            for _ in range(3):
                await backend.get_job_result(await backend.submit_job_async(BELL))
            assert job_id not in backend._delivered and len(backend._delivered) == 3
            with pytest.raises(BackendError, match="relabelled wires"):
                await backend.get_job_result(job_id)

    run(go())


# -- item 4: bounded waits ---------------------------------------------------------------------

def test_a_stuck_job_times_out_by_default() -> None:
    fake = FakeIonQ(polls_to_finish=10**9)  # "started" for ever

    async def go(backend: IonQBackend) -> None:
        async with backend:
            job_id = await backend.submit_job_async(BELL)
            # the default hour beyond IonQ's predicted duration (0.5 s in the fake's jobs)
            with pytest.raises(JobTimeoutError, match=r"within 3600\.5 s \(3600 s beyond"):
                await backend.get_job_result(job_id)

    backend = make(fake)
    clock = FakeClock(limit=10 * DEFAULT_JOB_TIMEOUT).install(backend.client)
    run(go(backend))
    assert backend.job_timeout == DEFAULT_JOB_TIMEOUT == clock.now - 0.5
    assert make(fake, job_timeout=None).job_timeout == DEFAULT_JOB_TIMEOUT
    assert make(fake, job_timeout=7 * 86400).job_timeout == 7 * 86400
    with pytest.raises(ConfigError, match="finite"):
        make(fake, job_timeout=math.inf)


# -- item 4: result probabilities are validated ------------------------------------------------

def _result_of(answer: Any, circuits: list[Circuit] | None = None) -> Any:
    fake = FakeIonQ()

    async def go() -> Any:
        async with make(fake) as backend:
            job_id = await backend.submit_job_async(circuits or [BELL])
            fake.results_override[job_id] = answer(job_id, fake)
            return await backend.get_job_result(job_id)

    return run(go())


@pytest.mark.parametrize(("answer", "match"), [
    ({"0": float("nan"), "3": 1.0}, r"probability of state 0 is nan, not a finite number"),
    ({"0": float("inf")}, "not a finite number"),
    ({"0": 1.2, "3": -0.2}, r"probability of state 3 is negative \(-0\.2"),
    ({"0": 0.5, "3": 0.4}, r"sum to 0\.9.*not 1"),
    ({"0": 0.5, "3": 0.6}, r"sum to 1\.1.*not 1"),
    ({}, r"sum to 0\.0"),
    ({"0": 0.5, "4": 0.5}, r"key '4' is not a basis state of the job's 2 qubits \(allowed: "
                           r"decimal integers 0 to 3\)"),
    ({"0": 0.5, "-1": 0.5}, "key '-1' is not a basis state"),
    ({"0": 0.5, "0x3": 0.5}, "key '0x3' is not a basis state"),
    ({"0": 0.5, "\u0663": 0.5}, "is not a basis state"),  # ARABIC-INDIC DIGIT THREE
    ({"0": 0.5, "3" * 5000: 0.5}, "is not a basis state"),
    ({"0": "0.5", "3": 0.5}, "is '0.5', not a finite number"),
    ({"0": True}, "is True, not a finite number"),
    ({"0": 10**400}, "not a finite number"),
    ([0.5, 0.5], "is an array, expected a JSON object"),
])
def test_malformed_probabilities_are_refused(answer: Any, match: str) -> None:
    with pytest.raises(BackendError, match=match) as err:
        _result_of(lambda job_id, fake: answer)
    assert "job-000000" in str(err.value)


def test_malformed_multi_circuit_results_are_refused() -> None:
    def child_not_a_map(job_id: str, fake: FakeIonQ) -> Any:
        first, second = fake.jobs[job_id].children
        return {first: {"0": 1.0}, second: "all zeros"}

    with pytest.raises(BackendError, match=r"circuit 1 of IonQ job .* str for its"):
        _result_of(child_not_a_map, [BELL, BELL])

    def child_missing(job_id: str, fake: FakeIonQ) -> Any:
        return {fake.jobs[job_id].children[0]: {"0": 1.0}}

    with pytest.raises(BackendError, match="lack child jobs"):
        _result_of(child_missing, [BELL, BELL])


def test_results_within_the_tolerance_are_accepted() -> None:
    res = _result_of(lambda job_id, fake: {"0": 0.5 + 4e-7, "3": 0.5, "1": -1e-12})
    np.testing.assert_allclose(res[0].probabilities, [0.5 + 4e-7, 0, 0, 0.5])
    assert res[0].probabilities.min() >= 0.0
    # a readout flip on a job qubit the circuit does not use is summed out, not refused
    res = _result_of(lambda job_id, fake: {fake.jobs[job_id].children[0]: {"0": 1.0},
                                           fake.jobs[job_id].children[1]: {"0": 0.9,
                                                                           "4": 0.1}},
                     [ASYM, BELL])
    np.testing.assert_allclose(res[1].probabilities, [1.0, 0, 0, 0])


@pytest.mark.parametrize(("field", "value", "match"), [
    ("child_job_ids", "job-1", "child job ids are 'job-1'"),
    ("child_job_ids", [1, 2], r"child job ids are \[1, 2\]"),
    ("shots", None, "shots=None"),
    ("failure", "boom", None),
])
def test_job_objects_of_the_wrong_shape_raise_backend_errors(field: str, value: Any,
                                                             match: str | None) -> None:
    fake = FakeIonQ()
    original = fake.job_object

    def broken(job: Any, version: str) -> dict[str, Any]:
        obj = original(job, version) if field != "failure" else {
            **original(job, version), "status": "failed"}
        obj[field] = value
        return obj

    fake.job_object = broken  # type: ignore[method-assign]

    async def go() -> Any:
        async with make(fake, noise_model="aria-1") as backend:
            job_id = await backend.submit_job_async(BELL, 100)
            return await backend.get_job_result(job_id)

    if match is None:
        with pytest.raises(JobFailedError, match=r"failed \(no code\): boom"):
            run(go())
    else:
        with pytest.raises(BackendError, match=match):
            run(go())


def test_wrong_shaped_answers_never_escape_as_raw_python_errors() -> None:
    for answer in ([], "x", 3, None, {"status": "completed", "noise": "x", "shots": "many"}):
        handler = (lambda r, a=answer: httpx.Response(200, json=a))  # noqa: E731
        backend = IonQBackend(KEY, base_url="https://ionq.test",
                              transport=httpx.MockTransport(handler), noise_model="aria-1")
        FakeClock().install(backend.client)
        with pytest.raises(BackendError):
            run(backend.get_job_result("job-1"))


@pytest.mark.parametrize("queue", [None, "soon", -5, float("nan")])
def test_a_malformed_queue_time_is_a_backend_error(queue: Any) -> None:
    answer = [{"backend": "simulator", "status": "available", "average_queue_time": queue}]
    transport = httpx.MockTransport(lambda r: httpx.Response(
        200, content=json.dumps(answer).encode(), headers={"Content-Type": "application/json"}))

    async def go() -> float:
        async with IonQBatchClient(KEY, base_url="https://ionq.test",
                                   transport=transport) as batch:
            return await batch.average_queue_time()

    with pytest.raises(BackendError, match="average_queue_time"):
        run(go())
