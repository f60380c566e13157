"""IonQClient edge cases over httpx.MockTransport: retries, backoff, Retry-After, idempotent
submission, paging, timeouts, API-key hygiene. (End-to-end runs against the local IonQ server
are in test_backend.py.)"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from q_store.backends.ionq.client import (
    DEFAULT_JOB_TIMEOUT,
    TOKEN_KEY,
    IonQAPIError,
    IonQClient,
    check_metadata,
    job_body,
    parse_timestamp,
    resolve_api_key,
)
from q_store.errors import BackendError, ConfigError, JobTimeoutError
from tests.backends.ionq.fakes import FakeClock

KEY = "sk-client-test-4f1d9c2a77"
GATES = [{"gate": "h", "target": 0}]


class FakeIonQ:
    """A tiny in-memory IonQ: jobs, GET /jobs paging, and a script of failures to inject.

    ``script`` entries ``(method, kind)`` fire on the next matching request, in order; kinds:
    ``"drop_before"`` (ReadError, nothing processed), ``"drop_after"`` (processed, then
    ReadError), ``"connect"`` (ConnectError), an int (that HTTP status, not processed), or
    ``("retry_after", status, value)``.
    """

    def __init__(self, page_size: int = 2) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.script: list[tuple[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self.page_size = page_size
        self.auth: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        self.calls.append((method, path))
        self.auth.append(request.headers.get("authorization"))
        action = next((a for m, a in self.script if m == method), None)
        if action is not None:
            self.script.remove((method, action))
        if action == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if action == "drop_before":
            raise httpx.ReadError("connection reset by peer", request=request)
        if isinstance(action, int):
            return httpx.Response(action, json={"error": "Boom", "message": "transient",
                                                "statusCode": action})
        if isinstance(action, tuple):
            _, status, value = action
            return httpx.Response(status, headers={"Retry-After": value},
                                  json={"error": "TooManyRequests", "message": "slow down"})
        response = self._handle(method, path, request)
        if action == "drop_after":
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response

    def _handle(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        if method == "POST" and path.endswith("/jobs"):
            body = json.loads(request.content)
            job = {"id": f"job-{len(self.jobs)}", "status": "submitted",
                   "metadata": body.get("metadata", {}), "request": time.time()}
            self.jobs.append(job)
            return httpx.Response(200, json={"id": job["id"], "status": "submitted"})
        if method == "GET" and path.endswith("/jobs"):
            newest = self.jobs[::-1]
            cursor = request.url.params.get("next")
            start = 0 if cursor is None else [j["id"] for j in newest].index(cursor) + 1
            page = newest[start:start + self.page_size]
            out: dict[str, Any] = {"jobs": page}
            if start + self.page_size < len(newest):
                out["next"] = page[-1]["id"]
            return httpx.Response(200, json=out)
        if method == "GET" and "/jobs/" in path:
            job_id = path.rsplit("/", 1)[1]
            for job in self.jobs:
                if job["id"] == job_id:
                    return httpx.Response(200, json=job)
            return httpx.Response(404, json={"error": "NotFound", "message": "no such job",
                                             "statusCode": 404})
        return httpx.Response(400, json={"error": "BadRequest", "message": f"bad {path}",
                                         "statusCode": 400})


def make_client(fake: Callable[[httpx.Request], Any], **kwargs: Any
                ) -> tuple[IonQClient, list[float]]:
    """A client on ``fake`` on a :class:`FakeClock`: its sleeps are recorded, not slept."""
    kwargs.setdefault("backoff_base", 0.5)
    client = IonQClient(KEY, base_url="https://ionq.test", transport=httpx.MockTransport(fake),
                        rng=random.Random(7), **kwargs)
    return client, FakeClock().install(client).sleeps


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def body() -> dict[str, Any]:
    return job_body("v0.4", "simulator", 100, "qis", 1, [GATES])


# -- request bodies and validation ----------------------------------------------------------

def test_job_bodies_for_both_versions() -> None:
    single = job_body("v0.4", "simulator", 10, "qis", 2, [GATES], name="n",
                      metadata={"a": "b"}, noise={"model": "ideal", "seed": 3})
    assert single == {"type": "ionq.circuit.v1", "backend": "simulator", "shots": 10,
                      "name": "n", "metadata": {"a": "b"},
                      "noise": {"model": "ideal", "seed": 3},
                      "input": {"gateset": "qis", "qubits": 2, "circuit": GATES}}
    multi = job_body("v0.4", "qpu.aria-1", 10, "native", 1, [GATES, []])
    assert multi["type"] == "ionq.multi-circuit.v1" and "circuit" not in multi["input"]
    assert multi["input"]["circuits"] == [{"name": "0", "circuit": GATES},
                                          {"name": "1", "circuit": []}]
    old = job_body("v0.3", "simulator", 10, "qis", 1, [GATES, GATES])
    assert "type" not in old and "backend" not in old and old["target"] == "simulator"
    assert old["input"]["format"] == "ionq.circuit.v0" and len(old["input"]["circuits"]) == 2
    with pytest.raises(ConfigError, match=r"v0\.4"):
        job_body("v0.2", "simulator", 10, "qis", 1, [GATES])
    with pytest.raises(BackendError, match="at least one"):
        job_body("v0.4", "simulator", 10, "qis", 1, [])


def test_metadata_validation() -> None:
    assert check_metadata({"a": "1"}) == {"a": "1"}
    assert check_metadata(None) == {}
    with pytest.raises(BackendError, match="at most 9"):
        check_metadata({str(i): "v" for i in range(10)})
    with pytest.raises(BackendError, match="strings"):
        check_metadata({"a": 1})  # type: ignore[dict-item]
    with pytest.raises(BackendError, match="reserved"):
        check_metadata({TOKEN_KEY: "x"})


def test_api_key_from_argument_or_environment(monkeypatch) -> None:
    monkeypatch.setenv("IONQ_API_KEY", "from-env")
    assert resolve_api_key(None) == "from-env"
    assert resolve_api_key("explicit") == "explicit"
    monkeypatch.delenv("IONQ_API_KEY")
    with pytest.raises(ConfigError, match="IONQ_API_KEY"):
        resolve_api_key(None)
    with pytest.raises(ConfigError, match="whitespace") as err:
        resolve_api_key("abc def")
    assert "abc def" not in str(err.value)


def test_constructor_validation() -> None:
    for kwargs, match in (({"api_version": "v1"}, "API version"), ({"pool_size": 0}, "pool"),
                          ({"max_retries": -1}, "max_retries"),
                          ({"read_timeout": 0}, "read_timeout"),
                          ({"base_url": "ftp://x"}, "http")):
        with pytest.raises(ConfigError, match=match):
            IonQClient(KEY, **kwargs)


# -- retries ---------------------------------------------------------------------------------

def test_retry_after_is_honoured() -> None:
    fake = FakeIonQ()
    fake.script = [("POST", ("retry_after", 429, "2")), ("POST", ("retry_after", 503, "0.25"))]
    client, delays = make_client(fake)
    job = run(client.create_job(body()))
    assert job["id"] == "job-0" and len(fake.jobs) == 1
    assert 2.0 <= delays[0] <= 2.5 and 0.25 <= delays[1] <= 0.75  # + jitter up to backoff_base
    # a 503 may have been processed: the job list was checked (for lookup_window, 60 s)
    # before resending; after a 429 it was not
    posts = [i for i, (m, _) in enumerate(fake.calls) if m == "POST"]
    assert posts == [0, 1, len(fake.calls) - 1]
    lookups = fake.calls[2:-1]
    assert set(lookups) == {("GET", "/v0.4/jobs")} and len(lookups) >= 2
    assert sum(delays[2:]) == pytest.approx(60.0)


def _in_a_day() -> str:
    return email.utils.format_datetime(datetime.now(timezone.utc).replace(microsecond=0)
                                       + timedelta(days=1), usegmt=True)


@pytest.mark.parametrize("value", ["86400", "inf", "in_a_day"])
def test_a_retry_after_beyond_the_cap_fails_instead_of_sleeping(value: str) -> None:
    fake = FakeIonQ()
    fake.jobs.append({"id": "j", "status": "completed", "metadata": {}})
    value = _in_a_day() if value == "in_a_day" else value
    fake.script = [("GET", ("retry_after", 503, value))]
    client, delays = make_client(fake)
    with pytest.raises(IonQAPIError, match=r"asked to retry after \d+ s|inf s") as err:
        run(client.get_job("j"))
    text = str(err.value)
    assert "longer than max_retry_after=120 s" in text and "HTTP 503" in text
    assert err.value.status == 503 and delays == [] and len(fake.calls) == 1


def test_a_longer_retry_after_is_waited_for_when_allowed() -> None:
    fake = FakeIonQ()
    fake.jobs.append({"id": "j", "status": "completed", "metadata": {}})
    fake.script = [("GET", ("retry_after", 503, "86400"))]
    client, delays = make_client(fake, max_retry_after=100_000)
    assert run(client.get_job("j"))["id"] == "j"
    assert len(delays) == 1 and 86400 <= delays[0] <= 86400.5
    with pytest.raises(ConfigError, match="max_retry_after"):
        make_client(fake, max_retry_after=math.inf)


def test_exponential_backoff_with_full_jitter_then_give_up() -> None:
    fake = FakeIonQ()
    fake.script = [("GET", 502)] * 4
    client, delays = make_client(fake, max_retries=3, backoff_base=0.5, backoff_max=1.5)
    with pytest.raises(IonQAPIError, match="HTTP 502") as err:
        run(client.get_job("job-0"))
    assert err.value.status == 502
    assert len(fake.calls) == 4 and len(delays) == 3
    expected = random.Random(7)
    caps = [0.5, 1.0, 1.5]  # min(backoff_max, base * 2**k)
    assert delays == [expected.uniform(0.0, c) for c in caps]


def test_errors_other_than_transient_are_not_retried() -> None:
    fake = FakeIonQ()
    client, delays = make_client(fake)
    with pytest.raises(IonQAPIError, match="404 NotFound: no such job") as err:
        run(client.get_job("missing"))
    assert err.value.status == 404 and err.value.error == "NotFound"
    assert len(fake.calls) == 1 and delays == []
    with pytest.raises(BackendError, match="invalid IonQ job id"):
        run(client.get_job("../backends"))


def test_transport_errors_are_retried_and_reported() -> None:
    fake = FakeIonQ()
    fake.jobs.append({"id": "job-0", "status": "completed", "metadata": {}})
    fake.script = [("GET", "connect"), ("GET", "drop_before")]
    client, delays = make_client(fake)
    assert run(client.get_job("job-0"))["status"] == "completed"
    assert len(delays) == 2
    fake.script = [("GET", "connect")] * 3
    client, _ = make_client(fake, max_retries=2)
    with pytest.raises(BackendError, match="after 3 attempts: ConnectError"):
        run(client.get_job("job-0"))


# -- idempotent submission -------------------------------------------------------------------

@pytest.mark.parametrize("failure", ["drop_after", 500])
def test_ambiguous_failure_after_processing_reuses_the_job(failure: object) -> None:
    fake = FakeIonQ(page_size=1)
    for i in range(3):  # older jobs, so the lookup has to page
        fake.jobs.append({"id": f"old-{i}", "status": "completed", "metadata": {},
                          "request": time.time()})
    if failure == 500:  # a 5xx whose request was nonetheless processed
        def processed_then_500(request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and not fake.jobs[-1]["id"].startswith("job"):
                fake.calls.append(("POST", request.url.path))
                fake._handle("POST", request.url.path, request)
                return httpx.Response(500, json={"error": "Internal", "message": "oops"})
            return fake(request)
        client, _ = make_client(processed_then_500)
    else:
        fake.script = [("POST", "drop_after")]
        client, _ = make_client(fake)
    job = run(client.create_job(body()))
    created = [j for j in fake.jobs if not j["id"].startswith("old")]
    assert len(created) == 1 and job["id"] == created[0]["id"]
    assert sum(1 for m, p in fake.calls if m == "POST") == 1
    assert created[0]["metadata"][TOKEN_KEY] == job["metadata"][TOKEN_KEY]


def test_failure_before_processing_resubmits_once() -> None:
    fake = FakeIonQ()
    fake.script = [("POST", "drop_before")]
    client, delays = make_client(fake)
    job = run(client.create_job(body(), token="tok-1"))
    assert [j["id"] for j in fake.jobs] == [job["id"]]
    assert fake.jobs[0]["metadata"] == {TOKEN_KEY: "tok-1"}
    methods = [m for m, _ in fake.calls]
    # the token was looked up (several times, over lookup_window) before the one resend
    assert methods[0] == "POST" and methods[-1] == "POST" and methods.count("POST") == 2
    assert set(methods[1:-1]) == {"GET"} and len(methods) > 3
    assert sum(delays[1:]) == pytest.approx(60.0)


class LateCreation:
    """A server that creates the job of the first ``POST /jobs`` only ``delay`` (fake) seconds
    after the client's read timed out: the slow-backend case in which a single token lookup
    misses the job and the resend pays for it twice."""

    def __init__(self, delay: float) -> None:
        self.fake = FakeIonQ()
        self.delay = delay
        self.clock = FakeClock()
        self.pending: list[tuple[float, httpx.Request]] = []
        self.posts = 0

    def create_due(self) -> None:
        for due, request in list(self.pending):
            if self.clock.now >= due:
                self.fake._handle("POST", request.url.path, request)
                self.pending.remove((due, request))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.create_due()
        if request.method == "POST":
            self.posts += 1
            if self.posts == 1:
                self.pending.append((self.clock.now + self.delay, request))
                raise httpx.ReadTimeout("timed out", request=request)
        return self.fake(request)


def late_creation(delay: float, **kwargs: Any) -> tuple[LateCreation, dict[str, Any]]:
    server = LateCreation(delay)
    client, _ = make_client(server, **kwargs)
    server.clock = client.clock  # type: ignore[assignment]
    job = run(client.create_job(body()))
    server.clock.now += 3600.0  # long after: every job the server was making exists now
    server.create_due()
    return server, job


@pytest.mark.parametrize("delay", [0.0, 5.0, 45.0])
def test_a_job_created_late_is_found_not_submitted_twice(delay: float) -> None:
    server, job = late_creation(delay)
    assert len(server.fake.jobs) == 1 and server.pending == []
    assert job["id"] == server.fake.jobs[0]["id"] and server.posts == 1


def test_the_lookup_window_bounds_how_late_a_job_is_found() -> None:
    # created after the window closed: the client had resent (the documented trade-off)
    server, _ = late_creation(5.0, lookup_window=2.0)
    assert server.posts == 2 and len(server.fake.jobs) == 2
    server, _ = late_creation(5.0, lookup_window=10.0)
    assert server.posts == 1 and len(server.fake.jobs) == 1


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("version", ["v0.4", "v0.3"])
def test_find_job_pages_and_stops_at_old_jobs(version: str) -> None:
    fake = FakeIonQ(page_size=2)
    now = time.time()
    for i in range(6):  # v0.4 says when a job was submitted in submitted_at, v0.3 in request
        t = now - 100 * (6 - i)
        when = {"submitted_at": _iso(t)} if version == "v0.4" else {"request": t}
        fake.jobs.append({"id": f"j{i}", "metadata": {TOKEN_KEY: f"t{i}"}, **when})
    client, _ = make_client(fake, api_version=version)
    assert run(client.find_job("t0"))["id"] == "j0"  # type: ignore[index]
    assert len(fake.calls) == 3
    fake.calls.clear()
    # searching only jobs of the last 250 s stops after the page that reaches older ones
    assert run(client.find_job("t0", since=now - 250)) is None
    assert len(fake.calls) == 2


def test_job_times_are_parsed() -> None:
    assert parse_timestamp("2026-04-01T12:00:00Z") == 1775044800.0
    assert parse_timestamp("2026-04-01T12:00:00.250Z") == 1775044800.25
    assert parse_timestamp("2026-04-01T14:00:00+02:00") == 1775044800.0
    assert parse_timestamp("2026-04-01T12:00:00") == 1775044800.0  # no zone: UTC
    assert parse_timestamp(1775044800) == 1775044800.0  # v0.3: unix seconds
    for bad in (None, "", "yesterday", True, float("nan"), {}):
        assert parse_timestamp(bad) is None


# -- polling, timeouts, pools ----------------------------------------------------------------

def test_wait_for_job_backs_off_and_times_out() -> None:
    statuses = iter(["submitted", "ready", "started", "completed"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "j", "status": next(statuses)})

    client, delays = make_client(handler)
    now = iter([0.0, 1.0, 20.0, 400.0])  # start, then the clock at each pause
    client.clock = lambda: next(now)
    job = run(client.wait_for_job("j", poll_min=0.1, poll_max=5.0, poll_fraction=0.02))
    # pauses: 2 % of the time waited, within [poll_min, poll_max]
    assert job["status"] == "completed" and delays == pytest.approx([0.1, 0.4, 5.0])

    client, delays = make_client(lambda r: httpx.Response(200, json={"id": "j",
                                                                      "status": "started"}))
    with pytest.raises(JobTimeoutError, match=r"within 0\.2 s \(still started\)"):
        run(client.wait_for_job("j", timeout=0.2, poll_min=0.05))
    # polls at 0, 0.05, 0.1, 0.15 and 0.2 (fake) seconds, then gives up
    assert delays == pytest.approx([0.05] * 4) and client.clock() == pytest.approx(0.2)


def stuck(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "j", "status": "started"})


def test_a_job_stuck_in_started_times_out_by_default() -> None:
    client, delays = make_client(stuck)
    client.clock.limit = 2 * 86400  # type: ignore[attr-defined]  # an unlimited wait fails
    with pytest.raises(JobTimeoutError, match=r"within 3600 s"):
        run(client.wait_for_job("j"))  # no timeout given: the finite default applies
    assert client.clock() == pytest.approx(DEFAULT_JOB_TIMEOUT) and max(delays) <= 10.0
    client, _ = make_client(stuck)
    with pytest.raises(JobTimeoutError, match=r"within 86400 s"):
        run(client.wait_for_job("j", timeout=86400))  # longer waits are asked for explicitly
    assert client.clock() == pytest.approx(86400)
    for unlimited in (math.inf, float("nan"), 0, -1.0):
        with pytest.raises(ConfigError, match="positive, finite number of seconds"):
            run(client.wait_for_job("j", timeout=unlimited))


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer one request with a valid JSON response, one byte every 50 ms (about 15 s)."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        body = json.dumps({"id": "j", "status": "completed", "pad": "x" * 200}).encode()
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        for byte in head + body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def test_a_trickling_server_hits_the_request_deadline() -> None:
    """Every byte arrives well within read_timeout, so only an overall deadline stops it."""
    connections: list[int] = []

    async def go() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            await _trickle(reader, writer)

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = IonQClient(KEY, base_url=f"http://127.0.0.1:{port}", read_timeout=2.0,
                            request_timeout=0.5, max_retries=0)
        try:
            with pytest.raises(BackendError, match=r"request_timeout=0\.5 s") as err:
                await client.get_job("j")
            assert "after 1 attempts" in str(err.value)
        finally:
            await client.close()
            server.close()

    run(go())
    assert len(connections) == 1


def test_a_request_past_its_deadline_may_have_been_sent() -> None:
    """A POST that ran out of time is looked up before it is resent (it may have arrived)."""
    fake = FakeIonQ()
    posts = 0

    async def slow_first_post(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            response = fake(request)  # processed...
            if posts == 1:
                await asyncio.sleep(5)  # ...but the answer is late
            return response
        return fake(request)

    client, _ = make_client(slow_first_post, request_timeout=0.05)
    job = run(client.create_job(body()))
    assert posts == 1 and [j["id"] for j in fake.jobs] == [job["id"]]


def test_a_new_event_loop_gets_a_new_pool() -> None:
    fake = FakeIonQ()
    fake.jobs.append({"id": "j", "status": "completed", "metadata": {}})
    client, _ = make_client(fake, pool_size=3)

    async def get() -> httpx.AsyncClient:
        await client.get_job("j")
        return client._http()

    first, second = run(get()), run(get())
    # each loop had its own pool, closed when asyncio.run finished with that loop
    assert first is not second and first.is_closed and second.is_closed
    real = IonQClient(KEY, pool_size=3)

    async def limits() -> Any:
        http = real._http()
        conn_pool = http._transport._pool  # type: ignore[attr-defined]
        await real.close()
        assert http.is_closed
        return conn_pool._max_connections, conn_pool._max_keepalive_connections

    assert run(limits()) == (3, 3)


def test_threads_with_their_own_loops_share_a_client_without_leaking_pools(monkeypatch
                                                                           ) -> None:
    created: list[httpx.AsyncClient] = []

    class Counted(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(httpx, "AsyncClient", Counted)
    fake = FakeIonQ()
    fake.jobs.append({"id": "j", "status": "completed", "metadata": {}})
    client = IonQClient(KEY, base_url="https://ionq.test", transport=httpx.MockTransport(fake))
    rounds, per_round = 25, 4
    errors: list[BaseException] = []

    async def one_round() -> None:
        for _ in range(per_round):
            assert (await client.get_job("j"))["id"] == "j"
            await asyncio.sleep(0)

    def worker() -> None:
        try:
            for _ in range(rounds):
                asyncio.run(one_round())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(fake.calls) == 2 * rounds * per_round
    # one pool per event loop (2 threads x 25 asyncio.run calls), each closed with its loop
    assert len(created) == 2 * rounds
    assert sum(p.is_closed for p in created) == len(created)
    assert client._pools == {}


# -- answers of the wrong shape --------------------------------------------------------------

def _answering(value: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, json=value)


@pytest.mark.parametrize(("call", "answer", "match"), [
    ("get_job", [1, 2], r"GET /jobs/j's answer is an array, expected a JSON object"),
    ("get_job", "completed", "is a string, expected a JSON object"),
    ("get_job", None, "is null, expected a JSON object"),
    ("list_jobs", {"jobs": {"a": 1}}, "'jobs' is an object, expected a JSON array"),
    ("list_jobs", {"jobs": [3]}, "job 0 of IonQ GET /jobs is a number"),
    ("list_jobs", [], "GET /jobs's answer is an array"),
    ("get_backends", {"backend": "simulator"}, "an object, expected a JSON array"),
    ("get_backends", ["simulator"], "entry 0 of IonQ GET /backends is a string"),
    ("cancel_job", [], "is an array, expected a JSON object"),
    ("get_probabilities", [0.5, 0.5], "is an array, expected a JSON object"),
    ("create_job", ["job-1"], "returned no job id"),
])
def test_answers_of_the_wrong_shape_raise_backend_errors(call: str, answer: Any,
                                                         match: str) -> None:
    client, _ = make_client(_answering(answer))
    args = {"get_job": ("j",), "cancel_job": ("j",), "get_probabilities": ("j",),
            "create_job": (body(),)}.get(call, ())
    with pytest.raises(BackendError, match=match):
        run(getattr(client, call)(*args))


def test_a_non_ascii_api_key_is_refused_up_front() -> None:
    for key in ("ключ-4f1d9c2a77", "sk-test-\u00e9t\u00e9-1234"):
        with pytest.raises(ConfigError, match="non-ASCII") as err:
            IonQClient(key)
        assert key not in str(err.value)


# -- the API key never leaks -----------------------------------------------------------------

def test_the_key_never_appears_in_reprs_errors_or_logs(caplog) -> None:
    fake = FakeIonQ()
    fake.script = [("POST", 503), ("POST", "drop_after"), ("GET", "connect")]

    def echoing(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":  # a server that echoes the header back in an error
            return httpx.Response(401, json={"error": "Unauthorized",
                                             "message": request.headers["authorization"]})
        return fake(request)

    client, _ = make_client(echoing, max_retries=4)
    caplog.set_level(logging.DEBUG)
    texts = [repr(client), str(client.__dict__.get("_http_client"))]
    run(client.create_job(body()))
    with pytest.raises(IonQAPIError) as err:
        run(client.delete_job("job-0"))
    texts.append(str(err.value))
    assert "check the API key" in str(err.value) and "***" in str(err.value)
    fake.script = [("GET", "connect")] * 2
    client.max_retries = 1
    with pytest.raises(BackendError) as err2:
        run(client.get_job("job-0"))
    texts.append(str(err2.value))
    texts.extend(r.getMessage() for r in caplog.records)
    assert any("retrying" in t for t in texts)
    assert all(KEY not in t for t in texts)
    assert all(a == f"apiKey {KEY}" for a in fake.auth)  # but every request carried it


def _leaks(secret: str, text: str) -> list[str]:
    """Substrings of ``secret`` at least 4 characters long that appear in ``text``."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + 4, len(secret) + 1)
            if secret[i:j] in text]


@pytest.mark.parametrize("form", ["text", "json", "ok-not-json"])
def test_error_texts_are_scrubbed_before_they_are_cut(form: str) -> None:
    """A server that echoes the key where the 300- (or 200-) character excerpt ends: no
    prefix of it may survive into the message."""
    secret = "Zq8xW3vN7pL2mK9rT4yB"
    cut = 200 if form == "ok-not-json" else 300
    for pad in range(cut - len(secret), cut + 1):
        text = "." * pad + secret + "." * 40

        def echo(request: httpx.Request, text: str = text) -> httpx.Response:
            if form == "json":
                return httpx.Response(400, json={"error": "Bad", "message": text})
            return httpx.Response(200 if form == "ok-not-json" else 400, text=text)

        client = IonQClient(secret, base_url="https://ionq.test",
                            transport=httpx.MockTransport(echo))
        with pytest.raises(BackendError) as err:
            run(client.get_job("j"))
        assert _leaks(secret, str(err.value)) == [], pad
