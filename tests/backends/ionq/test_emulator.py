"""The local IonQ-compatible server, driven over loopback HTTP with httpx."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading

import httpx
import numpy as np
import pytest

from q_store.backends.ionq.emulator import (
    FaultPlan,
    IonQEmulator,
    LatencyModel,
    ManualClock,
    ServerLimits,
    add_arguments,
    emulator_from_args,
)
from q_store.backends.ionq.serialize import (
    circuit_from_ionq,
    circuit_to_ionq,
    probabilities_from_ionq,
)
from q_store.circuit.ir import Circuit
from q_store.errors import ConfigError
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel
from tests.backends.ionq.emulator_support import (
    AUTH,
    KEY,
    X0,
    assert_error,
    job_body,
    multi_body,
    on_clock,
    submit,
    until,
    v03_body,
    wait,
)
from tests.reference import random_circuit

FAST = LatencyModel(time_scale=0.001)
EXACT_TOL = 1e-12
QIS_GATES = ("X", "Y", "Z", "H", "S", "Sdg", "T", "Tdg", "SX", "RX", "RY", "RZ", "CNOT", "CZ",
             "SWAP", "RXX", "RYY", "RZZ", "CRX", "CRY", "CRZ", "Toffoli")


@pytest.fixture
def emu():
    with IonQEmulator(api_key=KEY, latency=FAST, seed=1) as e:
        yield e


@pytest.fixture
def client(emu):
    with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as c:
        yield c


def run(client, body):
    job = wait(client, submit(client, body))
    assert job["status"] == "completed", job
    return job, client.get(f"/jobs/{job['id']}/results/probabilities").json()


# -- auth and discovery ---------------------------------------------------------------------
def test_auth_header_required_and_checked(emu):
    with httpx.Client(base_url=emu.base_url) as c:
        r = c.get("/backends")
        assert r.status_code == 200
        assert {b["backend"]: b["qubits"] for b in r.json()} == {
            "simulator": 29, "qpu.aria-1": 25, "qpu.forte-1": 36}
        assert_error(c.get("/jobs"), 401, "apiKey")
        assert_error(c.post("/jobs", json=job_body()), 401)
        wrong = c.get("/jobs", headers={"Authorization": "apiKey not-the-key"})
        assert_error(wrong, 401)
        assert "not-the-key" not in wrong.text
        assert_error(c.get("/jobs", headers={"Authorization": f"Bearer {KEY}"}), 401)
        assert c.get("/jobs", headers=AUTH).status_code == 200
    assert emu.created_jobs_count == 0
    assert KEY not in repr(emu) and KEY not in repr(emu.requests)
    assert ("GET", "/v0.4/jobs", 401) in emu.requests


def test_any_key_accepted_when_none_configured():
    with IonQEmulator(latency=FAST) as e, httpx.Client(base_url=e.base_url) as c:
        assert c.get("/jobs", headers={"Authorization": "apiKey anything"}).status_code == 200
        assert_error(c.get("/jobs", headers={"Authorization": "apiKey"}), 401)


# -- single and multi-circuit jobs ----------------------------------------------------------
def test_single_job_lifecycle_and_ionq_bit_order(client, emu):
    job, probs = run(client, job_body(X0, qubits=3, name="flip", metadata={"k": "v"}))
    assert probs == {"1": 1.0}  # qubit 0 is the least significant bit; only nonzero entries
    assert job["backend"] == "simulator" and job["type"] == "ionq.circuit.v1"
    assert job["name"] == "flip" and job["metadata"] == {"k": "v"} and job["shots"] == 100
    assert job["stats"] == {"qubits": 3, "circuits": 1, "gate_counts": {"1q": 1, "2q": 0}}
    assert job["results"]["probabilities"]["url"] == f"/v0.4/jobs/{job['id']}/results/probabilities"
    assert job["child_job_ids"] is None and job["failure"] is None
    for old in ("qubits", "gate_counts", "request", "start", "response", "target"):
        assert old not in job  # v0.3 fields
    record = emu.jobs[job["id"]]
    assert record.request <= record.start <= record.response
    assert job["submitted_at"] <= job["started_at"] <= job["completed_at"]  # ISO-8601, UTC
    _, probs = run(client, job_body([{"gate": "x", "target": 2}], qubits=3))
    assert probs == {"4": 1.0}
    assert emu.created_jobs_count == 2
    assert emu.jobs[job["id"]].status == "completed"


def test_exact_probabilities_match_statevector_simulator(client):
    rng = np.random.default_rng(3)
    sim = StatevectorSimulator()
    for n in (2, 3, 4):
        circuit = random_circuit(n, 12, rng, gates=QIS_GATES)
        _, gates = circuit_to_ionq(circuit)
        _, probs = run(client, job_body(gates, qubits=n, shots=1000))
        got = probabilities_from_ionq(probs, n)
        np.testing.assert_allclose(got, sim.probabilities(circuit), atol=EXACT_TOL)


def test_multi_circuit_job_children_and_aggregated_results(client, emu):
    h01 = [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]
    circuits = [X0, [{"gate": "x", "target": 1}], h01]
    job, probs = run(client, multi_body(circuits, qubits=2, name="batch",
                                        metadata={"qstore_token": "t1"}))
    children = job["child_job_ids"]
    assert job["type"] == "ionq.multi-circuit.v1" and len(children) == 3
    assert job["stats"] == {"qubits": 2, "circuits": 3, "gate_counts": {"1q": 3, "2q": 1}}
    expected = [{"1": 1.0}, {"2": 1.0}, {"0": 0.5, "3": 0.5}]
    assert list(probs) == children
    for cid, exp in zip(children, expected, strict=True):
        assert probs[cid].keys() == exp.keys()
        np.testing.assert_allclose(list(probs[cid].values()), list(exp.values()), atol=1e-12)
    agg = client.get(f"/jobs/{job['id']}/results/probabilities/aggregated").json()
    assert agg == probs
    for i, cid in enumerate(children):
        child = client.get(f"/jobs/{cid}").json()
        assert child["parent_job_id"] == job["id"] and child["name"] == f"c{i}"
        assert child["status"] == "completed" and child["type"] == "ionq.circuit.v1"
        assert child["stats"]["circuits"] == 1 and child["child_job_ids"] is None
        assert client.get(f"/jobs/{cid}/results/probabilities").json() == probs[cid]
    parent = emu.jobs[job["id"]]
    spans = [(c.start, c.response) for c in parent.children]  # recorded, full precision
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert parent.start <= spans[0][0] and spans[-1][1] <= parent.response
    assert set(children) <= set(emu.jobs)


def test_circuits_may_override_the_gateset(client):
    """IonQ's multi-circuit example: input.gateset native, one circuit overriding it to qis."""
    body = multi_body([[{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}],
                       [{"gate": "gpi", "target": 0, "phase": 0.0}]], qubits=2,
                      gateset="native")
    body["input"]["circuits"][0]["gateset"] = "qis"
    job, probs = run(client, body)
    first, second = (probs[c] for c in job["child_job_ids"])
    np.testing.assert_allclose([first["0"], first["3"]], [0.5, 0.5], atol=EXACT_TOL)
    assert second == {"1": 1.0}


