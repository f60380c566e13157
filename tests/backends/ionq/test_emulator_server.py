"""The local IonQ emulator as a server people leave running: hostile or broken input gets IonQ's
400 body instead of a crash, bursts of connections are not reset, stalled connections are
closed and cannot pile up threads, and it will not serve other machines without an API key.
Everything over real sockets on loopback; no assertion on how long anything took."""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest

from q_store.backends.ionq.emulator import (
    IonQEmulator,
    LatencyModel,
    ServerLimits,
    add_arguments,
    emulator_from_args,
    is_loopback,
    main,
)
from q_store.backends.ionq.emulator_schema import RESPONSES, violations
from q_store.errors import ConfigError
from tests.backends.ionq.emulator_support import (
    AUTH,
    KEY,
    LIVENESS_S,
    assert_error,
    raw_exchange,
    until,
)

FAST = LatencyModel(seconds_per_circuit=0.0)
HEAD = (b"POST /v0.4/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: apiKey " + KEY.encode()
        + b"\r\nContent-Type: application/json\r\n")


@contextmanager
def serving(**limits: Any) -> Iterator[tuple[IonQEmulator, httpx.Client]]:
    with IonQEmulator(api_key=KEY, latency=FAST, limits=ServerLimits(**limits)) as emu, \
            httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=60) as c:
        yield emu, c


def error_body(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw)
    assert not violations(body, RESPONSES["error", "v0.4"]), body
    return dict(body)


def connection_threads() -> int:
    return sum(t.name == "ionq-emulator-connection" for t in threading.enumerate())


# -- input that used to crash the handler ------------------------------------------------------
@pytest.mark.parametrize("value", [b"\xb2", b"\xb9\xb2", b"+5", b"-1", b"1e3", b"0x10",
                                   b"99999999999999999999"])
def test_content_length_must_be_ascii_digits(value: bytes) -> None:
    """``'²'.isdigit()`` is True (a latin-1 header byte 0xB2), and ``int('²')`` raised."""
    with serving() as (emu, c):
        status, headers, raw = raw_exchange(emu.port, HEAD + b"Content-Length: " + value
                                            + b"\r\n\r\n{}")
        assert status == 400 and headers["connection"] == "close"
        assert "Content-Length" in error_body(raw)["message"]
        assert c.get("/backends").status_code == 200  # still serving
        assert emu.created_jobs_count == 0


@pytest.mark.parametrize("limit", ["%C2%B2", "%EF%BC%95", "%D9%A3", "1%00"])
def test_limit_must_be_ascii_digits(limit: str) -> None:
    with serving() as (_, c):
        assert_error(c.get(f"/jobs?limit={limit}"), 400, "limit must be an integer")
        assert c.get("/jobs?limit=5").status_code == 200


def test_deeply_nested_json_is_400() -> None:
    with serving() as (emu, c):
        for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
            r = c.post("/jobs", content=deep, headers={"Content-Type": "application/json"})
            assert_error(r, 400, "nested too deeply")
        assert c.get("/backends").status_code == 200 and emu.created_jobs_count == 0


def test_bodies_over_max_body_bytes_are_400() -> None:
    with serving(max_body_bytes=1024) as (_, c):
        r = c.post("/jobs", content=b" " * 2048, headers={"Content-Type": "application/json"})
        assert_error(r, 400, "max_body_bytes")


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"\x00\xff\xfe /x\r\n\r\n",
                                 b"BREW /v0.4/jobs HTTP/1.1\r\nHost: x\r\n\r\n",
                                 b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"])
def test_malformed_requests_get_the_json_error_body(raw: bytes) -> None:
    """The standard library's own errors (bad request line, unknown method, line too long)
    are IonQ's JSON body too, never HTML."""
    with serving() as (emu, c):
        status, headers, body = raw_exchange(emu.port, raw)
        assert status in (400, 414, 501) and headers["content-type"] == "application/json"
        assert error_body(body)["statusCode"] == status
        assert c.get("/backends").status_code == 200


