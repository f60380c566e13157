"""Where the dashboard's data come from: a live trainer (:class:`EventHub`) or the run store
(:class:`StoreSource`). Both answer the same questions (runs, one run, its events after an id,
its step/epoch curves), so the web application does not care which it serves.

:class:`EventHub` is a :meth:`PerformanceTracker.subscribe` callback that only appends the
event to a bounded in-memory ring under a lock (no copying, encoding or I/O on the training
thread); the web server's thread reads the ring when a client asks, so training never waits
for a browser. Each run keeps its newest ``keep`` events; older ones are dropped and counted
(``dropped_events``), never invented.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from q_store.errors import StoreError
from q_store.store.redact import is_secret_key, scrub

__all__ = ["EventHub", "StoreSource", "curves", "to_json"]

Event = dict[str, Any]
CURVE_KINDS = ("step", "epoch")
_INDEX = frozenset({"t", "event", "step", "epoch", "_id"})


def _clean(value: Any) -> Any:
    """:func:`scrub` for what the dashboard sends; a flat event with no secret-named key and
    no nested or URL-like value (nearly all of them) is passed as it is, without a copy."""
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        for k, v in value.items():
            if (not isinstance(k, str) or is_secret_key(k) or isinstance(v, dict | list | tuple)
                    or (isinstance(v, str) and "@" in v)):
                return scrub(value)
        return value
    return scrub(value)


def to_json(value: Any) -> str:
    """Strict JSON for browsers (NaN and infinity become null, arrays lists), secrets removed."""
    value = _clean(value)
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"), default=_default)
    except ValueError:  # NaN or infinity somewhere
        return json.dumps(_finite(value), allow_nan=False, separators=(",", ":"),
                          default=_default)


def _default(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def curves(events: Iterable[Event]) -> dict[str, dict[str, list[list[float]]]]:
    """``{"step": {name: [[step, value], ...]}, "epoch": {...}}`` from step and epoch events:
    the metric rows the run store keeps for them (a repeated index keeps its last value, as a
    resumed run's redone steps replace their rows), in index order."""
    rows: dict[str, dict[str, dict[int, float]]] = {k: {} for k in CURVE_KINDS}
    for e in events:
        kind = e.get("event")
        if kind not in CURVE_KINDS:
            continue
        index = e.get(kind)
        if not isinstance(index, int) or isinstance(index, bool):
            continue
        for name, value in e.items():
            if name not in _INDEX and _number(value):
                rows[kind].setdefault(name, {})[index] = float(value)
    return {kind: {name: [[i, v] for i, v in sorted(points.items())]
                   for name, points in by_name.items()}
            for kind, by_name in rows.items()}


class _LiveRun:
    def __init__(self, run_id: str, name: str, keep: int) -> None:
        self.id, self.name = run_id, name
        self.status = "running"
        self.stop_reason: str | None = None
        self.created_at = self.updated_at = time.time()
        self.events: deque[tuple[int, Event]] = deque(maxlen=keep)
        self.received = 0

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "stop_reason": self.stop_reason, "summary": {}, "config": {},
                "events": self.received,
                "dropped_events": self.received - len(self.events)}