def test_native_gateset_matches_our_gates(client):
    # analytic: GPI(0) is X; MS(0, 0, 1/4) on |00> is (|00> - i|11>)/sqrt2
    _, probs = run(client, {**job_body(), "input": {"gateset": "native", "qubits": 2, "circuit": [
        {"gate": "gpi", "target": 0, "phase": 0.0}]}})
    assert probs == {"1": 1.0}
    _, probs = run(client, {**job_body(), "input": {"gateset": "native", "qubits": 2, "circuit": [
        {"gate": "ms", "targets": [0, 1], "phases": [0.0, 0.0], "angle": 0.25}]}})
    np.testing.assert_allclose([probs["0"], probs["3"]], [0.5, 0.5], atol=EXACT_TOL)
    # random native circuits against our simulator on the same gates (phases in turns)
    rng = np.random.default_rng(5)
    b = Circuit.builder(3)
    for _ in range(10):
        b.append("GPI2", [int(rng.integers(3))], float(rng.uniform(-1, 1)))
        b.append("GPI", [int(rng.integers(3))], float(rng.uniform(-1, 1)))
        pair = [int(w) for w in rng.choice(3, 2, replace=False)]
        b.append("MS", pair, float(rng.uniform()), float(rng.uniform()), float(rng.uniform(0, .25)))
        b.append("ZZ", pair, float(rng.uniform(-0.5, 0.5)))
    circuit = b.build()
    gateset, gates = circuit_to_ionq(circuit)
    assert gateset == "native"
    _, probs = run(client, {**job_body(), "input": {"gateset": "native", "qubits": 3,
                                                    "circuit": gates}})
    np.testing.assert_allclose(probabilities_from_ionq(probs, 3),
                               StatevectorSimulator().probabilities(circuit), atol=EXACT_TOL)


