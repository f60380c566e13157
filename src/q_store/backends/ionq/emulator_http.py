"""HTTP layer of the local IonQ emulator: routing, auth, error bodies, faults, connections.

Standard library only (``ThreadingHTTPServer``, HTTP/1.1 keep-alive, a Content-Length on every
response). Built to be left running for many clients: a deep listen backlog, at most
``max_connections`` connection threads (one more connection is answered 503 and closed), an
idle timeout on every connection (a stalled or forgotten client is closed, its thread freed),
ASCII-only number parsing and a bounded, depth-safe JSON reader, so no input crashes it. Every
error, its own included, is IonQ's ``{"error", "message", "statusCode"}`` body. Every request is
logged as ``(method, path, status)``; the API key never is.
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

from q_store.backends.ionq.emulator_device import CANCELED, COMPLETED, FAILED
from q_store.backends.ionq.emulator_requests import (
    ApiError,
    bad_request,
    parse_job_request,
)
from q_store.backends.ionq.emulator_results import encode_aggregated
from q_store.backends.ionq.emulator_views import backends_json, create_json, job_json

if TYPE_CHECKING:
    from q_store.backends.ionq.emulator import IonQEmulator

__all__ = ["EmulatorServer", "ascii_int"]

_log = logging.getLogger(__name__)
_VERSIONED = re.compile(r"^/(v0\.[34])(/.*)?$")
_ID = r"(?P<id>[^/]+)"
_ASCII_INT = re.compile(r"[0-9]{1,12}")
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
MAX_PAGE = 1000
DEFAULT_PAGE = 25


def ascii_int(text: str) -> int | None:
    """``text`` as a non-negative integer if it is 1 to 12 ASCII digits, else None.
    (``str.isdigit`` accepts ``"²"``, which ``int`` then rejects.)"""
    return int(text) if _ASCII_INT.fullmatch(text) else None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise bad_request("the body is not acceptable JSON: it is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None


class EmulatorServer(ThreadingHTTPServer):
    """A threading server with bounded connection threads that ``stop`` can all close."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: IonQEmulator) -> None:
        self.emulator = emulator
        self.request_queue_size = emulator.limits.request_queue_size  # listen backlog
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._slots = threading.BoundedSemaphore(emulator.limits.max_connections)
        self.refused = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's reverse DNS lookup of the host
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        t = threading.Thread(target=self._serve_connection, args=(request, client_address),
                             name="ionq-emulator-connection", daemon=True)
        with self._lock:
            self._conns[request] = t
        t.start()

    def _refuse(self, request: socket.socket) -> None:
        """Answer a connection over ``max_connections`` with 503 and close it, on the accept
        thread (a few hundred bytes, never a blocking read)."""
        limit = self.emulator.limits.max_connections
        err = ApiError(503, f"the emulator is serving its maximum of {limit} connections "
                       "(max_connections); retry shortly")
        body = json.dumps(err.body()).encode()
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
        self.refused += 1
        self.emulator._log("-", "-", 503)
        try:
            request.settimeout(1.0)
            request.sendall(head.encode() + body)
            request.setblocking(False)
            while request.recv(65536):  # drain what arrived, so close sends FIN, not RST
                pass
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._conns.pop(request, None)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            _log.exception("IonQ emulator: unexpected error serving %s", client_address)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

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

    def setup(self) -> None:
        self.timeout = self.server.emulator.limits.idle_timeout  # socket timeout: idle close
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: ``IonQEmulator.requests`` is the request log."""

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The standard library's own errors (malformed request line, headers too long or too
        many, unsupported method) as IonQ's JSON error body, not HTML; the connection closes."""
        body = json.dumps(ApiError(code, message or explain or "the request was not "
                                   "understood").body()).encode()
        self.server.emulator._log(self.command or "-", getattr(self, "path", "-") or "-", code)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unparsed request line: answer in HTTP/1.1,
            self.request_version = "HTTP/1.1"   # with a status line and headers
        self.send_response(code)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

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
        limit = self.server.emulator.limits.max_body_bytes
        text = self.headers.get("Content-Length", "0").strip()
        length = ascii_int(text)
        if length is None or length > limit:
            raise bad_request(f"Content-Length must be an integer from 0 to {limit} "
                              f"(max_body_bytes), got {text!r:.40}")
        return self.rfile.read(length)

    def _send(self, method: str, path: str, status: int, payload: object,
              headers: Mapping[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
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
            self._send(method, path, exc.status, exc.body())
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
            err = ApiError(429, f"rate limit exceeded; retry after {fault.retry_after} s "
                           "(injected fault)")
            status, payload = 429, err.body()
            headers["Retry-After"] = str(fault.retry_after)
        elif fault is not None and kind == "server_error":
            status = fault.status
            payload = ApiError(status, f"the server failed with {status} "
                               "(injected fault)").body()
        else:
            try:
                status, payload = self._route(method, path, rel, version, url.query, body)
            except ApiError as exc:
                status, headers, payload = exc.status, exc.headers, exc.body()
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
            raise ApiError(401, "missing Authorization header; send "
                           "'Authorization: apiKey <your key>'")
        scheme, _, key = value.strip().partition(" ")
        if scheme.lower() != "apikey" or not key.strip():
            raise ApiError(401, "the Authorization header must read 'apiKey <your key>'")
        expected = self.server.emulator._api_key
        if expected is not None and not hmac.compare_digest(key.strip().encode(),
                                                            expected.encode()):
            raise ApiError(401, "invalid API key")

    def _route(self, method: str, path: str, rel: str, version: str | None, query: str,
               body: bytes) -> tuple[int, object]:
        if version is None:
            raise ApiError(404, f"no resource at {path:.100}; the API lives under /v0.4 "
                           "(and /v0.3)")
        matches = [(meth, action, mt) for meth, pattern, action, versions in _ROUTES
                   if version in versions and (mt := pattern.fullmatch(rel))]
        if not matches:
            raise ApiError(404, f"no resource at {path:.100}")
        chosen = next(((a, mt) for meth, a, mt in matches if meth == method), None)
        if chosen is None:
            allowed = sorted({meth for meth, _, _ in matches})
            raise ApiError(405, f"{method} is not allowed on {path:.100}; use "
                           f"{', '.join(allowed)}", {"Allow": ", ".join(allowed)})
        action, mt = chosen
        emu = self.server.emulator
        if action == "backends":
            return 200, backends_json(version, emu.latency, emu.clock.time())
        self._authorize()
        device = emu._device
        if action == "create":
            return (201 if version == "v0.4" else 200), self._create(method, path, rel,
                                                                     version, body)
        if action == "list":
            return 200, self._list(version, query)
        job_id = mt.group("id")
        if action == "get":
            return 200, job_json(device.get(job_id)[0], version)
        if action == "cancel":
            return 200, {"id": job_id, "status": device.cancel(job_id)}
        if action == "delete":
            device.delete(job_id)
            return 200, {"id": job_id, "status": "deleted"}
        return 200, self._results(job_id)

    def _create(self, method: str, path: str, rel: str, version: str, body: bytes) -> object:
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise bad_request(f"Content-Type must be application/json, got {ctype!r:.60}")
        emu = self.server.emulator
        req = parse_job_request(_parse_json(body), version, emu.limits.max_result_entries)
        job = emu._device.submit(req, emu.faults.take(method, path, rel, job_fault=True),
                                 len(body))
        return create_json(job, version)

    def _list(self, version: str, query: str) -> object:
        params = parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(params) - {"limit", "next"})
        if unknown:
            raise bad_request(f"query parameter(s) {unknown} are not supported by the "
                              "emulator; use limit and next")
        limit_text = params.get("limit", [str(DEFAULT_PAGE)])[-1]
        limit = ascii_int(limit_text)
        if limit is None or not 1 <= limit <= MAX_PAGE:
            raise bad_request(f"limit must be an integer from 1 to {MAX_PAGE}, "
                              f"got {limit_text!r:.40}")
        cursor = params.get("next", [None])[-1]
        jobs, nxt = self.server.emulator._device.page(limit, cursor)
        out: dict[str, Any] = {"jobs": [job_json(j, version, listed=True) for j in jobs]}
        if version == "v0.4" or nxt is not None:
            out["next"] = nxt
        return out

    def _results(self, job_id: str) -> bytes:
        job, children = self.server.emulator._device.get(job_id)
        if job.status == COMPLETED:
            if children:
                return encode_aggregated((c.id, c.probabilities) for c in children
                                         if c.probabilities is not None)
            assert job.probabilities is not None
            return job.probabilities.to_json()
        if job.status == FAILED:
            reason = job.failure["message"] if job.failure else "unknown failure"
            raise ApiError(404, f"job {job_id} failed ({reason}); it has no results")
        if job.status == CANCELED:
            raise ApiError(404, f"job {job_id} was canceled; it has no results")
        raise ApiError(404, f"job {job_id} is {job.status}; results exist once it is "
                       "completed")