class EventHub:
    """The live trainer's runs (one per ``train()`` call), fed by a tracker subscription."""

    live = True

    def __init__(self, *, keep: int = 20_000, keep_runs: int = 20) -> None:
        self.keep, self.keep_runs = keep, keep_runs
        self._lock = threading.Lock()
        self._runs: dict[str, _LiveRun] = {}
        self._current: _LiveRun | None = None
        self._ids = itertools.count(1)
        self._numbers = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None
        self._tracker: Any = None
        self.closed = False

    # -- the training side -------------------------------------------------------------------
    def attach(self, tracker: Any) -> None:
        """Listen to ``tracker`` (the trainer's; a new one replaces the old)."""
        if tracker is self._tracker:
            return
        self.detach()
        self._tracker = tracker
        self._unsubscribe = tracker.subscribe(self.publish)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe, self._tracker = None, None

    def start_run(self, name: str | None = None) -> str:
        """A new run; later events belong to it until :meth:`end_run`."""
        n = next(self._numbers)
        run = _LiveRun(f"live-{n}", name or f"train() #{n}", self.keep)
        with self._lock:
            self._runs[run.id] = run
            self._current = run
            while len(self._runs) > self.keep_runs:
                del self._runs[next(iter(self._runs))]
        return run.id

    def end_run(self, status: str = "completed", stop_reason: str | None = None) -> None:
        with self._lock:
            run, self._current = self._current, None
            if run is not None:
                run.status, run.stop_reason = status, stop_reason
                run.updated_at = time.time()

    def publish(self, event: Event) -> None:
        """The tracker callback: one append under a lock (microseconds)."""
        run = self._current
        if run is None:
            return
        with self._lock:
            run.events.append((next(self._ids), event))
            run.received += 1
            run.updated_at = event.get("t", run.updated_at)
            if event.get("event") == "run" and isinstance(event.get("name"), str):
                run.name = event["name"]  # q-store train names its run

    def close(self) -> None:
        self.detach()
        self.closed = True

    # -- the serving side ----------------------------------------------------------------------
    def _get(self, run_id: str) -> _LiveRun:
        run = self._runs.get(run_id)
        if run is None:
            raise StoreError(f"no run {run_id!r} in this trainer's dashboard (runs: "
                             f"{', '.join(self._runs) or 'none yet'})")
        return run

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.info() for r in reversed(self._runs.values())]

    def run(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            return self._get(run_id).info()

    def status(self, run_id: str) -> str:
        with self._lock:
            return self._get(run_id).status

    def events(self, run_id: str, after: int = 0, limit: int = 5000) -> list[Event]:
        """Events with id > ``after``, oldest first, at most ``limit`` (each with ``_id``)."""
        with self._lock:
            ring = self._get(run_id).events
            newer = []
            for i, e in reversed(ring):  # new events are at the right: stop at the first old
                if i <= after:
                    break
                newer.append((i, e))
        newer.reverse()
        return [{**e, "_id": i} for i, e in newer[:limit]]

    def curves(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            kept = [e for _, e in self._get(run_id).events if e.get("event") in CURVE_KINDS]
        return curves(kept)


class StoreSource:
    """The run store in ``root`` (read only; one connection per call, so any thread may ask)."""

    live = False

    def __init__(self, root: str | Path) -> None:
        from q_store.store import RunStore

        self.root = Path(root)
        RunStore(self.root, create=False).close()  # refuse a directory without a store now
        self.closed = False

    def _store(self) -> Any:
        from q_store.store import RunStore

        return RunStore(self.root, create=False)

    @staticmethod
    def _info(run: Any) -> dict[str, Any]:
        return {"id": run.id, "name": run.name, "status": run.status,
                "created_at": run.created_at, "updated_at": run.updated_at,
                "stop_reason": run.stop_reason, "summary": run.summary, "config": run.config}

    def runs(self) -> list[dict[str, Any]]:
        with self._store() as store:
            return [{**self._info(r), "config": {}} for r in store.runs()]

    def run(self, run_id: str) -> dict[str, Any]:
        with self._store() as store:
            return self._info(store.get(run_id))

    def status(self, run_id: str) -> str:
        return self.run(run_id)["status"]

    def events(self, run_id: str, after: int = 0, limit: int = 5000) -> list[Event]:
        with self._store() as store:
            return store.events(store.get(run_id).id, after_id=after, limit=limit)

    def curves(self, run_id: str) -> dict[str, Any]:
        with self._store() as store:
            rid = store.get(run_id).id
            return {kind: {name: [[s, v] for s, v in points]
                           for name, points in store.metrics(rid, kind).items()}
                    for kind in CURVE_KINDS}

    def close(self) -> None:
        self.closed = True