# -- noise and QPU backends -----------------------------------------------------------------
def test_noisy_histogram_is_seeded_and_matches_density_simulator(client):
    gates = [{"gate": "x", "target": 0}, {"gate": "h", "target": 1},
             {"gate": "cnot", "control": 1, "target": 2}, {"gate": "x", "target": 2},
             {"gate": "cnot", "control": 0, "target": 1}]
    shots = 20000
    body = job_body(gates, qubits=3, shots=shots, noise={"model": "aria-1", "seed": 7})
    job, probs = run(client, body)
    assert job["noise"] == {"model": "aria-1", "seed": 7}
    _, again = run(client, body)
    assert again == probs
    _, other = run(client, {**body, "noise": {"model": "aria-1", "seed": 8}})
    assert other != probs
    got = probabilities_from_ionq(probs, 3)
    np.testing.assert_allclose(got * shots, np.round(got * shots), atol=1e-6)  # counts / shots
    circuit = circuit_from_ionq(3, gates)
    noisy = DensityMatrixSimulator(NoiseModel.ionq_aria()).probabilities(circuit)
    ideal = StatevectorSimulator().probabilities(circuit)
    sigma = np.sqrt(noisy * (1 - noisy) / shots)
    assert np.all(np.abs(got - noisy) <= 5 * sigma + 1e-9)
    off = ideal < 1e-12  # states the ideal circuit never produces: noise puts counts there
    assert got[off].sum() * shots > 100


def test_qpu_backends_and_emulator_seed(emu, client):
    body = job_body(X0, qubits=2, shots=4000, backend="qpu.aria-1")
    job, probs = run(client, body)
    assert "noise" not in job
    got = probabilities_from_ionq(probs, 2)
    assert 0.97 < got[2] < 1.0 and abs(got.sum() - 1) < 1e-12  # readout error leaks counts
    _, forte = run(client, {**body, "backend": "qpu.forte-1"})
    assert sum(forte.values()) == pytest.approx(1.0)
    assert_error(client.post("/jobs", json={**body, "noise": {"model": "aria-1"}}), 400,
                 "simulator backend only")
    with IonQEmulator(api_key=KEY, latency=FAST, seed=1) as twin, \
            httpx.Client(base_url=twin.base_url, headers=AUTH) as c2:
        _, twin_probs = run(c2, body)
    assert twin_probs == probs  # same emulator seed, same submission order


def test_noisy_qubit_limit(client):
    wide = [{"gate": "x", "target": 12}]
    assert_error(client.post("/jobs", json=job_body(wide, qubits=13, noise={"model": "forte-1"})),
                 400, "12 qubits")
    assert_error(client.post("/jobs", json=job_body(wide, qubits=13, backend="qpu.aria-1")),
                 400, "density-matrix")
    assert_error(client.post("/jobs", json=job_body(X0, qubits=30)), 400, contains="29")


