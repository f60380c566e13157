"""Test doubles for the IonQ client and backend: a fake clock, and a small in-memory IonQ that
answers with job objects shaped field for field like IonQ's documented ones (v0.4 "Get a job";
v0.3 under ``/v0.3``), served through ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx

from q_store.backends.cost import count_billed_gates
from q_store.backends.ionq.serialize import circuit_from_ionq, probabilities_to_ionq
from q_store.sim import StatevectorSimulator

# IonQ's v0.4 "Get a job" reference: exactly these top-level fields
V04_JOB_FIELDS = ("id", "status", "type", "backend", "dry_run", "submitter_id", "project_id",
                  "parent_job_id", "child_job_ids", "session_id", "metadata", "name",
                  "submitted_at", "started_at", "completed_at",
                  "predicted_execution_duration_ms", "predicted_wait_time_ms",
                  "execution_duration_ms", "shots", "noise", "failure", "settings", "stats",
                  "results", "output")
V03_JOB_FIELDS = ("id", "status", "target", "name", "metadata", "qubits", "shots", "noise",
                  "request", "start", "response", "children", "results_url", "failure",
                  "gate_counts", "execution_time")
_SIM = StatevectorSimulator()


class FakeClock:
    """Fake time: ``sleep`` records the pause and moves ``now`` on without waiting; a test that
    would wait past ``limit`` (fake) seconds fails instead of hanging."""

    def __init__(self, limit: float = 1e7) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.limit = limit

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.now > self.limit:
            raise AssertionError(f"waited past {self.limit} s of (fake) time")
        await asyncio.sleep(0)

    def install(self, client: Any) -> FakeClock:
        """Make ``client`` (an IonQClient) read and sleep on this clock."""
        client.clock, client.sleep = self, self.sleep
        return self


def iso(t: float | None) -> str | None:
    """ISO-8601 UTC with a ``Z``, as IonQ v0.4 writes times."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds"
                                                             ).replace("+00:00", "Z")


class _Job:
    """One job the fake holds: the request, its children and its exact results."""

    def __init__(self, job_id: str, body: dict[str, Any], created: float) -> None:
        self.id = job_id
        self.body = body
        self.created = created
        self.gets = 0
        self.status = "submitted"
        self.canceled = False
        inp = body["input"]
        self.qubits = int(inp["qubits"])
        gateset = inp.get("gateset", "qis")
        circuits = ([c["circuit"] for c in inp["circuits"]] if "circuits" in inp
                    else [inp["circuit"]])
        self.circuits = [circuit_from_ionq(self.qubits, c, gateset) for c in circuits]
        multi = "circuits" in inp
        self.children = [f"{job_id}-{i}" for i in range(len(circuits))] if multi else []

    def probabilities(self) -> list[dict[str, float]]:
        return [probabilities_to_ionq(_SIM.probabilities(c), self.qubits, tol=1e-15)
                for c in self.circuits]

    def gate_counts(self) -> dict[str, int]:
        counts = [count_billed_gates(c) for c in self.circuits]
        return {"1q": sum(a for a, _ in counts), "2q": sum(b for _, b in counts)}


