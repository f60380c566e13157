"""Limits of the local IonQ emulator as a long-running server: IonQ's shot limits, a canceled
job freeing the device at once, and bounded memory (compact results, a cap on what one job may
compute, expiry of old jobs). Memory is checked by measuring what is stored and with
tracemalloc, never by wall time; times come from a fake clock."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from q_store.backends.ionq.emulator import (
    IonQEmulator,
    LatencyModel,
    ManualClock,
    ServerLimits,
)
from q_store.backends.ionq.emulator_limits import MAX_SHOTS
from q_store.errors import ConfigError
from tests.backends.ionq.emulator_support import (
    AUTH,
    KEY,
    X0,
    assert_error,
    job_body,
    status,
    submit,
    until,
    wait,
)

ZERO = LatencyModel(seconds_per_circuit=0.0)


@contextmanager
def serving(latency: LatencyModel = ZERO, **kw: Any) -> Iterator[tuple[IonQEmulator,
                                                                       httpx.Client]]:
    with IonQEmulator(api_key=KEY, latency=latency, **kw) as emu, \
            httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as c:
        yield emu, c


def hadamards(n: int) -> list[dict[str, Any]]:
    return [{"gate": "h", "target": q} for q in range(n)]


# -- shots -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("backend", "top"), sorted(MAX_SHOTS.items()))
def test_shots_within_ionqs_documented_range(backend: str, top: int) -> None:
    with serving() as (emu, c):
        for bad in (0, -1, top + 1, 10**9, 10**40, 2.5, "100"):
            assert_error(c.post("/jobs", json=job_body(shots=bad, backend=backend)), 400,
                         f"from 1 to {top:,} on {backend}")
        assert emu.created_jobs_count == 0
        body = {k: v for k, v in job_body(backend=backend).items() if k != "shots"}
        assert wait(c, submit(c, body))["shots"] == 100  # IonQ's default
    assert MAX_SHOTS == {"simulator": 1_000_000, "qpu.aria-1": 10_000, "qpu.forte-1": 10_000}


def test_canceling_a_running_job_frees_the_device_at_once() -> None:
    """A million-shot job models about 8 minutes of device time per circuit; canceled while
    running, it stops at once: the next job starts at the very clock time of the cancel."""
    clock = ManualClock()
    with serving(LatencyModel(), clock=clock) as (emu, c):
        big = submit(c, job_body(hadamards(3), shots=1_000_000))
        until(lambda: status(c, big) == "started", what="big job started")
        assert emu.jobs[big].predicted_execution > 400  # seconds of modelled device time
        small = submit(c, job_body(shots=10))
        assert status(c, small) == "ready"  # behind the big job
        clock.advance(60)  # a minute into the big job
        assert c.put(f"/jobs/{big}/status/cancel").json() == {"id": big, "status": "canceled"}
        until(lambda: status(c, small) == "started", what="next job started")
        assert emu.jobs[small].start == emu.jobs[big].response == clock.time()
        clock.advance(1)
        assert wait(c, small)["status"] == "completed"
        assert emu.jobs[big].probabilities is None  # nothing of it is kept
        assert_error(c.get(f"/jobs/{big}/results/probabilities"), 404, "canceled")


# -- memory ---------------------------------------------------------------------------------
def test_results_are_kept_as_compact_arrays_of_nonzero_entries() -> None:
    n = 16  # H on every qubit: 65536 equal probabilities
    with serving() as (emu, c):
        warm = submit(c, job_body(hadamards(n), qubits=n))  # JIT and compile caches filled
        wait(c, warm)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            job_id = submit(c, job_body(hadamards(n), qubits=n))
            wait(c, job_id)
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        probs = emu.jobs[job_id].probabilities
        assert probs is not None and len(probs) == 2**n
        assert probs.nbytes == 2**n * 16  # an int64 key and a float64 value per entry
        # all this job added: its arrays and a small record. The old dict of Python strings and
        # floats took about 110 bytes an entry (7 MB here).
        assert kept < 2 * probs.nbytes, kept
        assert emu.stored_entries == 2 * 2**n
        sparse = submit(c, job_body([{"gate": "x", "target": q} for q in range(n)], qubits=n))
        wait(c, sparse)
        assert c.get(f"/jobs/{sparse}/results/probabilities").json() == {str(2**n - 1): 1.0}
        assert len(emu.jobs[sparse].probabilities) == 1  # only nonzero entries are kept


def test_a_job_whose_result_could_exceed_the_cap_is_refused() -> None:
    """The 1 KB request that once cost 794 MB: H on 22 qubits on the exact simulator."""
    with serving() as (emu, c):
        r = c.post("/jobs", json=job_body(hadamards(22), qubits=22))
        assert_error(r, 400, "4,194,304 probabilities")
        assert "max_result_entries" in r.json()["message"] and "1,048,576" in r.json()["message"]
        assert emu.created_jobs_count == 0
    limits = ServerLimits(max_result_entries=2**10)
    with serving(limits=limits) as (emu, c):
        assert_error(c.post("/jobs", json=job_body(hadamards(11), qubits=11)), 400,
                     "at most 1,024 per job")
        assert wait(c, submit(c, job_body(hadamards(10), qubits=10)))["status"] == "completed"
        # sampled results hold at most one entry a shot: 11 qubits, 500 shots fit
        noisy = job_body(hadamards(11), qubits=11, shots=500, noise={"model": "aria-1"})
        assert wait(c, submit(c, noisy))["status"] == "completed"
        two = {"type": "ionq.multi-circuit.v1", "backend": "simulator", "shots": 1,
               "input": {"gateset": "qis", "qubits": 10,
                         "circuits": [{"circuit": X0}, {"circuit": X0}]}}
        assert_error(c.post("/jobs", json=two), 400, "2,048 probabilities")  # summed


def test_the_oldest_finished_jobs_expire_beyond_max_jobs() -> None:
    with serving(limits=ServerLimits(max_jobs=3)) as (emu, c):
        ids = [wait(c, submit(c, job_body()))["id"] for _ in range(5)]  # each finished
        assert emu.expired_jobs_count == 2 and len(emu.jobs) == 3
        for gone in ids[:2]:
            assert_error(c.get(f"/jobs/{gone}"), 404, "expired")
        assert [j["id"] for j in c.get("/jobs").json()["jobs"]] == ids[:1:-1]


def test_new_jobs_get_429_while_max_jobs_are_unfinished() -> None:
    clock = ManualClock()
    with serving(LatencyModel(queue_wait=100), clock=clock,
                 limits=ServerLimits(max_jobs=2)) as (emu, c):
        first, second = submit(c, job_body()), submit(c, job_body())
        r = c.post("/jobs", json=job_body())
        assert_error(r, 429, "max_jobs")
        assert r.headers["Retry-After"] == "1" and emu.created_jobs_count == 2
        c.put(f"/jobs/{first}/status/cancel")  # a finished job may expire to make room
        third = submit(c, job_body())
        assert_error(c.get(f"/jobs/{first}"), 404)
        assert {second, third} == set(emu.jobs)


def test_stored_probabilities_stay_within_max_stored_entries() -> None:
    limits = ServerLimits(max_result_entries=64, max_stored_entries=128)
    with serving(limits=limits) as (emu, c):
        ids = [wait(c, submit(c, job_body(hadamards(6), qubits=6)))["id"] for _ in range(3)]
        assert emu.stored_entries <= 128 and emu.expired_jobs_count == 1
        assert ids[0] not in emu.jobs and set(ids[1:]) <= set(emu.jobs)
        assert len(c.get(f"/jobs/{ids[2]}/results/probabilities").json()) == 64


def test_kept_requests_stay_within_max_stored_request_bytes() -> None:
    """Kept jobs hold their parsed circuits, name and metadata: their request bodies together
    stay under the budget, oldest finished first out; unfinished ones alone get 429."""
    limits = ServerLimits(max_body_bytes=4096, max_stored_request_bytes=8192)
    clock = ManualClock()
    with serving(clock=clock, limits=limits) as (emu, c):
        big = {**job_body(), "name": "n" * 3000}  # about 3.2 KB each
        ids = [wait(c, submit(c, big))["id"] for _ in range(3)]
        assert emu.expired_jobs_count == 1 and ids[0] not in emu.jobs
        assert sum(j.request_bytes for j in emu.jobs.values()) <= 8192
        emu.latency = LatencyModel(queue_wait=100)
        submit(c, big)
        submit(c, big)  # both kept: the finished ones made room
        assert_error(c.post("/jobs", json=big), 429, "max_stored_request_bytes")
        assert_error(c.post("/jobs", content=b"{" + b" " * 5000 + b"}",
                            headers={"Content-Type": "application/json"}), 400,
                     "max_body_bytes")


def test_server_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="max_jobs"):
        ServerLimits(max_jobs=0)
    with pytest.raises(ConfigError, match="idle_timeout"):
        ServerLimits(idle_timeout=float("inf"))
    with pytest.raises(ConfigError, match="must not exceed max_stored_entries"):
        ServerLimits(max_result_entries=10, max_stored_entries=5)
    with pytest.raises(ConfigError, match="one job's request must fit"):
        ServerLimits(max_body_bytes=10, max_stored_request_bytes=5)
    with pytest.raises(ConfigError, match="limits must be a ServerLimits"):
        IonQEmulator(limits={"max_jobs": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="clock must have"):
        IonQEmulator(clock=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="advance takes seconds >= 0"):
        ManualClock().advance(-1)
