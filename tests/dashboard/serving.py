"""Test helpers: a dashboard served on a free loopback port, and a server-sent-event reader."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx


@contextmanager
def served(source: Any, **options: Any) -> Iterator[str]:
    """The dashboard of ``source`` on 127.0.0.1 (a free port); yields its URL."""
    from q_store.dashboard import DashboardServer, create_app

    server = DashboardServer(create_app(source, **{"poll": 0.02, **options}), port=0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def sse(url: str, headers: dict[str, str] | None = None, timeout: float = 120.0
        ) -> Iterator[tuple[str, str | None, Any]]:
    """``(event, id, data)`` of each message of an event stream, until the server ends it
    (at most ``timeout`` seconds in all)."""
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        event, ident, data = "message", None, []
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                raise AssertionError(f"the stream {url} did not end in {timeout} s")
            if line == "":
                if data:
                    yield event, ident, json.loads("\n".join(data))
                event, ident, data = "message", None, []
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "id":
                    ident = value
                elif field == "data":
                    data.append(value)
