"""``RunRecorder``: one run's telemetry stream, written to the run store while training runs.

It subscribes to the trainer's :class:`~q_store.execution.tracker.PerformanceTracker`. The
subscriber only puts events on a queue (about a microsecond; the training thread does no I/O
for it, apart from hashing a checkpoint file the trainer has just written); a background
thread wakes every ``interval`` seconds (not per event, so it does not compete with the loop
for the interpreter at every step), writes what is queued in transactions of up to
``max_batch`` events through its own database connection, and passes the same batches to
optional sinks (MLflow). A process killed mid-run keeps everything committed up to the last
batch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from q_store.store.db import CheckpointInfo, RunStore

__all__ = ["RunRecorder", "Sink", "file_sha256"]

log = logging.getLogger("q_store.store")
_FLUSH = object()
_STOP = object()


class Sink(Protocol):
    """Another destination for a run's events (e.g. :class:`~q_store.store.mlflow.MLflowSink`)."""

    def write(self, events: Sequence[dict[str, Any]]) -> None: ...

    def close(self, status: str, summary: dict[str, Any]) -> None: ...


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RunRecorder:
    """Records ``tracker``'s events for run ``run_id`` of the store in ``root``."""

    def __init__(self, root: str | os.PathLike[str], run_id: str, tracker: Any, *,
                 sinks: Sequence[Sink] = (), interval: float = 0.25, max_batch: int = 2000
                 ) -> None:
        self.root, self.run_id = Path(root), run_id
        self.sinks = list(sinks)
        self.interval, self.max_batch = interval, max_batch
        self.errors: list[str] = []
        self.written = 0
        self.writer_cpu_seconds = 0.0  # CPU time of the writer thread (set when it ends)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"q-store recorder {run_id}",
                                        daemon=True)
        self._ready = threading.Event()
        self._wake = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._tracker = tracker
        self._thread.start()
        self._ready.wait()
        self._unsubscribe = tracker.subscribe(self._on_event)

    # -- training thread -------------------------------------------------------------------------
    def _on_event(self, event: dict[str, Any]) -> None:
        checkpoint = None
        if event.get("event") == "checkpoint" and isinstance(event.get("path"), str):
            try:  # hashed now: the trainer may prune the file before the writer gets to it
                p = Path(event["path"])
                checkpoint = CheckpointInfo(str(p.resolve()), file_sha256(p),
                                            int(event.get("epoch", 0)),
                                            int(event.get("step", 0)), float(event["t"]),
                                            p.stat().st_size)
            except OSError as exc:
                self.errors.append(f"checkpoint {event['path']}: {exc}")
        self._queue.put((event, checkpoint))
        if event.get("event") == "epoch":  # a finished epoch is durable before training goes on
            self.flush(timeout=30.0)

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until everything emitted so far is written."""
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        self._wake.set()
        done.wait(timeout)

    def close(self, status: str | None = None, *, stop_reason: str | None = None,
              summary: dict[str, Any] | None = None) -> None:
        """Stop listening, write what is queued, then (with ``status``) the final status and
        summary; the sinks are closed with them."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread.is_alive():
            self._queue.put((_STOP, None))
            self._wake.set()
            self._thread.join()
        if status is not None:
            with RunStore(self.root) as store:
                store.finish(self.run_id, status, stop_reason=stop_reason, summary=summary)
        for sink in self.sinks:
            try:
                sink.close(status or "completed", dict(summary or {}))
            except Exception as exc:  # another tracker failing must not lose the run record
                self._sink_failed(sink, exc)

    # -- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        """Wake every ``interval`` seconds (or at once for flush/close), take everything
        queued and write it; never woken per event, so the training thread is not either."""
        store = RunStore(self.root)
        self._ready.set()
        cpu0 = time.thread_time()
        try:
            stop = False
            while not stop:
                self._wake.wait(self.interval)
                self._wake.clear()
                batch: list[dict[str, Any]] = []
                checkpoints: list[CheckpointInfo] = []
                waiting: list[threading.Event] = []
                while True:
                    try:
                        item, extra = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                    elif item is _FLUSH:
                        waiting.append(extra)
                    else:
                        batch.append(item)
                        if extra is not None:
                            checkpoints.append(extra)
                for i in range(0, max(len(batch), 1), self.max_batch):
                    part = batch[i : i + self.max_batch]
                    if part or (i == 0 and checkpoints):
                        self._write(store, part, checkpoints if i == 0 else [])
                for done in waiting:
                    done.set()
        finally:
            store.close()
            self.writer_cpu_seconds = time.thread_time() - cpu0

    def _write(self, store: RunStore, batch: list[dict[str, Any]],
               checkpoints: list[CheckpointInfo]) -> None:
        try:
            store.write_events(self.run_id, batch, checkpoints)
            self.written += len(batch)
        except Exception as exc:
            self.errors.append(f"run store: {exc}")
            log.exception("could not write %d events to the run store %s", len(batch),
                          store.path)
        for sink in self.sinks:
            try:
                sink.write(batch)
            except Exception as exc:
                self._sink_failed(sink, exc)

    def _sink_failed(self, sink: Any, exc: Exception) -> None:
        message = f"{type(sink).__name__}: {exc}"
        if message not in self.errors:
            self.errors.append(message)
            log.warning("tracking sink failed (the run store keeps recording): %s", message)
