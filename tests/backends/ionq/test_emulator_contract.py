"""Contract: every response of the local IonQ emulator, in both API versions, has exactly the
fields IonQ documents (``emulator_schema``): no undocumented key, every required key, the
documented types. Requests are held to IonQ's documented body the same way.

The emulator exists so that the real client can be tested offline; a field IonQ does not send
would let a client that depends on it pass here and fail against IonQ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel, ManualClock
from q_store.backends.ionq.emulator_schema import JOB_V04, JOB_V04_LISTED, RESPONSES, violations
from tests.backends.ionq.emulator_support import (
    AUTH,
    KEY,
    X0,
    job_body,
    multi_body,
    raw_exchange,
    until,
    v03_body,
)

VERSIONS = ("v0.4", "v0.3")
# IonQ's "Get a job" (v0.4) top-level fields, from its reference, April 2026.
V04_JOB_FIELDS = {
    "id", "status", "type", "backend", "dry_run", "submitter_id", "project_id",
    "parent_job_id", "child_job_ids", "session_id", "metadata", "name", "submitted_at",
    "started_at", "completed_at", "predicted_execution_duration_ms", "predicted_wait_time_ms",
    "execution_duration_ms", "shots", "noise", "failure", "settings", "stats", "results",
    "output"}
V03_ONLY = {"qubits", "gate_counts", "request", "target", "start", "response", "children",
            "results_url", "execution_time"}


class Contract:
    """Checks responses against the documented shapes and records which shapes it has seen."""

    def __init__(self) -> None:
        self.covered: set[tuple[str, str]] = set()

    def __call__(self, r: httpx.Response, kind: str, version: str) -> Any:
        where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
        assert r.headers["content-type"] == "application/json", where
        body = r.json()
        problems = violations(body, RESPONSES[kind, version])
        assert not problems, f"{where} ({kind}, {version}): {problems}"
        if kind == "error":
            assert r.status_code >= 400 and body["statusCode"] == r.status_code, where
            assert body["error"] == HTTPStatus(r.status_code).phrase, where
        else:
            assert r.status_code < 300, where
        self.covered.add((kind, version))
        return body


@pytest.fixture
def setup() -> Iterator[tuple[IonQEmulator, ManualClock, dict[str, httpx.Client]]]:
    clock = ManualClock()
    with IonQEmulator(api_key=KEY, latency=LatencyModel(seconds_per_circuit=10),
                      clock=clock) as emu:
        clients = {v: httpx.Client(base_url=f"{emu.root_url}/{v}", headers=AUTH, timeout=60)
                   for v in VERSIONS}
        try:
            yield emu, clock, clients
        finally:
            for c in clients.values():
                c.close()


def test_the_documented_field_lists() -> None:
    """The data the contract is checked against is IonQ's list, and v0.3 fields are not in
    v0.4's."""
    assert set(JOB_V04.fields or {}) == V04_JOB_FIELDS
    assert set(JOB_V04_LISTED.fields or {}) == V04_JOB_FIELDS - {"child_job_ids"}
    assert not V03_ONLY & V04_JOB_FIELDS
    assert {k for k, f in (JOB_V04.fields or {}).items() if not f.required} == {"shots", "noise"}


