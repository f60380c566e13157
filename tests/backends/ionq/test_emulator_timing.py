"""Time in the local IonQ emulator: cancel, queue waits, execution time, one circuit at a time.

Every timing assertion reads the timestamps the emulator recorded on a fake clock
(:class:`ManualClock`), never the wall clock: a loaded CI machine stretches real time at will,
while a fake clock's times are exactly the modelled ones.
"""

from __future__ import annotations

import itertools
import threading
import time

import httpx
import pytest

from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel, ManualClock
from tests.backends.ionq.emulator_support import (
    AUTH,
    KEY,
    X0,
    assert_error,
    job_body,
    multi_body,
    on_clock,
    status,
    submit,
    until,
    wait,
)

TIME_TOL = 1e-6  # Unix seconds near 1.7e9 are floats with ~2e-7 s resolution


# -- cancel ----------------------------------------------------------------------------------
def test_cancel_queued_started_and_completed_jobs():
    clock = ManualClock()
    with on_clock(clock, LatencyModel(seconds_per_circuit=100)) as (emu, client):
        emu.latency = LatencyModel(seconds_per_circuit=0.0)
        done = wait(client, submit(client, job_body()))
        assert client.put(f"/jobs/{done['id']}/status/cancel").json() == {
            "id": done["id"], "status": "completed"}
        emu.latency = LatencyModel(queue_wait=1000)  # waits in the queue: the clock stands
        queued = submit(client, job_body())
        assert status(client, queued) == "submitted"
        r = client.put(f"/jobs/{queued}/status/cancel")
        assert r.json() == {"id": queued, "status": "canceled"}
        assert_error(client.get(f"/jobs/{queued}/results/probabilities"), 404, "canceled")
        emu.latency = LatencyModel(seconds_per_circuit=100)
        parent = submit(client, multi_body([X0, X0, X0]))
        until(lambda: status(client, parent) == "started", what="parent started")
        assert client.put(f"/jobs/{parent}/status/cancel").json()["status"] == "canceled"
        job = client.get(f"/jobs/{parent}").json()
        statuses = [status(client, c) for c in job["child_job_ids"]]
        # the running circuit stops at once: it never completes, the others never start
        assert job["status"] == "canceled" and statuses == ["canceled"] * 3
        assert_error(client.put(f"/jobs/{job['child_job_ids'][0]}/status/cancel"), 400)
        nxt = submit(client, job_body())  # the device is free again without time passing
        until(lambda: status(client, nxt) == "started", what="next job started")
        assert emu.jobs[nxt].start == emu.jobs[parent].response == clock.time()
        clock.advance(100)
        assert wait(client, nxt)["status"] == "completed"


# -- latency model -------------------------------------------------------------------------------
def test_request_overhead():
    latency = LatencyModel(request_overhead=100, time_scale=0.001)  # 0.1 s, real time
    with IonQEmulator(api_key=KEY, latency=latency) as emu, \
            httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as client:
        t0 = time.monotonic()
        client.get("/backends")
        assert time.monotonic() - t0 >= 0.1  # a lower bound only: a loaded machine is slower


def test_queue_wait_and_execution_time():
    """On a fake clock that jumps to the end of every wait, the recorded times are exactly
    the modelled ones: queue wait, per-circuit time, and the gate-and-shot formula."""
    clock = ManualClock(auto=True)
    latency = LatencyModel(queue_wait=100, seconds_per_circuit=50, time_scale=0.002)
    with on_clock(clock, latency) as (emu, client):
        job = wait(client, submit(client, multi_body([X0, X0])))
        rec = emu.jobs[job["id"]]
        assert rec.start - rec.request == pytest.approx(0.2, abs=TIME_TOL)  # queue wait 0.2 s
        assert job["predicted_wait_time_ms"] == 200
        assert job["predicted_execution_duration_ms"] == 200
        for child in rec.children:
            assert child.response - child.start == pytest.approx(0.1, abs=TIME_TOL)
        assert rec.children[0].start == rec.start
        assert rec.children[1].start == rec.children[0].response
        assert job["execution_duration_ms"] == 200
        # computed from gates and shots: 1000 * (10 t1q + 5 t2q + readout + reset) = 4.67 s
        emu.latency = LatencyModel(time_scale=0.05)
        gates = [{"gate": "h", "target": i % 3} for i in range(10)]
        gates += [{"gate": "cnot", "control": 0, "target": 1 + i % 2} for i in range(5)]
        job = wait(client, submit(client, job_body(gates, shots=1000)))
        assert job["stats"]["gate_counts"] == {"1q": 10, "2q": 5}
        expected = 1000 * (10 * 135e-6 + 5 * 600e-6 + 300e-6 + 20e-6) * 0.05
        rec = emu.jobs[job["id"]]
        assert rec.response - rec.start == pytest.approx(expected, abs=TIME_TOL)
        assert job["execution_duration_ms"] == round(expected * 1000)


def test_job_waits_ready_while_the_device_is_busy():
    clock = ManualClock()
    with on_clock(clock, LatencyModel(seconds_per_circuit=100)) as (emu, client):
        first = submit(client, job_body())
        until(lambda: status(client, first) == "started", what="first job started")
        second = submit(client, job_body())
        assert status(client, second) == "ready"  # its queue wait is over; the device is busy
        clock.advance(100)
        until(lambda: status(client, second) == "started", what="second job started")
        assert status(client, first) == "completed"
        assert emu.jobs[first].response == emu.jobs[second].start
        clock.advance(100)
        assert wait(client, second)["status"] == "completed"


def test_device_runs_one_circuit_at_a_time_fifo():
    clock = ManualClock(auto=True)
    latency = LatencyModel(seconds_per_circuit=30, time_scale=0.001)  # 30 ms a circuit
    with on_clock(clock, latency) as (emu, _):
        ids: list[str] = [""] * 4

        def go(i: int) -> None:
            with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as c:
                ids[i] = submit(c, multi_body([X0, X0]))

        threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as c:
            for i in ids:
                wait(c, i)
        jobs = [emu.jobs[i] for i in ids]
        spans = sorted((c.start, c.response, job.seq) for job in jobs for c in job.children)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # no overlap
        started = [seq for k, (_, _, seq) in enumerate(spans) if k % 2 == 0]
        assert started == sorted(job.seq for job in jobs)  # FIFO in submission order
        assert all(c.response - c.start == pytest.approx(0.03, abs=TIME_TOL)
                   for job in jobs for c in job.children)
