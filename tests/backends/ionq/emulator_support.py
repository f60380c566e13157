"""Helpers shared by the IonQ emulator's tests: request bodies, polling, error checks.

Polling helpers take a generous ``timeout``: it only stops a broken test from hanging, and is
never an assertion about speed (a loaded CI machine may take many seconds to JIT-compile the
simulator on the first job). Timing assertions use the emulator's :class:`ManualClock`.
"""

from __future__ import annotations

import copy
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import httpx

from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel, ManualClock

KEY = "test-key"
AUTH = {"Authorization": f"apiKey {KEY}"}
X0 = [{"gate": "x", "target": 0}]
LIVENESS_S = 120.0  # how long a poll may wait before the test is declared hung


def job_body(circuit: list[dict[str, Any]] = X0, qubits: int = 3, shots: int = 100,
             backend: str = "simulator", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "ionq.circuit.v1", "backend": backend, "shots": shots,
                            "input": {"gateset": "qis", "qubits": qubits, "circuit": circuit}}
    body.update(extra)
    return copy.deepcopy(body)  # callers may edit it; shared gate lists must not change


def multi_body(circuits: list[list[dict[str, Any]]], qubits: int = 3, shots: int = 100,
               gateset: str = "qis", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "ionq.multi-circuit.v1", "backend": "simulator", "shots": shots,
        "input": {"gateset": gateset, "qubits": qubits,
                  "circuits": [{"name": f"c{i}", "circuit": c} for i, c in enumerate(circuits)]}}
    body.update(extra)
    return copy.deepcopy(body)


def v03_body(circuit: list[dict[str, Any]] = X0, qubits: int = 2, shots: int = 10,
             **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"target": "simulator", "shots": shots,
                            "input": {"format": "ionq.circuit.v0", "gateset": "qis",
                                      "qubits": qubits, "circuit": circuit}}
    body.update(extra)
    return copy.deepcopy(body)


def submit(client: httpx.Client, body: dict[str, Any], version: str = "v0.4") -> str:
    """POST a job; v0.4 answers 201 Created, v0.3 200."""
    r = client.post(f"../{version}/jobs", json=body)
    assert r.status_code == (201 if version == "v0.4" else 200), r.text
    return str(r.json()["id"])


def until(check: Callable[[], Any], timeout: float = LIVENESS_S, what: str = "condition"
          ) -> Any:
    """Poll ``check`` until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"{what} not reached within {timeout} s (test hung?)")


def status(client: httpx.Client, job_id: str, version: str = "v0.4") -> str:
    return str(client.get(f"../{version}/jobs/{job_id}").json()["status"])


def wait(client: httpx.Client, job_id: str, version: str = "v0.4") -> dict[str, Any]:
    """Poll a job until it is done; return its last job object."""
    def done() -> dict[str, Any] | None:
        job = client.get(f"../{version}/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "failed", "canceled") else None
    return dict(until(done, what=f"job {job_id} done"))


def assert_error(r: httpx.Response, code: int, contains: str | None = None) -> dict[str, Any]:
    """``r`` is IonQ's error body ``{error, message, statusCode}`` for HTTP ``code``; ``error``
    is the status's reason phrase, as IonQ's error-code tables name them."""
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"error", "message", "statusCode"}, body
    assert body["statusCode"] == code and body["error"] == HTTPStatus(code).phrase, body
    if contains is not None:
        assert contains in body["message"], body["message"]
    return dict(body)


def raw_exchange(port: int, data: bytes, timeout: float = LIVENESS_S
                 ) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the emulator on loopback; return ``(status, headers, body)`` of its
    answer (status 0: the connection closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return 0, {}, buf
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        size = int(headers.get("content-length", "0"))
        while len(rest) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:size]


@contextmanager
def on_clock(clock: ManualClock, latency: LatencyModel, **kw: Any
             ) -> Iterator[tuple[IonQEmulator, httpx.Client]]:
    """An emulator whose device runs on a fake clock, and a v0.4 client for it."""
    with IonQEmulator(api_key=KEY, latency=latency, clock=clock, **kw) as emu, \
            httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as client:
        yield emu, client
