"""IonQClient edge cases over httpx.MockTransport: retries, backoff, Retry-After, idempotent
submission, paging, timeouts, API-key hygiene. (End-to-end runs against the local IonQ server
are in test_backend.py.)"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from q_store.backends.ionq.client import (
    TOKEN_KEY,
    IonQAPIError,
    IonQClient,
    check_metadata,
    job_body,
    resolve_api_key,
)
from q_store.errors import BackendError, ConfigError, JobTimeoutError

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


def make_client(fake: Callable[[httpx.Request], httpx.Response], **kwargs: Any
                ) -> tuple[IonQClient, list[float]]:
    """A client on ``fake`` whose backoff sleeps are recorded, not slept."""
    kwargs.setdefault("backoff_base", 0.5)
    client = IonQClient(KEY, base_url="https://ionq.test", transport=httpx.MockTransport(fake),
                        rng=random.Random(7), **kwargs)
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    client.sleep = record
    return client, delays


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
    # a 503 may have been processed: the job list was checked before resending, a 429 not
    assert fake.calls == [("POST", "/v0.4/jobs"), ("POST", "/v0.4/jobs"), ("GET", "/v0.4/jobs"),
                          ("POST", "/v0.4/jobs")]


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
    client, _ = make_client(fake)
    job = run(client.create_job(body(), token="tok-1"))
    assert [j["id"] for j in fake.jobs] == [job["id"]]
    assert fake.jobs[0]["metadata"] == {TOKEN_KEY: "tok-1"}
    assert [m for m, _ in fake.calls] == ["POST", "GET", "POST"]


def test_find_job_pages_and_stops_at_old_jobs() -> None:
    fake = FakeIonQ(page_size=2)
    now = time.time()
    for i in range(6):
        fake.jobs.append({"id": f"j{i}", "metadata": {TOKEN_KEY: f"t{i}"},
                          "request": now - 100 * (6 - i)})
    client, _ = make_client(fake)
    assert run(client.find_job("t0"))["id"] == "j0"  # type: ignore[index]
    assert len(fake.calls) == 3
    fake.calls.clear()
    # searching only jobs of the last 250 s stops after the page that reaches older ones
    assert run(client.find_job("t0", since=now - 250)) is None
    assert len(fake.calls) == 2


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

    client = IonQClient(KEY, base_url="https://ionq.test", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"id": "j", "status": "started"})))
    t0 = time.monotonic()
    with pytest.raises(JobTimeoutError, match=r"within 0\.2 s"):
        run(client.wait_for_job("j", timeout=0.2, poll_min=0.05))
    assert time.monotonic() - t0 < 1.0


def test_a_new_event_loop_gets_a_new_pool() -> None:
    fake = FakeIonQ()
    fake.jobs.append({"id": "j", "status": "completed", "metadata": {}})
    client, _ = make_client(fake, pool_size=3)

    async def get() -> httpx.AsyncClient:
        await client.get_job("j")
        return client._http()

    first, second = run(get()), run(get())
    assert first is not second and first.is_closed is False
    real = IonQClient(KEY, pool_size=3)

    async def limits() -> Any:
        http = real._http()
        conn_pool = http._transport._pool  # type: ignore[attr-defined]
        await real.close()
        return conn_pool._max_connections, conn_pool._max_keepalive_connections

    assert run(limits()) == (3, 3)


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