# -- v0.3 ------------------------------------------------------------------------------------
def test_v03_paths_and_field_names():
    clock = ManualClock()  # time stands still until advanced: "running" is observed for sure
    with on_clock(clock, LatencyModel(seconds_per_circuit=100)) as (emu, _), \
            httpx.Client(base_url=f"{emu.root_url}/v0.3", headers=AUTH, timeout=60) as c:
        job_id = submit(c, v03_body(), "v0.3")
        job = until(lambda: (j := c.get(f"/jobs/{job_id}").json())["status"] == "running" and j,
                    what="v0.3 job running")
        assert job["target"] == "simulator" and "backend" not in job and "type" not in job
        assert isinstance(job["request"], int) and isinstance(job["start"], int)
        assert job["qubits"] == 2 and job["gate_counts"] == {"1q": 1, "2q": 0}
        assert "results_url" not in job and "stats" not in job and "submitted_at" not in job
        clock.advance(100)
        job = wait(c, job_id, "v0.3")
        assert job["status"] == "completed" and job["response"] - job["start"] == 100
        assert job["results_url"] == f"/v0.3/jobs/{job_id}/results"
        assert c.get(f"/jobs/{job_id}/results").json() == {"1": 1.0}
        assert_error(c.get(f"/jobs/{job_id}/results/probabilities"), 404)
        emu.latency = LatencyModel(seconds_per_circuit=0.0)
        multi = {"shots": 10, "input": {"qubits": 2, "circuits": [{"circuit": X0},
                                                                 {"circuit": []}]}}
        parent = wait(c, submit(c, multi, "v0.3"), "v0.3")  # target defaults to simulator
        assert len(parent["children"]) == 2 and "child_job_ids" not in parent
        results = c.get(f"/jobs/{parent['id']}/results").json()
        assert list(results) == parent["children"]
        assert list(results.values()) == [{"1": 1.0}, {"0": 1.0}]
        assert_error(c.post("/jobs", json={**v03_body(), "backend": "simulator"}), 400,
                     "unknown field")
    with IonQEmulator(api_key=KEY, latency=FAST) as emu, \
            httpx.Client(base_url=emu.base_url, headers=AUTH) as c:
        assert_error(c.post("/jobs", json={**job_body(), "target": "simulator"}), 400,
                     "unknown field")
        assert_error(c.post("/jobs", json={k: v for k, v in job_body().items() if k != "type"}),
                     400, "'type' is required")


