"""IonQBackend, IonQBatchClient and CirqIonQBackend end to end against the local IonQ server
over real loopback HTTP: exact distributions and bit order, multi-circuit jobs, native gates,
v0.3, noise models, injected faults without duplicate or lost jobs, re-attaching after a
restart, cancel, timeouts, API-key handling."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from q_store.backends.base import JobStatus
from q_store.backends.cost import CostModel
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.batch import CirqIonQBackend, IonQBatchClient
from q_store.backends.ionq.client import TOKEN_KEY, IonQAPIError
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.backends.ionq.ledger import JobLedger
from q_store.circuit.ir import Circuit
from q_store.compile.ionq_native import IonQNativeGateCompiler
from q_store.errors import (
    BackendError,
    CircuitError,
    ConfigError,
    JobFailedError,
    JobTimeoutError,
    NotSupportedError,
)
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel
from tests.backends.ionq.fakes import FakeClock

KEY = "emu-secret-key-5c81e07d"
EXACT = 1e-12  # the server drops exact probabilities below 1e-14
FAST = LatencyModel(time_scale=0.001)
QUEUED = LatencyModel(queue_wait=30.0)  # jobs wait 30 s: long enough to cancel or time out
SIM = StatevectorSimulator()
# asymmetric: every basis state has its own probability, so a bit-order error shows
ASYM = Circuit(3).x(0).ry(1, 0.7).cnot(1, 2).rx(2, 0.3).ry(0, 0.4)
BELL = Circuit(2).h(0).cnot(0, 1).ry(1, 0.25)


@pytest.fixture
def emu() -> Iterator[IonQEmulator]:
    with IonQEmulator(api_key=KEY, latency=FAST) as e:
        yield e


def make(emu: IonQEmulator, **kwargs: Any) -> IonQBackend:
    kwargs.setdefault("poll_min", 0.005)
    kwargs.setdefault("poll_max", 0.05)
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("lookup_window", 0.1)  # real seconds here: look a dropped POST up briefly
    kwargs.setdefault("api_key", KEY)
    return IonQBackend(base_url=emu.root_url, **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def execute(backend: IonQBackend, circuits: list[Circuit], shots: int | None = None,
                  **kwargs: Any) -> list[Any]:
    async with backend:
        return await backend.execute_batch(circuits, shots, **kwargs)


def posts(emu: IonQEmulator) -> int:
    return sum(1 for m, p, _ in emu.requests if m == "POST")


# -- results ---------------------------------------------------------------------------------

def test_single_circuit_exact_in_our_bit_order(emu: IonQEmulator) -> None:
    (res,) = run(execute(make(emu), [ASYM], 100))
    expected = SIM.probabilities(ASYM)
    np.testing.assert_allclose(res.probabilities, expected, atol=EXACT)
    assert len(set(np.round(expected, 6))) == 8  # the check above sees any bit permutation
    assert res.shots is None and res.counts is None  # the ideal simulator is exact


def test_multi_circuit_job_is_one_request_each_way(emu: IonQEmulator) -> None:
    circuits = [ASYM, BELL, Circuit(1).x(0), Circuit(3).h(2)]
    results = run(execute(make(emu), circuits))
    for c, r in zip(circuits, results, strict=True):
        np.testing.assert_allclose(r.probabilities, SIM.probabilities(c), atol=EXACT)
    assert emu.created_jobs_count == 1
    (job,) = [j for j in emu.jobs.values() if j.parent_id is None]
    assert job.type == "ionq.multi-circuit.v1" and len(job.child_ids) == 4
    paths = [p for m, p, _ in emu.requests]
    assert sum(p.endswith("/aggregated") for p in paths) == 1
    assert sum("/results" in p for p in paths) == 1


def test_native_gate_circuits_go_as_native(emu: IonQEmulator) -> None:
    bodies: list[bytes] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                bodies.append(request.content)
            return await super().handle_async_request(request)

    native = [IonQNativeGateCompiler(t).compile_circuit(ASYM) for t in ("aria", "forte")]
    results = run(execute(make(emu, transport=Recording()), native))
    for r in results:
        np.testing.assert_allclose(r.probabilities, SIM.probabilities(ASYM), atol=1e-9)
    assert b'"gateset":"native"' in bodies[0].replace(b" ", b"")
    with pytest.raises(CircuitError, match="one gate set"):
        run(execute(make(emu), [native[0], ASYM]))


def test_api_v03(emu: IonQEmulator) -> None:
    results = run(execute(make(emu, api_version="v0.3"), [ASYM, BELL]))
    for c, r in zip([ASYM, BELL], results, strict=True):
        np.testing.assert_allclose(r.probabilities, SIM.probabilities(c), atol=EXACT)
    assert all(p.startswith("/v0.3/") for _, p, _ in emu.requests)
    assert any(p.endswith("/results") for _, p, _ in emu.requests)


def test_noise_model_gives_seeded_shot_histograms(emu: IonQEmulator) -> None:
    shots = 4000
    backend = make(emu, noise_model="aria-1")
    assert backend.capabilities.noisy and not backend.capabilities.exact_expectations
    with pytest.raises(BackendError, match="shots"):
        run(execute(backend, [BELL]))
    first = run(execute(make(emu, noise_model="aria-1"), [BELL, ASYM], shots, seed=11))
    again = run(execute(make(emu, noise_model="aria-1"), [BELL, ASYM], shots, seed=11))
    noisy = DensityMatrixSimulator(NoiseModel.ionq_aria())
    for c, r, r2 in zip([BELL, ASYM], first, again, strict=True):
        assert r.shots == shots and sum(r.counts.values()) == shots
        np.testing.assert_array_equal(r.probabilities, r2.probabilities)
        hist = np.zeros(2**c.n_qubits)
        hist[list(r.counts)] = list(r.counts.values())
        np.testing.assert_array_equal(hist / shots, r.probabilities)
        p = noisy.probabilities(c)
        sigma = np.sqrt(p * (1 - p) / shots) + 1e-3
        assert np.all(np.abs(r.probabilities - p) < 5 * sigma)


def test_qpu_backend(emu: IonQEmulator) -> None:
    backend = make(emu, backend="qpu.aria-1")
    caps = backend.capabilities
    assert caps.max_qubits == 25 and caps.noisy and not caps.exact_expectations
    assert caps.cost_model == CostModel.ionq_aria() and caps.batch_jobs
    assert backend.estimate_cost([BELL], 100).usd == pytest.approx(97.5)
    (res,) = run(execute(backend, [BELL], 500, seed=3))
    assert sum(res.counts.values()) == 500
    assert abs(res.probabilities[0] + res.probabilities[1] - 0.5) < 0.1


def test_capabilities_and_configuration(emu: IonQEmulator) -> None:
    caps = make(emu).capabilities
    assert caps.exact_expectations and not caps.noisy and caps.cost_model.is_free
    assert caps.max_qubits == 29
    assert make(emu, backend="qpu.forte-1").capabilities.max_qubits == 36
    with pytest.raises(ConfigError, match="unknown IonQ backend"):
        make(emu, backend="qpu.nowhere")
    with pytest.raises(ConfigError, match="simulator only"):
        make(emu, backend="qpu.aria-1", noise_model="aria-1")
    with pytest.raises(ConfigError, match="noise model"):
        make(emu, noise_model="harmony")
    with pytest.raises(CircuitError, match="at most 29"):
        run(execute(make(emu), [Circuit(30).x(29)]))
    with pytest.raises(BackendError, match="at most 9"):
        run(execute_meta(make(emu), {str(i): "v" for i in range(10)}))
    assert emu.requests == ()  # nothing invalid reached the server


async def execute_meta(backend: IonQBackend, metadata: dict[str, str]) -> str:
    async with backend:
        return await backend.submit_job_async(BELL, metadata=metadata)


def test_name_and_metadata_reach_the_job(emu: IonQEmulator) -> None:
    async def go() -> str:
        async with make(emu) as b:
            job_id = await b.submit_job_async([BELL], name="epoch-1", metadata={"run": "7"})
            await b.get_job_result(job_id)
            return job_id

    job_id = run(go())
    job = emu.jobs[job_id]
    assert job.name == "epoch-1" and job.metadata["run"] == "7" and TOKEN_KEY in job.metadata


def test_results_of_a_job_submitted_elsewhere(emu: IonQEmulator) -> None:
    async def go() -> Any:
        async with make(emu) as a:
            job_id = await a.submit_job_async([BELL, Circuit(2).x(1)])
        async with make(emu) as b:  # knows nothing about the job
            return await b.get_job_result(job_id)

    res = run(go())
    np.testing.assert_allclose(res[0].probabilities, SIM.probabilities(BELL), atol=EXACT)
    np.testing.assert_allclose(res[1].probabilities, [0, 1, 0, 0], atol=EXACT)


# -- faults ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "method", "prefix", "extra"), [
    ("server_error", "POST", "/jobs", {"status": 503}),
    ("server_error", "POST", "/jobs", {"status": 524}),
    ("drop_before", "POST", "/jobs", {}),
    ("drop_after", "POST", "/jobs", {}),
    ("rate_limit", "POST", "/jobs", {"retry_after": 0}),
    ("drop_before", "GET", "/jobs/", {}),
    ("drop_after", "GET", "/jobs/", {}),
    ("server_error", "GET", "/jobs/", {"status": 502}),
    ("rate_limit", "GET", "/jobs/", {"retry_after": 0}),
])
def test_faults_are_survived_without_duplicate_jobs(emu: IonQEmulator, kind: str, method: str,
                                                    prefix: str, extra: dict[str, Any]) -> None:
    emu.faults.add(kind, times=2, method=method, path_prefix=prefix, **extra)
    results = run(execute(make(emu), [ASYM, BELL]))
    np.testing.assert_allclose(results[0].probabilities, SIM.probabilities(ASYM), atol=EXACT)
    np.testing.assert_allclose(results[1].probabilities, SIM.probabilities(BELL), atol=EXACT)
    # after a dropped POST response the job is found by its token: no second POST
    found = kind == "drop_after" and method == "POST"
    assert len(emu.faults.fired) == (1 if found else 2)
    assert emu.created_jobs_count == 1


def test_retry_after_is_waited_for(emu: IonQEmulator) -> None:
    emu.faults.add("rate_limit", times=1, retry_after=1)
    backend = make(emu)
    waits: list[float] = []
    real_sleep = backend.client.sleep

    async def recorded(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(min(seconds, 0.01))

    backend.client.sleep = recorded
    run(execute(backend, [BELL]))
    # the one backoff was the server's Retry-After (plus at most backoff_base of jitter)
    assert len(waits) >= 1 and 1.0 <= waits[0] <= 1.01
    assert emu.created_jobs_count == 1 and posts(emu) == 2


def test_read_timeout_is_retried(emu: IonQEmulator) -> None:
    emu.faults.add("slow", times=1, method="GET", path_prefix="/jobs/", seconds=1.0)
    (res,) = run(execute(make(emu, read_timeout=0.2), [ASYM]))
    np.testing.assert_allclose(res.probabilities, SIM.probabilities(ASYM), atol=EXACT)
    assert emu.faults.fired[0][0] == "slow" and emu.created_jobs_count == 1


def test_failed_job_raises_job_failed_error(emu: IonQEmulator) -> None:
    emu.faults.add("fail_job", error="ion chain lost", code="QPUError")
    with pytest.raises(JobFailedError, match=r"\(QPUError\): ion chain lost"):
        run(execute(make(emu), [BELL]))
    assert emu.created_jobs_count == 1


def test_retries_are_capped(emu: IonQEmulator) -> None:
    emu.faults.add("server_error", times=None, method="POST", status=500)
    with pytest.raises(IonQAPIError, match="HTTP 500") as err:
        run(execute(make(emu, max_retries=2), [BELL]))
    assert err.value.status == 500 and posts(emu) == 3 and emu.created_jobs_count == 0


# -- ledger: re-attaching after a restart ----------------------------------------------------

def test_restarted_run_reattaches_to_its_job(tmp_path) -> None:
    ledger = tmp_path / "jobs.json"
    queued = LatencyModel(queue_wait=0.6, seconds_per_circuit=0.0)
    with IonQEmulator(api_key=KEY, latency=queued) as emu:
        async def first_run() -> tuple[str, JobStatus]:
            b = make(emu, ledger=ledger, run_key="exp-1")
            job_id = await b.submit_job_async([ASYM, BELL], 100)
            status = await b.check_job_status(job_id)
            await b.close()  # the process "dies" before the job finishes
            return job_id, status

        job_id, status = run(first_run())
        assert not status.done

        async def second_run() -> tuple[str, Any]:
            async with make(emu, ledger=ledger, run_key="exp-1") as b:
                again = await b.submit_job_async([ASYM, BELL], 100)
                return again, await b.get_job_result(again)

        again, res = run(second_run())
        assert again == job_id and emu.created_jobs_count == 1
        np.testing.assert_allclose(res[0].probabilities, SIM.probabilities(ASYM), atol=EXACT)
        np.testing.assert_allclose(res[1].probabilities, SIM.probabilities(BELL), atol=EXACT)
        # another run key, or another request, is a new job
        emu.latency = FAST
        run(execute(make(emu, ledger=ledger, run_key="exp-2"), [ASYM, BELL], 100))
        run(execute(make(emu, ledger=ledger, run_key="exp-1"), [ASYM], 100))
        assert emu.created_jobs_count == 3
        assert len(JobLedger(ledger)) == 3


def test_identical_requests_in_a_run_are_distinct_jobs(emu: IonQEmulator, tmp_path) -> None:
    ledger = tmp_path / "jobs.json"

    async def one_run() -> list[str]:
        async with make(emu, ledger=ledger) as b:
            return [await b.submit_job_async(BELL, 100) for _ in range(2)]

    ids = run(one_run())
    assert len(set(ids)) == 2 and emu.created_jobs_count == 2
    assert run(one_run()) == ids and emu.created_jobs_count == 2


def test_crash_between_submit_and_record_is_recovered(emu: IonQEmulator, tmp_path) -> None:
    ledger = tmp_path / "jobs.json"
    emu.faults.add("drop_after", times=3, method=None, path_prefix="/jobs")
    with pytest.raises(BackendError):  # the job was created, but its id never came back
        run(execute(make(emu, ledger=ledger, max_retries=0), [BELL], 100))
    assert emu.created_jobs_count == 1
    (entry,) = [JobLedger(ledger).get(k) for k in JobLedger(ledger)]
    assert entry is not None and entry.job_id is None  # only the token was recorded
    emu.faults.clear()
    (res,) = run(execute(make(emu, ledger=ledger), [BELL], 100))
    np.testing.assert_allclose(res.probabilities, SIM.probabilities(BELL), atol=EXACT)
    assert emu.created_jobs_count == 1
    (entry,) = [JobLedger(ledger).get(k) for k in JobLedger(ledger)]
    assert entry is not None and entry.job_id in emu.jobs


def test_failed_job_in_the_ledger_is_submitted_again(emu: IonQEmulator, tmp_path) -> None:
    ledger = tmp_path / "jobs.json"
    emu.faults.add("fail_job")
    with pytest.raises(JobFailedError):
        run(execute(make(emu, ledger=ledger), [BELL], 100))
    (res,) = run(execute(make(emu, ledger=ledger), [BELL], 100))
    np.testing.assert_allclose(res.probabilities, SIM.probabilities(BELL), atol=EXACT)
    assert emu.created_jobs_count == 2


# -- cancel and timeouts ---------------------------------------------------------------------

def test_cancel() -> None:
    with IonQEmulator(api_key=KEY, latency=QUEUED) as emu:
        async def go() -> tuple[JobStatus, JobStatus]:
            async with make(emu) as b:
                job_id = await b.submit_job_async([BELL])
                before = await b.check_job_status(job_id)
                await b.cancel_job(job_id)
                after = await b.check_job_status(job_id)
                with pytest.raises(JobFailedError, match="canceled"):
                    await b.get_job_result(job_id)
                return before, after

        assert run(go()) == (JobStatus.SUBMITTED, JobStatus.CANCELED)


def test_cancel_of_a_completed_job_keeps_it(emu: IonQEmulator) -> None:
    async def go() -> JobStatus:
        async with make(emu) as b:
            job_id = await b.submit_job_async([BELL])
            await b.get_job_result(job_id)
            await b.cancel_job(job_id)
            return await b.check_job_status(job_id)

    assert run(go()) is JobStatus.COMPLETED


def test_job_timeout() -> None:
    """Timeouts are measured on the client's clock (a fake one here): no wall-time bounds. The
    wait allows ``timeout`` beyond the job's expected duration, which IonQ predicts (queue
    wait plus execution); progress is reported at every poll."""
    hour_queue = LatencyModel(queue_wait=3600.0)  # far longer than the fake waits below
    with IonQEmulator(api_key=KEY, latency=hour_queue) as emu:
        async def go() -> FakeClock:
            async with make(emu, job_timeout=0.3, poll_min=120.0, poll_max=600.0) as b:
                clock = FakeClock().install(b.client)
                job_id = await b.submit_job_async([BELL])
                job = await b.client.get_job(job_id)
                expected = (job["predicted_wait_time_ms"]
                            + job["predicted_execution_duration_ms"]) / 1000
                assert expected > 0.3  # the queue wait alone is longer than the timeout
                seen: list[dict] = []
                with pytest.raises(JobTimeoutError, match=r"0\.3 s beyond its expected"):
                    await b.get_job_result(job_id, progress=seen.append)
                assert clock.now == pytest.approx(0.3 + expected)
                assert seen and seen[-1]["status"] == "submitted"
                assert seen[-1]["allowed"] == pytest.approx(0.3 + expected)
                assert [s["waited"] for s in seen] == sorted(s["waited"] for s in seen)
                start = clock.now
                with pytest.raises(JobTimeoutError, match=r"0\.1 s beyond"):
                    await b.get_job_result(job_id, timeout=0.1)
                assert clock.now == pytest.approx(start + 0.1 + expected)
                assert all(s <= b.poll_max for s in clock.sleeps)
                await b.cancel_job(job_id)
                return clock

        run(go())
        assert emu.created_jobs_count == 1


# -- API key ---------------------------------------------------------------------------------

def test_api_key_from_the_environment(emu: IonQEmulator, monkeypatch) -> None:
    monkeypatch.setenv("IONQ_API_KEY", KEY)
    (res,) = run(execute(make(emu, api_key=None), [BELL]))
    np.testing.assert_allclose(res.probabilities, SIM.probabilities(BELL), atol=EXACT)
    monkeypatch.delenv("IONQ_API_KEY")
    with pytest.raises(ConfigError, match="IONQ_API_KEY"):
        make(emu, api_key=None)


def test_the_key_never_leaks(emu: IonQEmulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    emu.faults.add("drop_after", times=1)
    emu.faults.add("server_error", times=1, method="GET", path_prefix="/jobs/")
    backend = make(emu)
    texts = [repr(backend), repr(backend.client), str(vars(backend))]
    run(execute(backend, [BELL]))
    wrong = "wrong-key-0a1b2c3d"
    with pytest.raises(IonQAPIError, match="401") as err:
        run(execute(make(emu, api_key=wrong), [BELL]))
    texts += [str(err.value), repr(err.value)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in t for t in texts)
    assert all(KEY not in t and wrong not in t for t in texts)


# -- the spec's names ------------------------------------------------------------------------

def test_batch_client_submits_one_request(emu: IonQEmulator) -> None:
    circuits = [ASYM, BELL, Circuit(2).x(0), Circuit(1).h(0), Circuit(3).x(2)]

    async def go() -> tuple[list[str], list[Any], list[str], list[Any], float]:
        async with IonQBatchClient(KEY, base_url=emu.root_url, poll_min=0.005) as batch:
            one = await batch.submit_batch(circuits, shots=1000)
            res_one = await batch.get_results_parallel(one)
            chunks = await batch.submit_batch(circuits, circuits_per_job=2)
            res_chunks = await batch.get_results_parallel(chunks)
            return one, res_one, chunks, res_chunks, await batch.average_queue_time()

    one, res_one, chunks, res_chunks, queue = run(go())
    assert len(one) == 1 and len(res_one[0]) == 5 and len(chunks) == 3
    flat = [c for r in res_chunks for c in r.circuits]
    for c, a, b in zip(circuits, res_one[0].circuits, flat, strict=True):
        np.testing.assert_allclose(a.probabilities, SIM.probabilities(c), atol=EXACT)
        np.testing.assert_allclose(b.probabilities, SIM.probabilities(c), atol=EXACT)
    assert emu.created_jobs_count == 4 and queue == 0.0


def test_cirq_ionq_backend_spec_calls(emu: IonQEmulator) -> None:
    async def go() -> tuple[JobStatus, Any]:
        async with CirqIonQBackend(api_key=KEY, target="simulator", base_url=emu.root_url,
                                   poll_min=0.005) as b:
            job_id = await b.submit_job_async(ASYM, shots=1000)
            status = await b.check_job_status(job_id)
            return status, await b.get_job_result(job_id)

    status, res = run(go())
    assert status in ("submitted", "ready", "started", "completed")
    np.testing.assert_allclose(res[0].probabilities, SIM.probabilities(ASYM), atol=EXACT)


def test_cirq_input_needs_the_cirq_module(emu: IonQEmulator, monkeypatch) -> None:
    cirq = pytest.importorskip("cirq")
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit([cirq.X(q[0]), cirq.H(q[1])])
    backend = CirqIonQBackend(api_key=KEY, base_url=emu.root_url, poll_min=0.005)
    try:
        from q_store.backends.cirq import from_cirq  # noqa: F401
    except ImportError:
        pass
    else:
        res = run(_cirq_run(backend, circuit))
        np.testing.assert_allclose(res.probabilities, [0, 0, 0.5, 0.5], atol=EXACT)
    monkeypatch.setitem(sys.modules, "q_store.backends.cirq", None)
    with pytest.raises(NotSupportedError, match=r"q_store\.backends\.cirq"):
        run(backend.submit_job_async(circuit))
    with pytest.raises(BackendError, match=r"cirq\.Circuit"):
        run(backend.submit_job_async("H 0"))


async def _cirq_run(backend: CirqIonQBackend, circuit: Any) -> Any:
    async with backend:
        job_id = await backend.submit_job_async(circuit)
        return (await backend.get_job_result(job_id))[0]



def test_native_gates_option_compiles_and_restores_wire_order(emu: IonQEmulator) -> None:
    """``native_gates=True`` sends GPI/GPI2/MS circuits; SWAP relabelling and the final Z
    phases are undone, so probabilities equal the original circuit's."""
    c = Circuit(3).x(0).ry(1, 0.7).swap(0, 2).cnot(2, 1).rz(0, 0.3).h(1)
    only_z = Circuit(3).rz(0, 0.4)
    got = run(execute(make(emu, native_gates=True), [c, only_z]))
    np.testing.assert_allclose(got[0].probabilities, SIM.probabilities(c), atol=EXACT)
    np.testing.assert_allclose(got[1].probabilities, SIM.probabilities(only_z), atol=EXACT)
    sent = [j.circuit for j in emu.jobs.values() if j.circuit is not None]
    assert len(sent) == 2
    assert {op.gate for c in sent for op in c.operations} <= {"GPI", "GPI2", "MS"}


