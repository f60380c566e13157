"""A local IonQ-compatible HTTP server: the real client runs against it offline and in tests.

It speaks IonQ's HTTP contract (v0.4 and v0.3 paths, ``Authorization: apiKey <key>``, single
and multi-circuit jobs, statuses, result endpoints, ``{"error", "message", "statusCode"}``
bodies), simulates the circuits for real (exact probabilities on the ideal simulator, seeded
shot histograms under the Aria/Forte noise presets and on QPU backends), models latency
(:class:`LatencyModel`) and injects faults on demand (:class:`FaultPlan`). Standard library
only: ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive.

    with IonQEmulator(api_key="test-key", latency=LatencyModel(time_scale=0.01)) as emu:
        emu.faults.add("rate_limit", retry_after=0)
        ...  # point the IonQ client at emu.base_url

From a shell: ``python -m q_store.backends.ionq.emulator --port 8765`` (see :func:`main`).
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from q_store.backends.ionq.emulator_device import (
    COMPLETED,
    STARTED,
    EmulatedDevice,
    EmulatedJob,
)
from q_store.backends.ionq.emulator_faults import FaultPlan
from q_store.backends.ionq.emulator_latency import LatencyModel
from q_store.backends.ionq.emulator_requests import (
    BACKEND_QUBITS,
    NOISE_MODELS,
    ApiError,
    bad_request,
    parse_job_request,
)
from q_store.errors import BackendError, ConfigError

__all__ = ["FaultPlan", "IonQEmulator", "LatencyModel", "add_arguments", "main",
           "run_from_args"]

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


def _job_json(job: EmulatedJob, version: str) -> dict[str, Any]:
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


class _Server(ThreadingHTTPServer):
    """A threading server that tracks its connections so ``stop`` can close them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: IonQEmulator) -> None:
        self.emulator = emulator
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
    server: _Server

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
            return 200, _job_json(device.get(job_id)[0], version)
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
        out: dict[str, Any] = {"jobs": [_job_json(j, version) for j in jobs]}
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


class IonQEmulator:
    """A local IonQ-compatible server (see the module docstring).

    ``api_key=None`` accepts any non-empty key; ``port=0`` picks a free port; ``seed`` makes
    shot histograms of jobs without a noise seed reproducible (in submission order).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 latency: LatencyModel | None = None, seed: int | None = None) -> None:
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()
                                    or any(c.isspace() for c in api_key)):
            raise ConfigError("api_key must be a non-empty string without spaces, or None to "
                              "accept any key")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be an integer from 0 to 65535, got {port!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                                 or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.host = host
        self._port = port
        self._api_key = api_key
        self.latency = latency if latency is not None else LatencyModel()
        self.faults = FaultPlan()
        self._stopping = threading.Event()
        self._device = EmulatedDevice(lambda: self.latency, seed, self._stopping)
        self._log_lock = threading.Lock()
        self._requests: list[tuple[str, str, int]] = []
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._used = False

    @property
    def latency(self) -> LatencyModel:
        return self._latency

    @latency.setter
    def latency(self, value: LatencyModel) -> None:
        if not isinstance(value, LatencyModel):
            raise ConfigError(f"latency must be a LatencyModel, got {value!r}")
        self._latency = value

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> IonQEmulator:
        """Bind the port and serve in background threads."""
        if self._used:
            raise BackendError("this IonQEmulator was already started; create a new one")
        self._used = True
        self._server = _Server((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._device.start()
        self._serve_thread = threading.Thread(target=self._server.serve_forever,
                                              kwargs={"poll_interval": 0.05},
                                              name="ionq-emulator-server", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close connections, join every thread. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join()
        self._device.stop()

    def __enter__(self) -> IonQEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and records ---------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v0.4"

    @property
    def jobs(self) -> Mapping[str, EmulatedJob]:
        """Snapshot of every job record (children included), by id."""
        return MappingProxyType(self._device.snapshot())

    @property
    def requests(self) -> tuple[tuple[str, str, int], ...]:
        """``(method, path, status)`` of every handled request (status 0: dropped)."""
        with self._log_lock:
            return tuple(self._requests)

    @property
    def created_jobs_count(self) -> int:
        """Top-level jobs created through POST /jobs."""
        return self._device.created

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._requests.append((method, path, status))

    def _backends(self) -> list[dict[str, Any]]:
        wait_ms = round(self.latency.queue_delay() * 1000)
        out = []
        for name, qubits in BACKEND_QUBITS.items():
            entry: dict[str, Any] = {"backend": name, "status": "available", "qubits": qubits,
                                     "average_queue_time": wait_ms,
                                     "last_updated": int(time.time())}
            if name == "simulator":
                entry["noise_models"] = list(NOISE_MODELS)
            out.append(entry)
        return out

    def __repr__(self) -> str:
        key = "any" if self._api_key is None else "***"
        state = "serving" if self._server is not None else "stopped"
        return (f"IonQEmulator({self.root_url}, api_key={key}, {state}, "
                f"latency={self.latency!r})")


# -- command line ---------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's command-line options (``q-store ionq-emulator ...``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    parser.add_argument("--api-key", default=None,
                        help="the only API key accepted (default: any non-empty key)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every modelled delay (default 1: real time)")
    parser.add_argument("--request-overhead", type=float, default=0.0,
                        help="seconds added to every request (before scaling)")
    parser.add_argument("--queue-wait", type=float, default=0.0,
                        help="seconds a job waits before it may start (before scaling)")
    parser.add_argument("--seconds-per-circuit", type=float, default=None,
                        help="fixed execution time per circuit (default: from shots and gates)")
    parser.add_argument("--seed", type=int, default=None, help="seed for shot histograms")


def emulator_from_args(args: argparse.Namespace) -> IonQEmulator:
    """An (unstarted) emulator configured by :func:`add_arguments`'s options."""
    latency = LatencyModel(request_overhead=args.request_overhead, queue_wait=args.queue_wait,
                           seconds_per_circuit=args.seconds_per_circuit,
                           time_scale=args.time_scale)
    return IonQEmulator(host=args.host, port=args.port, api_key=args.api_key, latency=latency,
                        seed=args.seed)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM), printing the base URL first."""
    emu = emulator_from_args(args)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    with emu:
        keys = "any non-empty API key" if args.api_key is None else "the given API key only"
        print(f"IonQ emulator serving {emu.base_url} (and {emu.root_url}/v0.3), accepting "
              f"{keys}; Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m q_store.backends.ionq.emulator",
                                     description="Local IonQ-compatible server.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