class FakeIonQ:
    """An in-memory IonQ over ``httpx.MockTransport`` (``transport()``).

    ``POST /jobs``, ``GET /jobs`` (newest first, paged with ``next``), ``GET /jobs/{id}``,
    probabilities (v0.4 ``.../results/probabilities[/aggregated]``, v0.3 ``.../results``) and
    ``PUT .../status/cancel``. A job completes at its ``polls_to_finish``-th ``GET``; results
    are the exact probabilities of the circuits it was sent, keyed as IonQ keys them (qubit 0
    least significant). ``interleave`` makes every request yield to the event loop, so
    concurrent submissions really interleave. ``forget_delivered`` drops a job once its
    results were read (a long run then holds nothing here). ``results_override`` replaces a
    job's probability answer (malformed results)."""

    def __init__(self, *, polls_to_finish: int = 1, interleave: bool = False,
                 forget_delivered: bool = False, page_size: int = 100) -> None:
        self.jobs: dict[str, _Job] = {}
        self.order: list[str] = []
        self.polls_to_finish = polls_to_finish
        self.interleave = interleave
        self.forget_delivered = forget_delivered
        self.page_size = page_size
        self.created = 0
        self.calls: list[tuple[str, str]] | None = [] if not forget_delivered else None
        self.results_override: dict[str, Any] = {}
        self.server_time = time.time()  # the server's clock: job times are written from it

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.interleave:
            await asyncio.sleep(0)
        method, path = request.method, request.url.path
        version, _, rest = path.lstrip("/").partition("/")
        if self.calls is not None:
            self.calls.append((method, path))
        self.server_time += 0.001
        parts = rest.split("/")
        if method == "POST" and parts == ["jobs"]:
            return self._create(json.loads(request.content), version)
        if method == "GET" and parts == ["jobs"]:
            return self._list(version, request.url.params.get("next"))
        job = self.jobs.get(parts[1]) if len(parts) > 1 else None
        if job is None:
            return httpx.Response(404, json={"error": "NotFound", "message": "no such job",
                                             "statusCode": 404})
        if method == "GET" and len(parts) == 2:
            job.gets += 1
            if job.gets >= self.polls_to_finish and not job.canceled:
                job.status = "completed"
            return httpx.Response(200, json=self.job_object(job, version))
        if method == "PUT" and parts[2:] == ["status", "cancel"]:
            if job.status != "completed":
                job.status, job.canceled = "canceled", True
            return httpx.Response(200, json={"id": job.id, "status": job.status})
        if method == "GET" and parts[2] == "results":
            return self._results(job)
        return httpx.Response(400, json={"error": "BadRequest", "message": f"bad {path}",
                                         "statusCode": 400})

    def _create(self, body: dict[str, Any], version: str) -> httpx.Response:
        job_id = f"job-{self.created:06d}"
        self.created += 1
        self.jobs[job_id] = _Job(job_id, body, self.server_time)
        self.order.append(job_id)
        return httpx.Response(200, json={"id": job_id, "status": "submitted"})

    def _list(self, version: str, cursor: str | None) -> httpx.Response:
        newest = self.order[::-1]
        start = 0 if cursor is None else newest.index(cursor) + 1
        page = newest[start:start + self.page_size]
        out: dict[str, Any] = {"jobs": [self.job_object(self.jobs[i], version) for i in page]}
        if start + self.page_size < len(newest):
            out["next"] = page[-1]
        return httpx.Response(200, json=out)

    def _results(self, job: _Job) -> httpx.Response:
        if job.status != "completed":
            return httpx.Response(400, json={"error": "NotReady", "message": "not completed",
                                             "statusCode": 400})
        if job.id in self.results_override:
            answer = self.results_override[job.id]
        else:
            maps = job.probabilities()
            answer = dict(zip(job.children, maps, strict=True)) if job.children else maps[0]
        if self.forget_delivered:
            del self.jobs[job.id]
            self.order.remove(job.id)
        # json.dumps writes NaN and Infinity (as some servers do); httpx's json= refuses them
        return httpx.Response(200, content=json.dumps(answer).encode(),
                              headers={"Content-Type": "application/json"})

    def job_object(self, job: _Job, version: str) -> dict[str, Any]:
        """The job as ``GET /jobs/{id}`` returns it in ``version``: exactly IonQ's fields."""
        obj = self._v04(job) if version == "v0.4" else self._v03(job)
        assert tuple(obj) == (V04_JOB_FIELDS if version == "v0.4" else V03_JOB_FIELDS)
        return obj

    def _v04(self, job: _Job) -> dict[str, Any]:
        done = job.status == "completed"
        body = job.body
        return {
            "id": job.id, "status": job.status, "type": body.get("type"),
            "backend": body.get("backend"), "dry_run": False, "submitter_id": "user-7",
            "project_id": "project-3", "parent_job_id": None,
            "child_job_ids": list(job.children), "session_id": None,
            "metadata": dict(body.get("metadata") or {}), "name": body.get("name"),
            "submitted_at": iso(job.created),
            "started_at": iso(job.created + 0.5) if done else None,
            "completed_at": iso(job.created + 1.0) if done else None,
            "predicted_execution_duration_ms": 500, "predicted_wait_time_ms": 0,
            "execution_duration_ms": 500 if done else None, "shots": body.get("shots"),
            "noise": body.get("noise"), "failure": None, "settings": {},
            "stats": {"qubits": job.qubits, "circuits": len(job.circuits),
                      "gate_counts": job.gate_counts()},
            "results": ({"probabilities": {"url": f"/v0.4/jobs/{job.id}/results/probabilities"}}
                        if done else None),
            "output": None,
        }

    def _v03(self, job: _Job) -> dict[str, Any]:
        done = job.status == "completed"
        body = job.body
        return {
            "id": job.id, "status": job.status, "target": body.get("target"),
            "name": body.get("name"), "metadata": dict(body.get("metadata") or {}),
            "qubits": job.qubits, "shots": body.get("shots"), "noise": body.get("noise"),
            "request": job.created, "start": job.created + 0.5 if done else None,
            "response": job.created + 1.0 if done else None,
            "children": list(job.children) or None,
            "results_url": f"/v0.3/jobs/{job.id}/results" if done else None,
            "failure": None, "gate_counts": job.gate_counts(),
            "execution_time": 500 if done else None,
        }

    def top_level(self) -> Iterator[_Job]:
        return (self.jobs[i] for i in self.order)
