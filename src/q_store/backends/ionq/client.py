"""Low-level async client for IonQ's REST API (v0.4 by default, v0.3 selectable).

One pooled ``httpx.AsyncClient`` per event loop, closed when that loop's run ends or on
:meth:`IonQClient.close`. Every request retries 429, 5xx (500, 502-504, 520-529) and dropped
connections with exponential backoff and full jitter, honouring ``Retry-After`` up to a cap, and
each attempt has an overall deadline (``request_timeout``) that a server trickling bytes cannot
stretch. ``POST /jobs`` is made idempotent: each submission carries a unique token in
``metadata["qstore_token"]``, and after an ambiguous failure (the request may have reached the
server) the client looks the token up in ``GET /jobs``, repeatedly for ``lookup_window``
seconds, before sending it again, so a job the server creates late is still found instead of
paid for twice. Waiting for a job always has a finite limit. The API key is held privately and
never appears in reprs, log messages or exception texts.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import numbers
import os
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx

from q_store.backends.base import JobStatus
from q_store.errors import BackendError, ConfigError, JobTimeoutError

__all__ = [
    "API_VERSIONS",
    "DEFAULT_JOB_TIMEOUT",
    "DEFAULT_LOOKUP_WINDOW",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_ROOT_URL",
    "RETRY_STATUSES",
    "TOKEN_KEY",
    "IonQAPIError",
    "IonQClient",
    "check_metadata",
    "expect_object",
    "job_body",
    "job_timeout_seconds",
    "parse_timestamp",
    "resolve_api_key",
]

log = logging.getLogger(__name__)

DEFAULT_ROOT_URL = "https://api.ionq.co"
API_VERSIONS = ("v0.4", "v0.3")
TOKEN_KEY = "qstore_token"
MAX_METADATA_KEYS = 10
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, *range(520, 530)})
# the request never left this machine: resending it cannot duplicate anything
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# the request may have reached the server before the connection failed
_MAYBE_SENT = (httpx.ReadError, httpx.ReadTimeout, httpx.WriteError, httpx.WriteTimeout,
               httpx.RemoteProtocolError)
_LOOKBACK_S = 600.0  # how far back (server clock) to search for a job we may have created
_ERROR_CHARS = 300  # how much of an error body goes into an exception (after key scrubbing)
DEFAULT_REQUEST_TIMEOUT = 120.0  # s: one HTTP exchange, connect to last body byte
DEFAULT_MAX_RETRY_AFTER = 120.0  # s: the longest Retry-After the client waits for
DEFAULT_LOOKUP_WINDOW = 60.0  # s: how long a maybe-created job is looked for before resending
DEFAULT_JOB_TIMEOUT = 3600.0  # s: how long waiting for a job may take, queue included


class IonQAPIError(BackendError):
    """IonQ answered with an HTTP error: ``status`` and IonQ's ``error`` name are kept."""

    def __init__(self, message: str, status: int, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


def resolve_api_key(api_key: str | None) -> str:
    """The key given, else ``IONQ_API_KEY``; a clear :class:`ConfigError` when there is none."""
    key = api_key if api_key is not None else os.environ.get("IONQ_API_KEY")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError("no IonQ API key: pass api_key=... (or quantum_api_key in the "
                          "config) or set the IONQ_API_KEY environment variable")
    key = key.strip()
    if any(c.isspace() or ord(c) < 32 for c in key):
        raise ConfigError("the IonQ API key contains whitespace or control characters; "
                          "copy it again from the IonQ console")
    if not key.isascii():  # it goes in an HTTP header, which must be ASCII
        raise ConfigError("the IonQ API key contains non-ASCII characters; IonQ keys are "
                          "ASCII letters, digits and punctuation: copy it again from the "
                          "IonQ console")
    return key


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user metadata: string keys and values, at most 9 keys (one is reserved for the
    idempotency token ``qstore_token``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise BackendError(f"metadata must be a mapping of strings to strings, "
                           f"got {type(metadata).__name__}")
    out: dict[str, str] = {}
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise BackendError(f"IonQ metadata keys and values must be strings, got "
                               f"{k!r}: {type(v).__name__}")
        if k == TOKEN_KEY:
            raise BackendError(f"metadata key {TOKEN_KEY!r} is reserved for the client's "
                               "idempotency token")
        out[k] = v
    if len(out) > MAX_METADATA_KEYS - 1:
        raise BackendError(f"IonQ allows {MAX_METADATA_KEYS} metadata keys and one is reserved "
                           f"({TOKEN_KEY}); got {len(out)} user keys, at most "
                           f"{MAX_METADATA_KEYS - 1} allowed")
    return out


def job_body(api_version: str, backend: str, shots: int, gateset: str, qubits: int,
             circuits: Sequence[Sequence[Mapping[str, Any]]], *, name: str | None = None,
             circuit_names: Sequence[str] | None = None,
             metadata: Mapping[str, str] | None = None,
             noise: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A ``POST /jobs`` body: one circuit gives a single-circuit job, several a multi-circuit
    job (one request, one job, one child per circuit)."""
    _check_version(api_version)
    if not circuits:
        raise BackendError("a job needs at least one circuit")
    inp: dict[str, Any] = {"gateset": gateset, "qubits": int(qubits)}
    if api_version == "v0.3":
        inp = {"format": "ionq.circuit.v0", **inp}
    multi = len(circuits) > 1
    if multi:
        names = list(circuit_names) if circuit_names is not None else [
            str(i) for i in range(len(circuits))]
        inp["circuits"] = [{"name": n, "circuit": list(c)}
                           for n, c in zip(names, circuits, strict=True)]
    else:
        inp["circuit"] = list(circuits[0])
    body: dict[str, Any] = {}
    if api_version == "v0.4":
        body["type"] = "ionq.multi-circuit.v1" if multi else "ionq.circuit.v1"
        body["backend"] = backend
    else:
        body["target"] = backend
    body["shots"] = int(shots)
    if name is not None:
        body["name"] = name
    if metadata:
        body["metadata"] = dict(metadata)
    if noise is not None:
        body["noise"] = dict(noise)
    body["input"] = inp
    return body


def _check_version(api_version: str) -> None:
    if api_version not in API_VERSIONS:
        raise ConfigError(f"unknown IonQ API version {api_version!r}; use one of "
                          f"{', '.join(API_VERSIONS)}")


def _positive(name: str, value: object) -> float:
    """A finite number of seconds > 0 (there are no unlimited waits: pass a large value)."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value <= 0):
        raise ConfigError(f"{name} must be a positive, finite number of seconds, got "
                          f"{value!r}")
    return float(value)


def _non_negative(name: str, value: object) -> float:
    """A finite number of seconds >= 0."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0):
        raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def job_timeout_seconds(name: str, value: object) -> float:
    """A job wait limit: None is :data:`DEFAULT_JOB_TIMEOUT`, anything else must be a positive,
    finite number of seconds (a long QPU queue needs an explicit large value, not infinity)."""
    return DEFAULT_JOB_TIMEOUT if value is None else _positive(name, value)


def _json_kind(value: object) -> str:
    """What a decoded JSON value is, in JSON's words (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def expect_object(value: object, what: str) -> dict[str, Any]:
    """``value`` as a dict, or a :class:`BackendError` saying ``what`` was not a JSON object."""
    if not isinstance(value, Mapping):
        raise BackendError(f"{what} is {_json_kind(value)}, expected a JSON object")
    return dict(value)


def parse_timestamp(value: object) -> float | None:
    """Unix seconds of a job time: an ISO-8601 string (v0.4, e.g.
    ``2026-04-01T12:00:00.5Z``; no zone means UTC) or a number (v0.3); None if absent or
    unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent/invalid."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        log.debug("ignoring unparsable Retry-After header %r", value)
        return None
    return max(0.0, when.timestamp() - time.time())


class _DeadlineExceeded(Exception):
    """One HTTP exchange took longer than ``request_timeout`` (it may have reached IonQ)."""


class IonQClient:
    """Async HTTP access to IonQ: jobs, results, cancel, backends. See the module docstring.

    ``base_url`` is the API root (default: the ``IONQ_BASE_URL`` environment variable, else
    ``https://api.ionq.co``); the version path is added.
    ``connect_timeout`` bounds opening a connection and ``read_timeout`` each wait for data;
    ``request_timeout`` (default 120 s) bounds a whole exchange, connect to last byte of the
    answer, so a server that trickles its answer cannot hold a request for longer. A request
    that runs out of time counts as possibly sent. ``max_retries`` counts retries after the
    first attempt; backoff before retry ``k`` is uniform in ``[0, min(backoff_max,
    backoff_base * 2**k)]`` unless the server sent ``Retry-After``, which is waited for (plus up
    to ``backoff_base`` of jitter) if it is at most ``max_retry_after`` seconds (default 120 s);
    a longer one fails the request with a :class:`IonQAPIError` naming both, rather than
    sleeping for hours. ``lookup_window`` (default 60 s; 0: look once) is how long, after a
    ``POST /jobs`` that may have reached the server, the client keeps looking its token up
    before sending it again. ``transport`` replaces the network (tests); ``clock`` and
    ``sleep`` (attributes) are the time source of backoff, lookups and polling (tests replace
    them with a fake clock).
    """

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 api_version: str = "v0.4", pool_size: int = 5, connect_timeout: float = 10.0,
                 read_timeout: float = 60.0,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT, max_retries: int = 5,
                 backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
                 lookup_window: float = DEFAULT_LOOKUP_WINDOW,
                 transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None) -> None:
        _check_version(api_version)
        if not isinstance(pool_size, numbers.Integral) or isinstance(pool_size, bool) \
                or pool_size < 1:
            raise ConfigError(f"pool_size must be a positive integer, got {pool_size!r}")
        if not isinstance(max_retries, numbers.Integral) or isinstance(max_retries, bool) \
                or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if base_url is None:  # the environment can point every client at another server
            base_url = os.environ.get("IONQ_BASE_URL") or None
        root = DEFAULT_ROOT_URL if base_url is None else str(base_url)
        if not root.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {root!r}")
        self.root_url = root.rstrip("/")
        self.api_version = api_version
        self.base_url = f"{self.root_url}/{api_version}"
        self.pool_size = int(pool_size)
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self.read_timeout = _positive("read_timeout", read_timeout)
        self.request_timeout = _positive("request_timeout", request_timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = _positive("backoff_base", backoff_base)
        self.backoff_max = _positive("backoff_max", backoff_max)
        self.max_retry_after = _non_negative("max_retry_after", max_retry_after)
        self.lookup_window = _non_negative("lookup_window", lookup_window)
        self._key = resolve_api_key(api_key)
        self._transport = transport
        self._rng = rng if rng is not None else random.Random()
        # event loop -> (its pool, the task that closes the pool when the loop's run ends)
        self._pools: dict[asyncio.AbstractEventLoop,
                          tuple[httpx.AsyncClient, asyncio.Task[None]]] = {}
        self._pools_lock = threading.Lock()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return (f"IonQClient(base_url={self.base_url!r}, pool_size={self.pool_size}, "
                f"max_retries={self.max_retries})")

    # -- transport ---------------------------------------------------------------------------

    def _new_pool(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            limits=httpx.Limits(max_connections=self.pool_size,
                                max_keepalive_connections=self.pool_size),
            timeout=httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout,
                                  write=self.read_timeout, pool=None),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            transport=self._transport)

    def _http(self) -> httpx.AsyncClient:
        """The connection pool of the running event loop, made on first use there.

        Connections belong to the loop that opened them, so each loop has its own pool (several
        threads may share one client, each with its own loop). A task on that loop closes the
        pool when the loop's run ends (``asyncio.run`` cancels leftover tasks) or on
        :meth:`close`, so switching loops never leaks pools."""
        loop = asyncio.get_running_loop()
        with self._pools_lock:
            for dead in [lp for lp in self._pools if lp.is_closed()]:
                # closed without cancelling its tasks: nothing can run there any more
                log.debug("dropping the IonQ connection pool of a closed event loop")
                del self._pools[dead]
            entry = self._pools.get(loop)
            if entry is not None and not entry[0].is_closed:
                return entry[0]
            pool = self._new_pool()
            closer = loop.create_task(self._close_with_loop(loop, pool),
                                      name="q_store-ionq-pool-closer")
            self._pools[loop] = (pool, closer)
        return pool

    async def _close_with_loop(self, loop: asyncio.AbstractEventLoop,
                               pool: httpx.AsyncClient) -> None:
        """Wait until cancelled (the loop's run ends, or :meth:`close`), then close ``pool``."""
        try:
            await loop.create_future()
        finally:
            with self._pools_lock:
                if self._pools.get(loop, (None,))[0] is pool:
                    del self._pools[loop]
            await pool.aclose()

    async def close(self) -> None:
        """Close every connection pool: this loop's now, another running loop's on that loop
        (a pool must only be touched from its own loop). A later request opens a new pool."""
        loop = asyncio.get_running_loop()
        with self._pools_lock:
            pools, self._pools = self._pools, {}
        for owner, (pool, closer) in pools.items():
            if owner is loop:
                closer.cancel()
                await asyncio.gather(closer, return_exceptions=True)
                if not pool.is_closed:  # the closer had not started yet
                    await pool.aclose()
            elif not owner.is_closed():
                owner.call_soon_threadsafe(closer.cancel)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _excerpt(self, text: str, limit: int = _ERROR_CHARS) -> str:
        """``text`` with the API key removed, *then* cut to ``limit`` characters (cutting first
        could leave a prefix of the key that no longer matches)."""
        clean = self._scrub(text)
        return clean if len(clean) <= limit else clean[:limit] + "..."

    def _delay(self, method: str, path: str, attempt: int,
               response: httpx.Response | None) -> float:
        """Seconds to wait before retry ``attempt + 1``: the server's ``Retry-After`` (capped
        at ``max_retry_after``, beyond which the request fails) or jittered backoff."""
        after = None if response is None else _retry_after(response)
        if after is None:
            return self._rng.uniform(0.0, min(self.backoff_max, self.backoff_base * 2**attempt))
        if after > self.max_retry_after:
            assert response is not None
            raise IonQAPIError(
                f"IonQ {method} {path} answered HTTP {response.status_code} and asked to retry "
                f"after {after:.0f} s, longer than max_retry_after={self.max_retry_after:g} s; "
                "not waiting (raise max_retry_after to wait that long, or try again later)",
                response.status_code, "RetryAfterTooLong")
        return after + self._rng.uniform(0.0, self.backoff_base)

    def _error(self, method: str, path: str, response: httpx.Response) -> IonQAPIError:
        status = response.status_code
        error, message = "", self._excerpt(response.text)
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, Mapping):
            error = self._excerpt(str(body.get("error", "")), 80)
            if "message" in body:
                message = self._excerpt(str(body["message"]))
        hint = ""
        if status == 401:
            hint = " (check the API key: api_key=... or IONQ_API_KEY)"
        text = f"IonQ {method} {path} failed with HTTP {status}"
        text += f" {error}" if error else ""
        text += f": {message}{hint}"
        return IonQAPIError(self._scrub(text), status, error)

    async def _exchange(self, method: str, path: str, json_body: Any,
                        params: Mapping[str, Any] | None,
                        headers: Mapping[str, str] | None) -> httpx.Response:
        """One HTTP exchange, the whole answer read, within ``request_timeout``."""
        try:
            return await asyncio.wait_for(
                self._http().request(method, path, json=json_body, params=params,
                                     headers=headers),
                self.request_timeout)
        except TimeoutError:
            raise _DeadlineExceeded(f"no complete answer within request_timeout="
                                    f"{self.request_timeout:g} s") from None

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: Mapping[str, Any] | None = None, auth: bool = True,
                      on_ambiguous: Callable[[], Awaitable[Any]] | None = None) -> Any:
        """Send a request with retries and return its decoded JSON body.

        ``on_ambiguous`` marks a non-idempotent request: after a failure that may have reached
        the server, it is awaited before the next attempt, and a non-None value it returns is
        taken as the request's result instead of resending.
        """
        headers = {"Authorization": f"apiKey {self._key}"} if auth else None
        ambiguous = False
        reason = ""
        response: httpx.Response | None = None
        for attempt in range(self.max_retries + 1):
            if ambiguous and on_ambiguous is not None:
                found = await on_ambiguous()
                if found is not None:
                    log.info("IonQ %s %s: the earlier attempt had succeeded; not resending",
                             method, path)
                    return found
            response = None
            try:
                response = await self._exchange(method, path, json_body, params, headers)
            except _NOT_SENT as exc:
                reason = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'connection failed'}"
            except (*_MAYBE_SENT, _DeadlineExceeded) as exc:
                ambiguous = True
                reason = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'connection failed'}"
            else:
                if response.status_code < 400:
                    return self._decode(method, path, response)
                if response.status_code not in RETRY_STATUSES:
                    raise _sent(self._error(method, path, response), ambiguous)
                ambiguous = ambiguous or response.status_code != 429
                reason = f"HTTP {response.status_code}"
            if attempt == self.max_retries:
                break
            delay = self._delay(method, path, attempt, response)
            log.warning("IonQ %s %s: %s; retrying in %.2f s (retry %d of %d)", method, path,
                        reason, delay, attempt + 1, self.max_retries)
            await self.sleep(delay)
        if response is not None:
            raise _sent(self._error(method, path, response), ambiguous)
        raise _sent(BackendError(f"IonQ {method} {path} failed after {self.max_retries + 1} "
                                 f"attempts: {reason}"), ambiguous)

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise BackendError(f"IonQ {method} {path} returned HTTP {response.status_code} "
                               f"with a body that is not JSON: "
                               f"{self._excerpt(response.text, 200)!r}") from None

    # -- API ---------------------------------------------------------------------------------

    async def get_backends(self) -> list[dict[str, Any]]:
        """``GET /backends``: each backend's status, qubits and average queue time."""
        body = await self.request("GET", "/backends", auth=False)
        if not isinstance(body, list):
            raise BackendError(f"IonQ GET /backends returned {_json_kind(body)}, expected a "
                               "JSON array of backend objects")
        return [expect_object(b, f"entry {i} of IonQ GET /backends") for i, b in enumerate(body)]

    async def create_job(self, body: Mapping[str, Any], token: str | None = None
                         ) -> dict[str, Any]:
        """``POST /jobs`` exactly once: ``token`` (default: a new one) goes into
        ``metadata["qstore_token"]``; after a failure that may have reached IonQ it is looked
        up for up to ``lookup_window`` seconds before the request is sent again."""
        token = token if token is not None else uuid.uuid4().hex
        payload = dict(body)
        payload["metadata"] = {**check_metadata(body.get("metadata")), TOKEN_KEY: token}
        since = time.time() - _LOOKBACK_S

        async def lookup() -> dict[str, Any] | None:
            return await self.find_created_job(token, since=since)

        job = await self.request("POST", "/jobs", json_body=payload, on_ambiguous=lookup)
        if not isinstance(job, Mapping) or not isinstance(job.get("id"), str):
            raise BackendError(f"IonQ POST /jobs returned no job id: "
                               f"{self._excerpt(repr(job), 200)}")
        return dict(job)

    async def find_created_job(self, token: str, *, since: float | None = None
                               ) -> dict[str, Any] | None:
        """:meth:`find_job`, repeated with growing pauses (``backoff_base`` doubling up to
        ``backoff_max``) until the job turns up or ``lookup_window`` seconds have passed.

        IonQ may create a job well after the request that asked for it timed out; resending
        before it shows up would create, and bill, a second job."""
        deadline = self.clock() + self.lookup_window
        pause = self.backoff_base
        while True:
            job = await self.find_job(token, since=since)
            left = deadline - self.clock()
            if job is not None or left <= 0:
                return job
            log.info("IonQ job with token %s not found yet; looking again in %.2f s", token,
                     min(pause, left))
            await self.sleep(min(pause, left))
            pause = min(self.backoff_max, 2 * pause)

    async def get_job(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{id}``."""
        path = f"/jobs/{_job_path(job_id)}"
        return expect_object(await self.request("GET", path), f"IonQ GET {path}'s answer")

    async def list_jobs(self, limit: int = 100, cursor: str | None = None
                        ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /jobs`` (newest first) and the cursor of the next page."""
        params: dict[str, Any] = {"limit": int(limit)}
        if cursor:
            params["next"] = cursor
        page = expect_object(await self.request("GET", "/jobs", params=params),
                             "IonQ GET /jobs's answer")
        jobs = page.get("jobs")
        if not isinstance(jobs, list):
            raise BackendError(f"IonQ GET /jobs's 'jobs' is {_json_kind(jobs)}, expected a "
                               "JSON array of jobs")
        nxt = page.get("next")
        return ([expect_object(j, f"job {i} of IonQ GET /jobs") for i, j in enumerate(jobs)],
                (str(nxt) if nxt else None))

    async def find_job(self, token: str, *, since: float | None = None, max_pages: int = 20,
                       page_size: int = 100) -> dict[str, Any] | None:
        """The job whose ``metadata["qstore_token"]`` is ``token``, searching newest first and
        stopping after the page that reaches jobs submitted before ``since`` (unix time): by
        ``submitted_at`` (ISO-8601) in v0.4, ``request`` (unix seconds) in v0.3."""
        field = "submitted_at" if self.api_version == "v0.4" else "request"
        cursor: str | None = None
        for _ in range(max_pages):
            jobs, cursor = await self.list_jobs(page_size, cursor)
            for job in jobs:
                meta = job.get("metadata") or {}
                if isinstance(meta, Mapping) and meta.get(TOKEN_KEY) == token:
                    return job
            times = [parse_timestamp(j.get(field)) for j in jobs]
            oldest = min((t for t in times if t is not None), default=None)
            if cursor is None or (since is not None and oldest is not None and oldest < since):
                return None
        return None

    async def wait_for_job(self, job_id: str, *, timeout: float | None = None,
                           expected: float | None = None,
                           on_poll: Callable[[dict[str, Any]], None] | None = None,
                           poll_min: float = 0.25, poll_max: float = 10.0,
                           poll_fraction: float = 0.02) -> dict[str, Any]:
        """Poll ``GET /jobs/{id}`` until the job is completed, failed or canceled.

        The wait may last ``timeout`` seconds beyond the job's expected duration: the larger of
        ``expected`` (the caller's estimate, e.g. its gate time) and IonQ's own prediction
        (``predicted_wait_time_ms + predicted_execution_duration_ms``, re-read at every poll,
        at most a day). Past that, :class:`JobTimeoutError`. ``timeout`` None:
        :data:`DEFAULT_JOB_TIMEOUT`, one hour; there is no unlimited wait, since a job stuck in
        ``started`` would otherwise hang training silently. ``on_poll`` receives
        ``{job_id, status, waited, allowed, predicted}`` after every poll (progress displays).
        Time is read from ``clock``; each poll is one request, itself bounded by
        ``request_timeout``.

        The pause between polls is ``poll_fraction`` of the time waited so far, within
        ``[poll_min, poll_max]``: a finished job is noticed within that fraction (plus one
        request) of its duration, with few requests for long jobs. Doubling intervals can
        oversleep a job's end by almost half its duration (measured in
        ``benchmarks/bench_ionq_batch.py``)."""
        limit = job_timeout_seconds("timeout", timeout)
        foreseen = max(0.0, float(expected or 0.0))
        start = self.clock()
        while True:
            job = await self.get_job(job_id)
            status = JobStatus.parse(str(job.get("status")))
            if status.done:
                return job
            predicted = _predicted_seconds(job)
            if predicted is not None:
                foreseen = max(foreseen, min(predicted, MAX_PREDICTED_SECONDS))
            waited = self.clock() - start
            allowed = limit + foreseen
            if on_poll is not None:
                on_poll({"job_id": job_id, "status": status.value, "waited": waited,
                         "allowed": allowed, "predicted": predicted})
            if waited >= allowed:
                beyond = f"{limit:g} s beyond its expected {foreseen:g} s; " if foreseen else ""
                raise JobTimeoutError(
                    f"IonQ job {job_id} did not finish within {allowed:g} s ({beyond}still "
                    f"{status.value}); it may still run: wait again, cancel it, or allow more "
                    "time (job_timeout / batch_timeout)")
            await self.sleep(min(poll_max, max(poll_min, poll_fraction * waited),
                                 allowed - waited))

    async def get_probabilities(self, job_id: str, multi: bool = False) -> dict[str, Any]:
        """Result probabilities: ``{"<int>": p}`` for a single-circuit job, ``{child id:
        {"<int>": p}}`` for a multi-circuit job (one request, aggregated)."""
        jid = _job_path(job_id)
        if self.api_version == "v0.3":
            path = f"/jobs/{jid}/results"
        else:
            path = f"/jobs/{jid}/results/probabilities" + ("/aggregated" if multi else "")
        return expect_object(await self.request("GET", path), f"IonQ GET {path}'s answer")

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        """``PUT /jobs/{id}/status/cancel``; the returned status says whether it took (a job
        that had already completed stays completed)."""
        path = f"/jobs/{_job_path(job_id)}/status/cancel"
        return expect_object(await self.request("PUT", path), f"IonQ PUT {path}'s answer")

    async def delete_job(self, job_id: str) -> dict[str, Any]:
        """``DELETE /jobs/{id}`` (an empty answer is an empty dict)."""
        path = f"/jobs/{_job_path(job_id)}"
        body = await self.request("DELETE", path)
        return {} if body is None else expect_object(body, f"IonQ DELETE {path}'s answer")

    async def __aenter__(self) -> IonQClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _sent(exc: BackendError, maybe_sent: bool) -> BackendError:
    """Mark a failed request's error: ``maybe_sent`` False means no attempt can have reached
    the server (connection refused, 429, a non-retryable answer to the first attempt...), so a
    failed ``POST /jobs`` created no job and the circuits may go elsewhere without paying
    twice."""
    exc.maybe_sent = maybe_sent  # type: ignore[attr-defined]
    return exc


MAX_PREDICTED_SECONDS = 86400.0  # IonQ's predictions are trusted up to a day


def _predicted_seconds(job: Mapping[str, Any]) -> float | None:
    """IonQ's predicted queue wait plus execution time of a job, in seconds (None when it
    does not say)."""
    total, seen = 0.0, False
    for key in ("predicted_wait_time_ms", "predicted_execution_duration_ms"):
        v = job.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
            total += float(v) / 1000.0
            seen = True
    return total if seen else None


def _job_path(job_id: str) -> str:
    if not isinstance(job_id, str) or not job_id or any(c in job_id for c in "/?#% "):
        raise BackendError(f"invalid IonQ job id {job_id!r}")
    return job_id