# -- bursts, stalls and threads -------------------------------------------------------------------
def test_200_concurrent_requests_over_20_threads_without_resets() -> None:
    """Every request on its own connection, all threads released at once: with a listen
    backlog of 5 about 1 % were reset."""
    with serving() as (emu, _):
        assert emu._server is not None and emu._server.request_queue_size >= 1024
        barrier = threading.Barrier(20)
        errors: list[BaseException] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client() -> None:
            barrier.wait()
            for _ in range(10):
                conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=LIVENESS_S)
                try:
                    conn.request("GET", "/v0.4/backends", headers={"Connection": "close"})
                    resp = conn.getresponse()
                    resp.read()
                    with lock:
                        statuses.append(resp.status)
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        errors.append(exc)
                finally:
                    conn.close()

        threads = [threading.Thread(target=client) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and statuses == [200] * 200


def test_idle_and_stalled_connections_are_closed() -> None:
    with serving(idle_timeout=0.3) as (emu, c):
        with socket.create_connection(("127.0.0.1", emu.port), timeout=LIVENESS_S) as idle, \
                socket.create_connection(("127.0.0.1", emu.port), timeout=LIVENESS_S) as half, \
                socket.create_connection(("127.0.0.1", emu.port), timeout=LIVENESS_S) as body:
            half.sendall(b"GET /v0.4/backends HTTP/1.1\r\nHost: x")  # stalls in the headers
            body.sendall(HEAD + b"Content-Length: 100\r\n\r\n{")  # stalls in the body
            for sock in (idle, half, body):
                assert sock.recv(1) == b""  # the server closed it (a hang would time out)
        until(lambda: emu.open_connections == 0, what="connection threads gone")
        r = c.get("/backends")  # an idle keep-alive connection is replaced transparently
        assert r.status_code == 200


def test_connection_threads_are_bounded() -> None:
    """Stalled connections beyond max_connections get 503 at once instead of a thread each;
    when the stalled ones go, service resumes."""
    with serving(max_connections=4, idle_timeout=LIVENESS_S) as (emu, _), ExitStack() as stack:
        stalled = [stack.enter_context(socket.create_connection(("127.0.0.1", emu.port)))
                   for _ in range(4)]
        until(lambda: emu.open_connections == 4, what="four connections served")
        status, headers, raw = raw_exchange(emu.port, b"GET /v0.4/backends HTTP/1.1\r\n"
                                                      b"Host: x\r\n\r\n")
        assert status == 503 and headers["retry-after"] == "1"
        assert "max_connections" in error_body(raw)["message"]
        assert connection_threads() <= 4
        for sock in stalled:
            sock.close()
        until(lambda: emu.open_connections == 0, what="stalled connections closed")
        with httpx.Client(base_url=emu.base_url, timeout=60) as c:
            assert c.get("/backends").status_code == 200


def test_200_stalled_connections_neither_pile_up_threads_nor_stay() -> None:
    with serving(max_connections=64, idle_timeout=0.5) as (emu, _), ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection(("127.0.0.1", emu.port),
                                                              timeout=LIVENESS_S))
                 for _ in range(200)]
        peak = 0
        for sock in socks:  # each is refused (503, closed) or served and then timed out
            peak = max(peak, connection_threads())
            sock.recv(65536)
        assert peak <= 64
        until(lambda: emu.open_connections == 0, what="all closed")
        assert emu._server is not None and emu._server.refused > 0


# -- who may connect ------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org"])
def test_binding_off_loopback_requires_an_api_key(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="give an API key"):
        IonQEmulator(host=host)
    IonQEmulator(host=host, api_key="s3cret")  # constructed, never started


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_may_accept_any_key(host: str) -> None:
    assert is_loopback(host)
    IonQEmulator(host=host)


def test_cli_refuses_a_public_host_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--api-key" in err
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    emu = emulator_from_args(parser.parse_args(["--host", "0.0.0.0", "--api-key", "k"]))
    assert emu.host == "0.0.0.0"
