"""The dashboard's web application (Starlette): the page, its static files, a JSON API and a
server-sent-event stream per run.

::

    GET /                                the page (static/index.html)
    GET /api/info                        {"mode": "live" | "store", "title"}
    GET /api/runs                        {"runs": [run, ...]} newest first
    GET /api/runs/{id}                   one run (configuration without secrets, summary)
    GET /api/runs/{id}/events?after=N    {"status", "events": [...]} (at most ``limit``)
    GET /api/runs/{id}/stream?after=N    text/event-stream: "events" batches in order (SSE id:
                                         the last event's id, so a reconnecting browser
                                         continues with Last-Event-ID), "status" changes,
                                         "end" when a finished run has nothing more
    GET /api/compare?run=A&run=B[...]    step and epoch curves of two or more runs

Every request only reads what the source already holds (the hub's ring or the store's rows):
nothing is computed from the trainer, and the stream polls its source every ``poll``
seconds rather than being woken per event. Everything sent is scrubbed of secrets.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from q_store.dashboard.hub import to_json
from q_store.errors import QStoreError

__all__ = ["LOOPBACK_HOSTS", "create_app"]

STATIC = Path(__file__).with_name("static")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_EVENTS = 5000  # per JSON answer or stream message
_HEADERS = {
    # the page loads nothing from elsewhere (no CDN, no inline script)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _json(value: Any, status: int = 200) -> Response:
    return Response(to_json(value), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _int_param(request: Request, name: str, default: int, lo: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < lo:
        raise _BadRequest(f"{name} must be >= {lo}, got {value}")
    return value


class _BadRequest(Exception):
    pass


def create_app(source: Any, *, title: str = "Q-Store dashboard", poll: float = 0.25,
               keepalive: float = 15.0, allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS
               ) -> Starlette:
    """The application serving ``source`` (an :class:`~q_store.dashboard.hub.EventHub` or
    :class:`~q_store.dashboard.hub.StoreSource`). ``allowed_hosts``: the Host headers
    accepted (loopback names by default, which keeps web pages from other sites out through
    DNS rebinding); None accepts any (a server bound to another address on purpose)."""

    async def call(fn: Any, *args: Any) -> Any:
        if source.live:  # the hub answers from memory in microseconds: no thread hand-off
            return fn(*args)
        return await run_in_threadpool(fn, *args)  # SQLite reads

    async def guarded(request: Request, handler: Any) -> Response:
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _error(400, str(exc))
        except QStoreError as exc:  # an unknown run: the message names it
            return _error(404, str(exc))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def info(request: Request) -> Response:
        return _json({"mode": "live" if source.live else "store", "title": title,
                      "poll_seconds": poll})

    async def runs(request: Request) -> Response:
        return _json({"runs": await call(source.runs)})

    async def run(request: Request) -> Response:
        async def handler(r: Request) -> Response:
            return _json(await call(source.run, r.path_params["run_id"]))
        return await guarded(request, handler)

    async def events(request: Request) -> Response:
        async def handler(r: Request) -> Response:
            rid = r.path_params["run_id"]
            after = _int_param(r, "after", 0)
            limit = min(_int_param(r, "limit", MAX_EVENTS, 1), MAX_EVENTS)
            status = await call(source.status, rid)  # first: see the stream's note
            return _json({"status": status, "events": await call(source.events, rid, after,
                                                                  limit)})
        return await guarded(request, handler)

    async def compare(request: Request) -> Response:
        async def handler(r: Request) -> Response:
            ids = r.query_params.getlist("run")
            if len(ids) < 2:
                raise _BadRequest("compare needs two or more runs: /api/compare?run=A&run=B")
            out = []
            for rid in ids:
                meta = await call(source.run, rid)
                out.append({"id": meta["id"], "name": meta["name"], "status": meta["status"],
                            "curves": await call(source.curves, meta["id"])})
            return _json({"runs": out})
        return await guarded(request, handler)

    async def stream(request: Request) -> Response:
        async def handler(r: Request) -> Response:
            rid = r.path_params["run_id"]
            last = r.headers.get("last-event-id")
            after = int(last) if last and last.isdigit() else _int_param(r, "after", 0)
            await call(source.run, rid)  # an unknown run is a 404, not an empty stream
            return StreamingResponse(_sse(rid, after), media_type="text/event-stream",
                                     headers={"X-Accel-Buffering": "no"})
        return await guarded(request, handler)

    async def _sse(rid: str, after: int) -> Any:
        sent_status, quiet_since = None, time.monotonic()
        yield f"retry: {int(1000 * max(poll, 0.5))}\n\n"
        while not source.closed:
            # the status before the events: a run that is over has published all its events
            # by then, so "not running and nothing new" really is the end
            status = await call(source.status, rid)
            batch = await call(source.events, rid, after, MAX_EVENTS)
            if batch:
                after = batch[-1]["_id"]
                yield f"id: {after}\nevent: events\ndata: {to_json(batch)}\n\n"
                quiet_since = time.monotonic()
            if status != sent_status:
                yield f"event: status\ndata: {to_json({'status': status})}\n\n"
                sent_status = status
            if status != "running" and not batch:
                break
            if len(batch) == MAX_EVENTS:
                continue  # catching up: no pause
            if time.monotonic() - quiet_since > keepalive:
                yield ": keepalive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(poll)
        yield "event: end\ndata: {}\n\n"

    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/runs", runs),
        Route("/api/runs/{run_id}", run),
        Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/stream", stream),
        Route("/api/compare", compare),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=middleware)


class _SecurityHeaders:
    """Adds :data:`_HEADERS` to every response that lacks them (static files included)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in self.raw if h[0] not in have)]}
            await send(message)

        await self.app(scope, receive, with_headers)
