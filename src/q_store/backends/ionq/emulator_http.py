"""HTTP layer of the local IonQ emulator: routing, auth, error bodies, faults, keep-alive.

Standard library only (``ThreadingHTTPServer``, HTTP/1.1 keep-alive, a Content-Length on every
response). Every request is logged as ``(method, path, status)``; the API key never is.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from q_store.backends.ionq.emulator_device import COMPLETED, STARTED, EmulatedJob
from q_store.backends.ionq.emulator_requests import ApiError, bad_request, parse_job_request

if TYPE_CHECKING:
    from q_store.backends.ionq.emulator import IonQEmulator

__all__ = ["EmulatorServer", "job_json"]

_log = logging.getLogger(__name__)
_VERSIONED = re.compile(r"^/(v0\.[34])(/.*)?$")
_ID = r"(?P<id>[^/]+)"
# (method, path pattern relative to /v0.x, action, API versions)
_ROUTES = [
    ("GET", re.compile(r"/backends/?"), "backends", ("v0.4", "v0.3")),
    ("POST", re.compile(r"/jobs/?"), "create", ("v0.4", "v0.3")),
    ("GET", re.compile(r"/jobs/?"), "list", ("v0.4", "v0.3")),
    ("GET", re.compile(rf"/jobs/{_ID}"), "get", ("v0.4", "v0.3")),
    ("DELETE", re.compile(rf"/jobs/{_ID}"), "delete", ("v0.4", "v0.3")),
    ("PUT", re.compile(rf"/jobs/{_ID}/status/cancel"), "cancel", ("v0.4", "v0.3")),
    ("GET", re.compile(rf"/jobs/{_ID}/results/probabilities"), "results", ("v0.4",)),
    ("GET", re.compile(rf"/jobs/{_ID}/results/probabilities/aggregated"), "results", ("v0.4",)),
    ("GET", re.compile(rf"/jobs/{_ID}/results"), "results", ("v0.3",)),
]
_REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed",
            409: "JobNotComplete", 429: "TooManyRequests", 500: "InternalServerError",
            502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
MAX_BODY_BYTES = 64 * 2**20
MAX_PAGE = 1000
DEFAULT_PAGE = 25


def _error_body(status: int, error: str, message: str) -> dict[str, Any]:
    return {"error": error, "message": message, "statusCode": status}


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")


def job_json(job: EmulatedJob, version: str) -> dict[str, Any]:
    """A job object as ``GET /jobs/{id}`` returns it in API ``version``."""
    status = "running" if version == "v0.3" and job.status == STARTED else job.status
    out: dict[str, Any] = {
        "id": job.id, "name": job.name, "status": status, "type": job.type,
        ("backend" if version == "v0.4" else "target"): job.backend, "shots": job.shots,
        "metadata": dict(job.metadata), "qubits": job.qubits,
        "gate_counts": {"1q": job.gate_counts[0], "2q": job.gate_counts[1]},
        "request": job.request,
    }
    optional = {"start": job.start, "response": job.response, "noise": job.noise,
                "parent_job_id": job.parent_id, "failure": job.failure,
                "child_job_ids": list(job.child_ids) or None,
                "execution_time": (None if job.execution_time is None
                                   else round(job.execution_time * 1000))}
    out.update({k: v for k, v in optional.items() if v is not None})
    if job.status == COMPLETED:
        if version == "v0.4":
            url = f"/v0.4/jobs/{job.id}/results/probabilities"
        else:
            url = out["results_url"] = f"/v0.3/jobs/{job.id}/results"
        out["results"] = {"probabilities": {"url": url}}
    return out


class EmulatorServer(ThreadingHTTPServer):
    """A threading server that tracks its connections so ``stop`` can close them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: IonQEmulator) -> None:
        self.emulator = emulator
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's reverse DNS lookup of the host
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(target=self._serve_connection, args=(request, client_address),
                             name="ionq-emulator-connection", daemon=True)
        with self._lock:
            self._conns[request] = t
        t.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._conns.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            _log.exception("IonQ emulator: unexpected error serving %s", client_address)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut down every open connection and join the threads serving them."""
        with self._lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in conns:
            thread.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "QStoreIonQEmulator/1"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: ``IonQEmulator.requests`` is the request log."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    # -- plumbing ----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise bad_request("send the body with a Content-Length header, not chunked")
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise bad_request(f"Content-Length must be an integer up to {MAX_BODY_BYTES}, "
                              f"got {length!r}")
        return self.rfile.read(int(length))

    def _send(self, method: str, path: str, status: int, payload: object,
              headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.server.emulator._log(method, path, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _drop(self, method: str, path: str) -> None:
        """Close the connection without a response."""
        self.server.emulator._log(method, path, 0)
        self.close_connection = True

    def _serve(self, method: str) -> None:
        emu = self.server.emulator
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
        except ApiError as exc:
            self.close_connection = True  # the rest of the stream cannot be trusted
            self._send(method, path, exc.status, _error_body(exc.status, exc.error, exc.message))
            return
        m = _VERSIONED.match(path)
        version, rel = (m.group(1), m.group(2) or "/") if m else (None, path)
        fault = emu.faults.take(method, path, rel)
        kind = None if fault is None else fault.kind
        if kind == "drop_before" or emu._stopping.wait(emu.latency.request_delay()):
            self._drop(method, path)
            return
        headers: dict[str, str] = {}
        if fault is not None and kind == "rate_limit":
            status = 429
            payload: object = _error_body(429, "TooManyRequests", "rate limit exceeded; retry "
                                          f"after {fault.retry_after} s (injected fault)")
            headers["Retry-After"] = str(fault.retry_after)
        elif fault is not None and kind == "server_error":
            status = fault.status
            payload = _error_body(status, _REASONS.get(status, "ServerError"),
                                  f"the server failed with {status} (injected fault)")
        else:
            try:
                status, payload = self._route(method, path, rel, version, url.query, body)
            except ApiError as exc:
                status, headers = exc.status, exc.headers
                payload = _error_body(exc.status, exc.error, exc.message)
        if kind == "drop_after":
            self._drop(method, path)
            return
        if fault is not None and kind == "slow" and emu._stopping.wait(fault.seconds):
            self._drop(method, path)
            return
        self._send(method, path, status, payload, headers)

    # -- the API -----------------------------------------------------------------------------
    def _authorize(self) -> None:
        value = self.headers.get("Authorization")
        if value is None:
            raise ApiError(401, "Unauthorized", "missing Authorization header; send "
                           "'Authorization: apiKey <your key>'")
        scheme, _, key = value.strip().partition(" ")
        if scheme.lower() != "apikey" or not key.strip():
            raise ApiError(401, "Unauthorized", "the Authorization header must read "
                           "'apiKey <your key>'")
        expected = self.server.emulator._api_key
        if expected is not None and not hmac.compare_digest(key.strip().encode(),
                                                            expected.encode()):
            raise ApiError(401, "Unauthorized", "invalid API key")

    def _route(self, method: str, path: str, rel: str, version: str | None, query: str,
               body: bytes) -> tuple[int, object]:
        if version is None:
            raise ApiError(404, "NotFound", f"no resource at {path}; the API lives under "
                           "/v0.4 (and /v0.3)")
        matches = [(meth, action, mt) for meth, pattern, action, versions in _ROUTES
                   if version in versions and (mt := pattern.fullmatch(rel))]
        if not matches:
            raise ApiError(404, "NotFound", f"no resource at {path}")
        chosen = next(((a, mt) for meth, a, mt in matches if meth == method), None)
        if chosen is None:
            allowed = sorted({meth for meth, _, _ in matches})
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {path}; "
                           f"use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
        action, mt = chosen
        if action != "backends":
            self._authorize()
        emu = self.server.emulator
        device = emu._device
        job_id = mt.groupdict().get("id")
        if action == "backends":
            return 200, emu._backends()
        if action == "create":
            return 200, self._create(method, path, rel, version, body)
        if action == "list":
            return 200, self._list(version, query)
        assert job_id is not None
        if action == "get":
            return 200, job_json(device.get(job_id)[0], version)
        if action == "cancel":
            return 200, {"id": job_id, "status": device.cancel(job_id)}
        if action == "delete":
            device.delete(job_id)
            return 200, {"id": job_id, "deleted": True}
        return 200, self._results(job_id)

    def _create(self, method: str, path: str, rel: str, version: str, body: bytes) -> object:
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise bad_request(f"Content-Type must be application/json, got {ctype!r}")
        try:
            obj = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request(f"the body is not valid JSON: {exc}") from None
        req = parse_job_request(obj, version)
        emu = self.server.emulator
        job = emu._device.submit(req, emu.faults.take(method, path, rel, job_fault=True))
        return {"id": job.id, "status": job.status, "request": job.request}

    def _list(self, version: str, query: str) -> object:
        params = parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(params) - {"limit", "next"})
        if unknown:
            raise bad_request(f"unknown query parameter(s) {unknown}; use limit and next")
        limit_text = params.get("limit", [str(DEFAULT_PAGE)])[-1]
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
            raise bad_request(f"limit must be an integer from 1 to {MAX_PAGE}, "
                              f"got {limit_text!r}")
        cursor = params.get("next", [None])[-1]
        jobs, nxt = self.server.emulator._device.page(int(limit_text), cursor)
        out: dict[str, Any] = {"jobs": [job_json(j, version) for j in jobs]}
        if nxt is not None:
            out["next"] = nxt
        return out

    def _results(self, job_id: str) -> object:
        job, children = self.server.emulator._device.get(job_id)
        if job.status == COMPLETED:
            if children:
                return {c.id: c.probabilities for c in children}
            return job.probabilities
        if job.status == "failed":
            reason = job.failure["error"] if job.failure else "unknown failure"
            raise ApiError(409, "JobFailed", f"job {job_id} failed: {reason}")
        if job.status == "canceled":
            raise ApiError(409, "JobCanceled", f"job {job_id} was canceled; it has no results")
        raise ApiError(409, "JobNotComplete", f"job {job_id} is {job.status}; results are "
                       "available once it is completed")
