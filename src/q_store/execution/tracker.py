"""The one telemetry stream of a run: every component emits events here, and every consumer
(the performance report, the CLI's progress bars, the dashboard, the run store) reads them.

An event is a flat dict: ``{"t": unix seconds, "event": kind, ...fields}``. Kinds in use:

* ``step``: the trainer, once per optimiser step (epoch, step, loss, method, circuits, shots,
  seconds, learning_rate);
* ``epoch``: the trainer, once per epoch (epoch, loss, val_loss, accuracy, seconds);
* ``circuits``: the circuit pipeline, once per call (role, requested, run, cache_hits,
  deduplicated, jobs, shots, backend, usd, seconds);
* ``job``: a submitter, once per job (backend, circuits, shots, submit_seconds, wait_seconds,
  queue_seconds as the backend measured it or None, in_flight: the submitter's other jobs);
* ``template``: the template cache, once per bind (hit, build_seconds, bind_seconds);
* ``cache``: the result cache, once per pipeline or local-engine call (level, entries,
  memory_mb);
* components add their own (``shots``, ``depth``, ``variance``, ``backend_stats`` ...).

Events are kept in a bounded ring (for the report and late subscribers), pushed to
subscribers, and appended as JSON lines to ``<log_dir>/events.jsonl`` when a directory is
given. Emitting never raises into the training loop because of a subscriber.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["PerformanceTracker"]

log = logging.getLogger("q_store.tracker")
Event = dict[str, Any]
_NUMBERS = (int, float)


class PerformanceTracker:
    """Collects events; ``get_statistics()`` has the spec's metrics; ``subscribe`` streams."""

    def __init__(self, log_dir: str | Path | None = None, *, keep: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.clock = clock
        self._events: deque[Event] = deque(maxlen=keep)
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._totals: dict[str, float] = {}

    # -- writing ---------------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> Event:
        """Record one event (values must be JSON-friendly: numbers, strings, lists, dicts)."""
        record = {"t": self.clock(), "event": event, **fields}
        with self._lock:
            self._events.append(record)
            self._accumulate(record)
            if self.log_dir is not None:
                self._write(record)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(record)
            except Exception:  # a broken consumer must not stop training
                log.exception("performance-tracker subscriber failed on %s", event)
        return record

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every later event; returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _write(self, record: Event) -> None:
        if self._file is None:
            assert self.log_dir is not None
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.log_dir / "events.jsonl", "a", encoding="utf-8")
        self._file.write(json.dumps(record, default=_jsonable) + "\n")
        self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    # -- reading ---------------------------------------------------------------------------------
    def events(self, kind: str | None = None) -> list[Event]:
        """Kept events, oldest first (of one ``kind``, or all)."""
        with self._lock:
            return [e for e in self._events if kind is None or e["event"] == kind]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def _accumulate(self, e: Event) -> None:
        """Running totals, so statistics survive the ring dropping old events."""
        tot = self._totals
        kind = e["event"]
        name = f"{kind}.count"
        tot[name] = tot.get(name, 0.0) + 1.0
        for key, value in e.items():
            # numbers only ("event" is a string): not booleans, not the time stamp
            if isinstance(value, _NUMBERS) and not isinstance(value, bool) and key != "t":
                name = f"{kind}.{key}"
                tot[name] = tot.get(name, 0.0) + float(value)
        if kind == "template":
            tot["template.hits"] = tot.get("template.hits", 0.0) + (1.0 if e.get("hit") else 0.0)

    def get_statistics(self) -> dict[str, Any]:
        """The spec's metrics (v3.4's list), from everything emitted so far; a metric no
        component reported is None, never a made-up number."""
        t = dict(self._totals)
        g = t.get
        calls, jobs = g("circuits.count", 0.0), g("job.count", 0.0)
        requested, run = g("circuits.requested", 0.0), g("circuits.run", 0.0)
        busy = g("circuits.seconds", 0.0)
        job_seconds = g("job.submit_seconds", 0.0) + g("job.wait_seconds", 0.0)
        templates = g("template.count", 0.0)
        return {
            "circuits_requested": requested,
            "circuits_run": run,
            "jobs": jobs,
            "batch_submission_time_ms": _ratio(1000 * g("job.submit_seconds", 0.0), jobs),
            "batch_execution_time_ms": _ratio(1000 * busy, calls),
            "circuit_build_time_ms": _ratio(1000 * g("template.build_seconds", 0.0),
                                            templates - g("template.hits", 0.0)),
            "parameter_bind_time_ms": _ratio(1000 * g("template.bind_seconds", 0.0), templates),
            "circuits_per_second": _ratio(run, busy),
            "effective_parallelization": _ratio(job_seconds, busy) if jobs else None,
            "cache_hit_rate": _ratio(g("circuits.cache_hits", 0.0), requested),
            "template_hit_rate": _ratio(g("template.hits", 0.0), templates),
            "cache_memory_mb": self._latest("cache", "memory_mb"),
            "api_calls_saved": requested - jobs if jobs else None,
            "connection_reuse_rate": self._latest("connections", "reuse_rate"),
            "usd": g("circuits.usd", 0.0),
            "shots": g("step.shots", 0.0),
            "steps": g("step.count", 0.0),
        }

    def _latest(self, kind: str, field: str) -> Any:
        for e in reversed(self.events(kind)):
            if field in e:
                return e[field]
        return None

    def estimate_speedup(self, baseline_circuits_per_second: float) -> float | None:
        """Measured circuits per second over a baseline's (e.g. one job per circuit)."""
        cps = self.get_statistics()["circuits_per_second"]
        if cps is None or baseline_circuits_per_second <= 0:
            return None
        return cps / baseline_circuits_per_second

    def print_performance_report(self, file: TextIO | None = None) -> None:
        """The statistics as a readable table (rich where installed, plain text otherwise)."""
        from q_store.execution.report import print_tracker_report

        print_tracker_report(self.get_statistics(), file)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