def test_cost_estimate_counts_the_gates_ionq_bills(emu: IonQEmulator) -> None:
    """With native gates the estimate counts the compiled circuit (merged 1q gates, one MS
    per CNOT), priced per Aria gate-shot with the per-circuit minimum."""
    c = Circuit(2).h(0).rx(0, 0.3).cnot(0, 1).ry(1, 0.2)
    qpu = make(emu, backend="qpu.aria-1", native_gates=True, error_mitigation=False)
    compiled = IonQNativeGateCompiler("aria").compile(c).circuit
    est = qpu.estimate_cost(c, 10_000)
    n1 = sum(1 for op in compiled.operations if len(op.wires) == 1)
    assert (est.one_qubit_gates, est.two_qubit_gates) == (n1, 1)
    assert est.usd == pytest.approx(max(12.4166, (0.000220 * n1 + 0.000975) * 10_000))
    assert make(emu).estimate_cost(c, 10_000).usd == 0.0  # the simulator is free


_KILLED_CLIENT = """
import asyncio, sys, time
from q_store.backends.ionq.backend import IonQBackend
from q_store.circuit.ir import Circuit

async def main():
    b = IonQBackend({key!r}, base_url={url!r}, ledger={ledger!r}, run_key="exp",
                    poll_min=0.01, poll_max=0.05)
    c = Circuit(3).x(0).ry(1, 0.7).cnot(1, 2).rx(2, 0.3).ry(0, 0.4)
    job = await b.submit_job_async([c], 100)
    print(job, flush=True)
    await b.get_job_result(job)  # killed while waiting here

asyncio.run(main())
"""


def test_a_killed_client_process_reattaches_after_restart(tmp_path) -> None:
    """SIGKILL a client process while its job waits in the queue; a new process (here: a new
    backend) with the same ledger and request gets the same job and its results."""
    import signal
    import subprocess

    ledger = tmp_path / "jobs.json"
    with IonQEmulator(api_key=KEY, latency=LatencyModel(queue_wait=3.0)) as emu:
        script = _KILLED_CLIENT.format(key=KEY, url=emu.root_url, ledger=str(ledger))
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                text=True)
        try:
            assert proc.stdout is not None
            job_id = proc.stdout.readline().strip()
            assert job_id, "the client printed no job id"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        assert not emu.jobs[job_id].status == "completed"

        async def restarted() -> tuple[str, Any]:
            async with make(emu, ledger=ledger, run_key="exp") as b:
                again = await b.submit_job_async([ASYM], 100)
                return again, await b.get_job_result(again)

        again, res = run(restarted())
        assert again == job_id and emu.created_jobs_count == 1
        np.testing.assert_allclose(res[0].probabilities, SIM.probabilities(ASYM), atol=EXACT)
