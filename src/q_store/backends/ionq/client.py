"""Low-level async client for IonQ's REST API (v0.4 by default, v0.3 selectable).

One pooled ``httpx.AsyncClient`` per event loop. Every request retries 429, 5xx (500, 502-504,
520-529) and dropped connections with exponential backoff and full jitter, honouring
``Retry-After``. ``POST /jobs`` is made idempotent: each submission carries a unique token in
``metadata["qstore_token"]``, and after an ambiguous failure (the request may have reached the
server) the client looks the token up in ``GET /jobs`` before sending it again, so a retry
never creates a second job. The API key is held privately and never appears in reprs, log
messages or exception texts.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import numbers
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from q_store.backends.base import JobStatus
from q_store.errors import BackendError, ConfigError, JobTimeoutError

__all__ = [
    "API_VERSIONS",
    "DEFAULT_ROOT_URL",
    "RETRY_STATUSES",
    "TOKEN_KEY",
    "IonQAPIError",
    "IonQClient",
    "check_metadata",
    "job_body",
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


def _positive(name: str, value: object, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value <= 0):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


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


class IonQClient:
    """Async HTTP access to IonQ: jobs, results, cancel, backends. See the module docstring.

    ``base_url`` is the API root (default ``https://api.ionq.co``); the version path is added.
    ``connect_timeout``/``read_timeout`` bound each request; ``max_retries`` counts retries after
    the first attempt; backoff before retry ``k`` is uniform in
    ``[0, min(backoff_max, backoff_base * 2**k)]`` unless the server sent ``Retry-After``.
    ``transport`` replaces the network (tests).
    """

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 api_version: str = "v0.4", pool_size: int = 5, connect_timeout: float = 10.0,
                 read_timeout: float = 60.0, max_retries: int = 5, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None) -> None:
        _check_version(api_version)
        if not isinstance(pool_size, numbers.Integral) or isinstance(pool_size, bool) \
                or pool_size < 1:
            raise ConfigError(f"pool_size must be a positive integer, got {pool_size!r}")
        if not isinstance(max_retries, numbers.Integral) or isinstance(max_retries, bool) \
                or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        root = DEFAULT_ROOT_URL if base_url is None else str(base_url)
        if not root.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {root!r}")
        self.root_url = root.rstrip("/")
        self.api_version = api_version
        self.base_url = f"{self.root_url}/{api_version}"
        self.pool_size = int(pool_size)
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self.read_timeout = _positive("read_timeout", read_timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = _positive("backoff_base", backoff_base)
        self.backoff_max = _positive("backoff_max", backoff_max)
        self._key = resolve_api_key(api_key)
        self._transport = transport
        self._rng = rng if rng is not None else random.Random()
        self._http_client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return (f"IonQClient(base_url={self.base_url!r}, pool_size={self.pool_size}, "
                f"max_retries={self.max_retries})")

    # -- transport ---------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        """The pooled client of the running event loop (a new loop gets a new pool)."""
        loop = asyncio.get_running_loop()
        if self._http_client is None or self._http_client.is_closed or self._loop is not loop:
            self._http_client = httpx.AsyncClient(
                base_url=self.base_url,
                limits=httpx.Limits(max_connections=self.pool_size,
                                    max_keepalive_connections=self.pool_size),
                timeout=httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout,
                                      write=self.read_timeout, pool=None),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                transport=self._transport)
            self._loop = loop
        return self._http_client

    async def close(self) -> None:
        """Close the connection pool (a later request opens a new one)."""
        client, self._http_client = self._http_client, None
        if client is not None and not client.is_closed:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return
            if self._loop is asyncio.get_running_loop():
                await client.aclose()

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        jitter = self._rng.uniform(0.0, min(self.backoff_max, self.backoff_base * 2**attempt))
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                return after + self._rng.uniform(0.0, self.backoff_base)
        return jitter

    def _error(self, method: str, path: str, response: httpx.Response) -> IonQAPIError:
        status = response.status_code
        error, message = "", response.text[:300]
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping):
            error = str(body.get("error", ""))
            message = str(body.get("message", message))
        hint = ""
        if status == 401:
            hint = " (check the API key: api_key=... or IONQ_API_KEY)"
        text = f"IonQ {method} {path} failed with HTTP {status}"
        text += f" {error}" if error else ""
        text += f": {message}{hint}"
        return IonQAPIError(self._scrub(text), status, error)

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
        for attempt in range(self.max_retries + 1):
            if ambiguous and on_ambiguous is not None:
                found = await on_ambiguous()
                if found is not None:
                    log.info("IonQ %s %s: the earlier attempt had succeeded; not resending",
                             method, path)
                    return found
            response: httpx.Response | None = None
            try:
                response = await self._http().request(method, path, json=json_body,
                                                      params=params, headers=headers)
            except (*_NOT_SENT, *_MAYBE_SENT) as exc:
                ambiguous = ambiguous or isinstance(exc, _MAYBE_SENT)
                reason = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'connection failed'}"
            else:
                if response.status_code < 400:
                    return self._decode(method, path, response)
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(method, path, response)
                ambiguous = ambiguous or response.status_code != 429
                reason = f"HTTP {response.status_code}"
            if attempt == self.max_retries:
                break
            delay = self._delay(attempt, response)
            log.warning("IonQ %s %s: %s; retrying in %.2f s (retry %d of %d)", method, path,
                        reason, delay, attempt + 1, self.max_retries)
            await self.sleep(delay)
        if response is not None:
            raise self._error(method, path, response)
        raise BackendError(f"IonQ {method} {path} failed after {self.max_retries + 1} "
                           f"attempts: {reason}")

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"IonQ {method} {path} returned HTTP {response.status_code} "
                               f"with a body that is not JSON: "
                               f"{self._scrub(response.text[:200])!r}") from None

    # -- API ---------------------------------------------------------------------------------

    async def get_backends(self) -> list[dict[str, Any]]:
        """``GET /backends``: each backend's status, qubits and average queue time."""
        return list(await self.request("GET", "/backends", auth=False))

    async def create_job(self, body: Mapping[str, Any], token: str | None = None
                         ) -> dict[str, Any]:
        """``POST /jobs`` exactly once: ``token`` (default: a new one) goes into
        ``metadata["qstore_token"]`` and is looked up before any resend."""
        token = token if token is not None else uuid.uuid4().hex
        payload = dict(body)
        payload["metadata"] = {**check_metadata(body.get("metadata")), TOKEN_KEY: token}
        since = time.time() - _LOOKBACK_S

        async def lookup() -> dict[str, Any] | None:
            return await self.find_job(token, since=since)

        job = await self.request("POST", "/jobs", json_body=payload, on_ambiguous=lookup)
        if not isinstance(job, Mapping) or not isinstance(job.get("id"), str):
            raise BackendError(f"IonQ POST /jobs returned no job id: {job!r}")
        return dict(job)

    async def get_job(self, job_id: str) -> dict[str, Any]:
        """``GET /jobs/{id}``."""
        return dict(await self.request("GET", f"/jobs/{_job_path(job_id)}"))

    async def list_jobs(self, limit: int = 100, cursor: str | None = None
                        ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /jobs`` (newest first) and the cursor of the next page."""
        params: dict[str, Any] = {"limit": int(limit)}
        if cursor:
            params["next"] = cursor
        page = await self.request("GET", "/jobs", params=params)
        if not isinstance(page, Mapping) or not isinstance(page.get("jobs"), list):
            raise BackendError(f"IonQ GET /jobs returned an unexpected body: {page!r}")
        nxt = page.get("next")
        return list(page["jobs"]), (str(nxt) if nxt else None)

    async def find_job(self, token: str, *, since: float | None = None, max_pages: int = 20,
                       page_size: int = 100) -> dict[str, Any] | None:
        """The job whose ``metadata["qstore_token"]`` is ``token``, searching newest first and
        stopping at jobs requested before ``since`` (unix time)."""
        cursor: str | None = None
        for _ in range(max_pages):
            jobs, cursor = await self.list_jobs(page_size, cursor)
            for job in jobs:
                meta = job.get("metadata") or {}
                if isinstance(meta, Mapping) and meta.get(TOKEN_KEY) == token:
                    return dict(job)
            requested = [j.get("request") for j in jobs]
            oldest = min((float(t) for t in requested if isinstance(t, numbers.Real)),
                         default=None)
            if cursor is None or (since is not None and oldest is not None and oldest < since):
                return None
        return None

    async def wait_for_job(self, job_id: str, *, timeout: float | None = None,
                           poll_min: float = 0.25, poll_max: float = 10.0,
                           poll_fraction: float = 0.02) -> dict[str, Any]:
        """Poll ``GET /jobs/{id}`` until the job is completed, failed or canceled;
        :class:`JobTimeoutError` after ``timeout``.

        The pause between polls is ``poll_fraction`` of the time waited so far, within
        ``[poll_min, poll_max]``: a finished job is noticed within that fraction (plus one
        request) of its duration, with few requests for long jobs. Doubling intervals can
        oversleep a job's end by almost half its duration (measured in
        ``benchmarks/bench_ionq_batch.py``)."""
        start = self.clock()

        async def poll() -> dict[str, Any]:
            while True:
                job = await self.get_job(job_id)
                if JobStatus.parse(str(job.get("status"))).done:
                    return job
                waited = self.clock() - start
                await self.sleep(min(poll_max, max(poll_min, poll_fraction * waited)))

        if timeout is None:
            return await poll()
        try:
            return await asyncio.wait_for(poll(), timeout)
        except asyncio.TimeoutError:
            raise JobTimeoutError(f"IonQ job {job_id} did not finish within {timeout} s; it "
                                  "may still be running (wait again or cancel it)") from None

    async def get_probabilities(self, job_id: str, multi: bool = False) -> dict[str, Any]:
        """Result probabilities: ``{"<int>": p}`` for a single-circuit job, ``{child id:
        {"<int>": p}}`` for a multi-circuit job (one request, aggregated)."""
        jid = _job_path(job_id)
        if self.api_version == "v0.3":
            path = f"/jobs/{jid}/results"
        else:
            path = f"/jobs/{jid}/results/probabilities" + ("/aggregated" if multi else "")
        body = await self.request("GET", path)
        if not isinstance(body, Mapping):
            raise BackendError(f"IonQ GET {path} returned {type(body).__name__}, not a map")
        return dict(body)

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        """``PUT /jobs/{id}/status/cancel``; the returned status says whether it took (a job
        that had already completed stays completed)."""
        return dict(await self.request("PUT", f"/jobs/{_job_path(job_id)}/status/cancel"))

    async def delete_job(self, job_id: str) -> dict[str, Any]:
        """``DELETE /jobs/{id}``."""
        return dict(await self.request("DELETE", f"/jobs/{_job_path(job_id)}"))

    async def __aenter__(self) -> IonQClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _job_path(job_id: str) -> str:
    if not isinstance(job_id, str) or not job_id or any(c in job_id for c in "/?#% "):
        raise BackendError(f"invalid IonQ job id {job_id!r}")
    return job_id