def test_every_endpoint_in_both_versions_sends_only_documented_fields(setup) -> None:
    emu, clock, c = setup
    check = Contract()
    c4, c3 = c["v0.4"], c["v0.3"]
    with httpx.Client(base_url=emu.root_url, timeout=60) as anon:
        for v in VERSIONS:
            check(anon.get(f"/{v}/backends"), "backends", v)
            check(anon.get(f"/{v}/jobs"), "error", v)  # 401

    # -- create, in every state --------------------------------------------------------------
    single = check(c4.post("/jobs", json=job_body(name="one", metadata={"k": "v"})),
                   "create", "v0.4")["id"]
    until(lambda: c4.get(f"/jobs/{single}").json()["status"] == "started", what="started")
    old = check(c3.post("/jobs", json=v03_body()), "create", "v0.3")["id"]
    multi = check(c4.post("/jobs", json=multi_body([X0, []], qubits=2)), "create", "v0.4")["id"]
    body3 = v03_body()
    body3["input"] = {"gateset": "qis", "qubits": 2, "circuits": [{"circuit": X0},
                                                                 {"name": "b", "circuit": []}]}
    multi3 = check(c3.post("/jobs", json=body3), "create", "v0.3")["id"]
    qpu = check(c4.post("/jobs", json=job_body(backend="qpu.aria-1")), "create", "v0.4")["id"]
    noisy = check(c4.post("/jobs", json=job_body(noise={"model": "aria-1", "seed": 3})),
                  "create", "v0.4")["id"]
    emu.faults.add("fail_job", code="QuantumComputerError", error="ion chain lost")
    failing = check(c4.post("/jobs", json=job_body()), "create", "v0.4")["id"]
    emu.latency = LatencyModel(queue_wait=10_000, seconds_per_circuit=10)
    queued = check(c4.post("/jobs", json=job_body()), "create", "v0.4")["id"]
    emu.latency = LatencyModel(seconds_per_circuit=10)
    top = [single, old, multi, multi3, qpu, noisy, failing, queued]

    def get_all() -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {v: set() for v in VERSIONS}
        for job_id in top:
            for v in VERSIONS:
                job = check(c[v].get(f"/jobs/{job_id}"), "get", v)
                seen[v].add(job["status"])
                for child in job.get("child_job_ids" if v == "v0.4" else "children") or ():
                    seen[v].add(check(c[v].get(f"/jobs/{child}"), "get", v)["status"])
        return seen

    seen = get_all()
    assert {"started", "ready", "submitted"} <= seen["v0.4"]
    assert {"running", "ready", "submitted"} <= seen["v0.3"] and "started" not in seen["v0.3"]
    for v, path in (("v0.4", f"/jobs/{single}/results/probabilities"),
                    ("v0.3", f"/jobs/{single}/results")):
        check(c[v].get(path), "error", v)  # not completed yet: 404
    check(c4.put(f"/jobs/{queued}/status/cancel"), "cancel", "v0.4")

    # -- run everything: the clock moves only when told ---------------------------------------
    def all_done() -> bool:
        clock.advance(10)
        return all(c4.get(f"/jobs/{j}").json()["status"] in ("completed", "failed", "canceled")
                   for j in top)

    until(all_done, what="every job done")
    seen = get_all()
    assert seen["v0.4"] == {"completed", "failed", "canceled"} == seen["v0.3"]
    job = c4.get(f"/jobs/{failing}").json()
    assert job["failure"] == {"code": "QuantumComputerError", "message": "ion chain lost"}
    assert "noise" not in c4.get(f"/jobs/{qpu}").json()  # only on the simulator

    # -- results ---------------------------------------------------------------------------
    for v, path in (("v0.4", f"/jobs/{single}/results/probabilities"),
                    ("v0.3", f"/jobs/{old}/results")):
        check(c[v].get(path), "results", v)
    check(c4.get(f"/jobs/{noisy}/results/probabilities"), "results", "v0.4")
    check(c4.get(f"/jobs/{multi}/results/probabilities/aggregated"), "aggregated", "v0.4")
    check(c3.get(f"/jobs/{multi3}/results"), "aggregated", "v0.3")
    child = c4.get(f"/jobs/{multi}").json()["child_job_ids"][0]
    check(c4.get(f"/jobs/{child}/results/probabilities"), "results", "v0.4")
    check(c4.get(f"/jobs/{failing}/results/probabilities"), "error", "v0.4")

    # -- list, every page ------------------------------------------------------------------
    for v in VERSIONS:
        cursor, listed = None, []
        while True:
            page = check(c[v].get("/jobs", params={"limit": 3, **(
                {"next": cursor} if cursor else {})}), "list", v)
            listed += [j["id"] for j in page["jobs"]]
            cursor = page.get("next")
            if cursor is None:
                break
        assert listed == top[::-1]

    # -- cancel, delete ----------------------------------------------------------------------
    for v, job_id in (("v0.4", single), ("v0.3", old)):
        assert check(c[v].put(f"/jobs/{job_id}/status/cancel"), "cancel", v)["status"] == (
            "completed")
        check(c[v].delete(f"/jobs/{job_id}"), "delete", v)
        check(c[v].get(f"/jobs/{job_id}"), "error", v)

    # -- errors ----------------------------------------------------------------------------
    for v in VERSIONS:
        cv = c[v]
        check(cv.post("/jobs", json={"colour": "red"}), "error", v)
        check(cv.post("/jobs", content=b"{", headers={"Content-Type": "application/json"}),
              "error", v)
        check(cv.get("/jobs/no-such-job"), "error", v)
        check(cv.get("/nothing"), "error", v)
        check(cv.patch("/jobs"), "error", v)
        check(cv.get("/jobs", params={"limit": "x"}), "error", v)
        emu.faults.add("rate_limit", method="GET", path_prefix="/jobs")
        check(cv.get("/jobs"), "error", v)
        emu.faults.add("server_error", method="GET", path_prefix="/jobs", status=503)
        check(cv.get("/jobs"), "error", v)
    status, _, raw = raw_exchange(emu.port, b"GARBAGE\r\n\r\n")  # the stdlib's own 400
    assert status == 400 and not violations(json.loads(raw), RESPONSES["error", "v0.4"])
    assert check.covered == set(RESPONSES), set(RESPONSES) - check.covered


ROUTES = {  # where an unknown field goes, per version
    "top level": lambda b: b,
    "input": lambda b: b["input"],
    "a gate": lambda b: b["input"]["circuit"][0],
    "noise": lambda b: b.setdefault("noise", {"model": "ideal"}),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("where", list(ROUTES))
def test_unknown_request_fields_are_400(setup, version: str, where: str) -> None:
    emu, _, c = setup
    body = job_body() if version == "v0.4" else v03_body()
    ROUTES[where](body)["colour"] = "red"
    r = c[version].post("/jobs", json=body)
    assert r.status_code == 400, r.text
    assert not violations(r.json(), RESPONSES["error", version])
    assert "unknown field(s) ['colour']" in r.json()["message"]
    assert emu.created_jobs_count == 0


@pytest.mark.parametrize(("version", "key"), [("v0.4", "target"), ("v0.4", "format"),
                                               ("v0.3", "backend"), ("v0.3", "settings"),
                                               ("v0.3", "type")])
def test_the_other_versions_fields_are_400(setup, version: str, key: str) -> None:
    emu, _, c = setup
    body = job_body() if version == "v0.4" else v03_body()
    if key == "format":
        body["input"]["format"] = "ionq.circuit.v0"
    else:
        body[key] = "simulator" if key in ("target", "backend") else {}
    r = c[version].post("/jobs", json=body)
    assert r.status_code == 400 and "unknown field" in r.json()["message"], r.text
    assert emu.created_jobs_count == 0
