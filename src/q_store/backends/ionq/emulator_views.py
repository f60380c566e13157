"""Response bodies of the local IonQ emulator, field for field as IonQ documents them.

One function per documented object (:mod:`.emulator_schema` holds the field lists and the
contract tests check every response against them). v0.4 and v0.3 differ in names and forms:

- v0.4 jobs carry every documented field, null when it does not apply; times are ISO-8601
  strings; qubits and gate counts live under ``stats``; the result link under
  ``results.probabilities.url``; a failure is ``{code, message}``.
- v0.3 jobs name the backend ``target``, give ``request``/``start``/``response`` in Unix
  seconds, list children in ``children``, link results with ``results_url``, put ``qubits`` and
  ``gate_counts`` at the top, say ``running`` for ``started``, write a failure as ``{error,
  code}``, and leave out what does not apply.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from q_store.backends.ionq.emulator_device import COMPLETED, STARTED, EmulatedJob
from q_store.backends.ionq.emulator_latency import LatencyModel
from q_store.backends.ionq.emulator_limits import BACKEND_QUBITS

__all__ = ["SUBMITTER_ID", "backends_json", "create_json", "iso8601", "job_json"]

SUBMITTER_ID = "local-emulator"  # v0.4 requires a submitter id; the emulator has one user
_INT32_MAX = 2**31 - 1


def iso8601(unix: float) -> str:
    """IonQ's v0.4 time form, e.g. ``2025-05-28T20:47:05.440Z``."""
    text = datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else min(_INT32_MAX, round(seconds * 1000))


def _iso_or_none(unix: float | None) -> str | None:
    return None if unix is None else iso8601(unix)


def _results_v04(job: EmulatedJob) -> dict[str, Any] | None:
    if job.status != COMPLETED:
        return None
    return {"probabilities": {"url": f"/v0.4/jobs/{job.id}/results/probabilities"}}


def _job_v04(job: EmulatedJob, listed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id, "status": job.status, "type": job.type, "backend": job.backend,
        "dry_run": False, "submitter_id": SUBMITTER_ID, "project_id": None,
        "parent_job_id": job.parent_id, "session_id": None,
        "metadata": None if job.metadata is None else dict(job.metadata), "name": job.name,
        "submitted_at": iso8601(job.request), "started_at": _iso_or_none(job.start),
        "completed_at": _iso_or_none(job.response),
        "predicted_execution_duration_ms": _ms(job.predicted_execution),
        "predicted_wait_time_ms": _ms(job.predicted_wait),
        "execution_duration_ms": _ms(job.execution_time), "shots": job.shots,
    }
    if job.noise is not None:  # "Only present in the response when backend is simulator"
        out["noise"] = dict(job.noise)
    out.update({
        "failure": None if job.failure is None else dict(job.failure),
        "settings": dict(job.settings),
        "stats": {"qubits": job.qubits, "circuits": job.circuits,
                  "gate_counts": {"1q": job.gate_counts[0], "2q": job.gate_counts[1]}},
        "results": _results_v04(job), "output": {},
    })
    if not listed:  # the job list's BaseJob has no child_job_ids
        out["child_job_ids"] = list(job.child_ids) or None
    return out


def _job_v03(job: EmulatedJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id, "status": "running" if job.status == STARTED else job.status,
        "request": int(job.request), "target": job.backend, "shots": job.shots,
        "gate_counts": {"1q": job.gate_counts[0], "2q": job.gate_counts[1]},
        "qubits": job.qubits, "circuits": job.circuits,
    }
    optional: dict[str, Any] = {
        "name": job.name, "metadata": job.metadata, "noise": job.noise,
        "start": None if job.start is None else int(job.start),
        "response": None if job.response is None else int(job.response),
        "execution_time": _ms(job.execution_time),
        "children": list(job.child_ids) or None,
        "failure": None if job.failure is None else {"error": job.failure["message"],
                                                     "code": job.failure["code"]},
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    if job.status == COMPLETED:
        out["results_url"] = f"/v0.3/jobs/{job.id}/results"
    return out


def job_json(job: EmulatedJob, version: str, listed: bool = False) -> dict[str, Any]:
    """A job object as ``GET /jobs/{id}`` (or, ``listed``, ``GET /jobs``) returns it."""
    return _job_v04(job, listed) if version == "v0.4" else _job_v03(job)


def create_json(job: EmulatedJob, version: str) -> dict[str, Any]:
    """The ``POST /jobs`` answer: v0.4 ``{id, status, session_id}``, v0.3 ``{id, status}``."""
    out: dict[str, Any] = {"id": job.id, "status": job.status}
    if version == "v0.4":
        out["session_id"] = None
    return out


def backends_json(version: str, latency: LatencyModel, now: float) -> list[dict[str, Any]]:
    """``GET /backends``: every emulated backend, available, with the modelled queue wait (in
    milliseconds) as ``average_queue_time``."""
    wait_ms = round(latency.queue_delay() * 1000)
    stamp: str | int = iso8601(now) if version == "v0.4" else int(now)
    return [{"backend": name, "status": "available", "qubits": qubits,
             "average_queue_time": wait_ms, "last_updated": stamp, "degraded": False}
            for name, qubits in BACKEND_QUBITS.items()]