# -- bad requests -----------------------------------------------------------------------------
BAD = [
    (job_body([{"gate": "foo", "target": 0}]), "not in the qis gateset"),
    (job_body(metadata={f"k{i}": "v" for i in range(11)}), "at most 10"),
    (job_body(metadata={"n": 3}), "must be strings"),
    (job_body(shots=0), "'shots'"),
    (job_body(shots=True), "'shots'"),
    (job_body(shots=1_000_001), "from 1 to 1,000,000 on simulator"),
    (job_body(shots=10_001, backend="qpu.aria-1"), "from 1 to 10,000 on qpu.aria-1"),
    (job_body(shots=10**40), "'shots'"),
    ({**job_body(), "input": {"gateset": "pulse", "qubits": 1, "circuit": X0}}, "gateset"),
    ({**job_body(), "input": {"gateset": "native", "qubits": 1, "circuit": X0}}, "native"),
    ({**job_body(), "input": {"qubits": 1, "circuit": X0}}, "input.gateset is required"),
    (job_body([{"gate": "x", "target": 3}]), "out of range"),
    (job_body([{"gate": "x", "target": True}]), "integer qubit index"),
    (job_body(["x"]), "must be an object"),
    (job_body([{"gate": "rx", "target": 0}]), "malformed"),
    (job_body([{"gate": "rx", "target": 0, "rotation": "0.5"}]), "must be a finite number"),
    (job_body([{"gate": "x", "target": 0, "colour": "red"}]), "unknown field(s) ['colour']"),
    (job_body([{"gate": "x", "target": 0, "phase": 0.1}]), "unknown field(s) ['phase']"),
    (job_body(backend="qpu.harmony"), "'backend' must be one of"),
    ({**job_body(), "type": "ionq.multi-circuit.v1"}, "does not fit"),
    (job_body(noise={"model": "harmony"}), "unknown noise model"),
    (job_body(noise={"model": "aria-1", "seed": 2**31}), "noise seed"),
    (job_body(colour="red"), "unknown field"),
    (job_body(settings={"error_mitigation": {"debias": True}}), "unknown field"),
    (job_body(settings={"compilation": {"opt": "high"}}), "wrong type"),
    (job_body(dry_run=True), "dry runs"),
    (job_body(session_id="s-1"), "sessions are not emulated"),
    ({**multi_body([X0]), "input": {"gateset": "qis", "circuits": [
        {"circuit": X0, "registers": {"r": [0]}}]}}, "registers are not emulated"),
    ({**multi_body([X0]), "input": {"gateset": "qis", "circuits": [
        {"circuit": X0, "colour": "red"}]}}, "unknown field"),
    ([1, 2], "JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_job_bodies_are_400(client, emu, body, message):
    assert_error(client.post("/jobs", json=body), 400, message)
    assert emu.created_jobs_count == 0


def test_documented_optional_fields_are_accepted(client):
    """shots defaults to 100; settings are echoed; dry_run false and per-circuit qubits pass."""
    body = {k: v for k, v in job_body().items() if k != "shots"}
    settings = {"error_mitigation": {"debiasing": False}, "compilation": {"opt": 1}}
    job, _ = run(client, {**body, "settings": settings, "dry_run": False})
    assert job["shots"] == 100 and job["settings"] == settings and job["dry_run"] is False
    multi = multi_body([X0, [{"gate": "x", "target": 1}]], qubits=3)
    multi["input"]["circuits"][0]["qubits"] = 1
    job, probs = run(client, multi)
    first, second = job["child_job_ids"]
    assert client.get(f"/jobs/{first}").json()["stats"]["qubits"] == 1
    assert probs == {first: {"1": 1.0}, second: {"2": 1.0}}


def test_bad_json_content_type_paths_and_methods(client):
    json_type = {"Content-Type": "application/json"}
    r = client.post("/jobs", content=b'{"shots": NaN}', headers=json_type)
    assert_error(r, 400, "not valid JSON")
    r = client.post("/jobs", content=b"{}", headers={"Content-Type": "text/plain"})
    assert_error(r, 400, "Content-Type")
    assert_error(client.get("/jobs/no-such-job"), 404, "no job")
    assert_error(client.get("/jobs/no-such-job/results/probabilities"), 404)
    assert_error(client.put("/jobs/no-such-job/status/cancel"), 404)
    assert_error(client.get("/nothing"), 404)
    assert_error(client.get("../v9/jobs"), 404, "/v0.4")
    assert_error(client.patch("/jobs"), 405)
    assert_error(client.put("/jobs"), 405)
    assert_error(client.get("/jobs?limit=0"), 400, "limit")
    assert_error(client.get("/jobs?next=bogus"), 400, "cursor")
    assert_error(client.get("/jobs?status=completed"), 400, "not supported")


def test_job_listing_newest_first_with_cursor(client):
    ids = [submit(client, job_body(metadata={"qstore_token": f"t{i}"})) for i in range(5)]
    parent = submit(client, multi_body([X0, X0]))
    ids.append(parent)
    seen, cursor = [], None
    while True:
        page = client.get("/jobs", params={"limit": 2, **({"next": cursor} if cursor else {})})
        body = page.json()
        assert len(body["jobs"]) <= 2 and "next" in body  # v0.4: next is null on the last page
        seen += [j["id"] for j in body["jobs"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == ids[::-1]  # newest first, children not listed
    jobs = client.get("/jobs", params={"limit": 100}).json()["jobs"]
    token = next(j for j in jobs if (j["metadata"] or {}).get("qstore_token") == "t3")
    assert token["id"] == ids[3]
    assert all("child_job_ids" not in j for j in jobs)  # not in the list's BaseJob schema
    assert client.delete(f"/jobs/{ids[0]}").json() == {"id": ids[0], "status": "deleted"}
    assert_error(client.get(f"/jobs/{ids[0]}"), 404)


# -- faults ----------------------------------------------------------------------------------
def test_rate_limit_fault(client, emu):
    emu.faults.add("rate_limit", retry_after=2)
    r = client.post("/jobs", json=job_body())
    assert_error(r, 429, "rate limit")
    assert r.headers["Retry-After"] == "2"
    assert emu.created_jobs_count == 0
    submit(client, job_body())
    assert emu.created_jobs_count == 1
    assert [s for m, p, s in emu.requests if m == "POST"] == [429, 201]


def test_server_error_fault_times_and_matching(client, emu):
    emu.faults.add("server_error", times=2, status=502)
    emu.faults.add("server_error", method="GET", path_prefix="/backends", status=520)
    assert client.get("/jobs").status_code == 200  # POST-only fault does not fire on GET
    assert_error(client.post("/jobs", json=job_body()), 502, "injected fault")
    assert_error(client.post("/jobs", json=job_body()), 502)
    submit(client, job_body())
    r = client.get("/backends")
    assert r.status_code == 520 and r.json()["error"] == "Server Error"
    assert client.get("/backends").status_code == 200
    assert emu.created_jobs_count == 1 and not emu.faults.pending


def test_drop_before_creates_nothing(client, emu):
    emu.faults.add("drop_before")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/jobs", json=job_body())
    assert emu.created_jobs_count == 0 and not emu.jobs
    assert ("POST", "/v0.4/jobs", 0) in emu.requests
    submit(client, job_body())  # the client's pool reconnects
    assert emu.created_jobs_count == 1


def test_drop_after_creates_the_job_but_sends_nothing(client, emu):
    emu.faults.add("drop_after")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/jobs", json=job_body(metadata={"qstore_token": "abc"}))
    assert emu.created_jobs_count == 1
    jobs = client.get("/jobs").json()["jobs"]
    assert [j["metadata"] for j in jobs] == [{"qstore_token": "abc"}]
    assert wait(client, jobs[0]["id"])["status"] == "completed"


def test_slow_fault_exercises_read_timeout(emu):
    emu.faults.add("slow", seconds=0.5, method="GET", path_prefix="/backends")
    with httpx.Client(base_url=emu.base_url, timeout=0.1) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("/backends")
        assert c.get("/backends").status_code == 200  # the fault fired once only
    assert emu.faults.fired == (("slow", "GET", "/v0.4/backends"),)
    assert not emu.faults.pending


def test_fail_job_fault(client, emu):
    emu.faults.add("fail_job", error="calibration drift", code="QPUError")
    job = wait(client, submit(client, job_body()))
    assert job["status"] == "failed"
    assert job["failure"] == {"code": "QPUError", "message": "calibration drift"}  # v0.4
    v03 = client.get(f"../v0.3/jobs/{job['id']}").json()
    assert v03["failure"] == {"error": "calibration drift", "code": "QPUError"}
    assert_error(client.get(f"/jobs/{job['id']}/results/probabilities"), 404,
                 "calibration drift")
    emu.faults.add("fail_job")
    parent = wait(client, submit(client, multi_body([X0, X0])))
    assert parent["status"] == "failed"
    for cid in parent["child_job_ids"]:
        assert client.get(f"/jobs/{cid}").json()["status"] == "failed"
    assert wait(client, submit(client, job_body()))["status"] == "completed"


def test_fault_plan_validation():
    plan = FaultPlan()
    with pytest.raises(ConfigError, match="unknown fault kind"):
        plan.add("explode")
    with pytest.raises(ConfigError, match="500 to 599"):
        plan.add("server_error", status=404)
    with pytest.raises(ConfigError, match="times"):
        plan.add("rate_limit", times=0)
    with pytest.raises(ConfigError, match="retry_after"):
        plan.add("rate_limit", retry_after=0.5)
    with pytest.raises(ConfigError, match=r"LatencyModel\.queue_wait"):
        LatencyModel(queue_wait=-1)
    with pytest.raises(ConfigError, match="api_key"):
        IonQEmulator(api_key="")


# -- lifecycle and command line -----------------------------------------------------------------
def test_stop_closes_keep_alive_connections_and_joins_threads():
    before = {t.name for t in threading.enumerate()}
    emu = IonQEmulator(latency=FAST).start()
    c = httpx.Client(base_url=emu.base_url, headers=AUTH)
    assert c.get("/backends").status_code == 200  # connection stays open (keep-alive)
    emu.stop()  # returns only once every thread is joined
    alive = {t.name for t in threading.enumerate() if t.name.startswith("ionq-emulator")}
    assert not alive - before
    with pytest.raises(httpx.TransportError):
        c.get("/backends")
    c.close()
    emu.stop()  # idempotent


def test_cli_arguments_and_serving():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--api-key", "k", "--time-scale", "0.5",
                              "--queue-wait", "2", "--request-overhead", "0.1",
                              "--max-jobs", "7", "--max-result-entries", "4096",
                              "--max-connections", "9", "--idle-timeout", "2.5"])
    emu = emulator_from_args(args)
    assert emu.latency == LatencyModel(request_overhead=0.1, queue_wait=2, time_scale=0.5)
    assert (emu.limits.max_jobs, emu.limits.max_result_entries, emu.limits.max_connections,
            emu.limits.idle_timeout) == (7, 4096, 9, 2.5)
    assert emulator_from_args(parser.parse_args([])).limits == ServerLimits()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "q_store.backends.ionq.emulator", "--port",
                             "0", "--time-scale", "0.001"], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        url = line.split()[3]
        assert url.endswith("/v0.4")
        assert httpx.get(f"{url}/backends").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
