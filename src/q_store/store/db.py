"""``RunStore``: runs, their metrics, events and checkpoints in one SQLite file.

Layout of a store directory (default ``./qstore-runs``)::

    qstore-runs/runs.db             the database (WAL mode: runs.db-wal, runs.db-shm beside it)
    qstore-runs/runs/<run id>/      a run's files: checkpoints/, preprocessing.npz, plots

Concurrency: one process writes a run (its trainer's recorder) while any number of readers
(``q-store runs``, the dashboard) read. WAL mode lets readers see the last committed state
without blocking the writer, and the writer never waits for readers. Every write is one
transaction, so a process killed mid-write leaves the database at its last commit.
``synchronous=NORMAL`` keeps commits cheap: a killed process loses nothing committed; only a
power cut can lose the last few commits (never corrupt the file).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from q_store.errors import StoreError
from q_store.store.redact import scrub
from q_store.store.schema import migrate

__all__ = ["DB_NAME", "DEFAULT_ROOT", "STATUSES", "CheckpointInfo", "RunInfo", "RunStore"]

DEFAULT_ROOT = "qstore-runs"
DB_NAME = "runs.db"
STATUSES = ("running", "completed", "failed", "interrupted")
# fields of step/epoch events that index a metric row rather than being one
_INDEX_FIELDS = frozenset({"t", "event", "step", "epoch"})


@dataclass(frozen=True)
class RunInfo:
    """One run as stored (``config`` and ``summary`` are plain dicts, secrets removed)."""

    id: str
    name: str
    status: str
    created_at: float
    updated_at: float
    config: dict[str, Any]
    source: str | None
    summary: dict[str, Any]
    stop_reason: str | None
    writer_pid: int | None


@dataclass(frozen=True)
class CheckpointInfo:
    path: str
    sha256: str
    epoch: int
    step: int
    created_at: float
    size_bytes: int | None


class RunStore:
    """A run store in directory ``root`` (created with its database unless ``create=False``,
    which refuses a directory that holds no store)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT, *, create: bool = True,
                 busy_timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        if not self.path.exists():
            if not create:
                raise StoreError(f"no run store at {self.root} (no {DB_NAME}); train a run "
                                 "with 'q-store train CONFIG' or name the store with --store")
            self.root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self.migrated_from = migrate(self._db, self.path)
        except BaseException:
            self._db.close()
            raise

    # -- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once: a writer never upgrades a read lock)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    # -- writing ---------------------------------------------------------------------------------
    def create_run(self, name: str, config: Mapping[str, Any], *, source: str | None = None
                   ) -> RunInfo:
        """A new run in status ``running``, written by this process; ``config`` is stored
        without secrets."""
        now = time.time()
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{secrets.token_hex(3)}"
        with self._tx() as db:
            db.execute("INSERT INTO runs (id, name, status, created_at, updated_at, config, "
                       "source, summary, writer_pid) VALUES (?, ?, 'running', ?, ?, ?, ?, '{}', "
                       "?)", (run_id, name, now, now, _dumps(scrub(dict(config))), source,
                              os.getpid()))
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return self.get(run_id)

    def claim(self, run_id: str) -> RunInfo:
        """Mark a stored run ``running`` again, written by this process (to resume it); refused
        while another live process writes it."""
        with self._tx() as db:
            row = db.execute("SELECT status, writer_pid FROM runs WHERE id = ?",
                             (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.root}")
            status, pid = row
            if status == "running" and pid not in (None, os.getpid()) and _alive(pid):
                raise StoreError(f"run {run_id} is being written by process {pid}; stop it "
                                 "first (Ctrl-C) or wait for it to finish")
            db.execute("UPDATE runs SET status = 'running', writer_pid = ?, updated_at = ?, "
                       "stop_reason = NULL WHERE id = ?", (os.getpid(), time.time(), run_id))
        return self.get(run_id)

    def finish(self, run_id: str, status: str, *, stop_reason: str | None = None,
               summary: Mapping[str, Any] | None = None) -> None:
        """Set the final status (``completed``, ``failed`` or ``interrupted``) and summary."""
        if status not in STATUSES:
            raise StoreError(f"status {status!r} is not allowed; choose one of "
                             f"{', '.join(STATUSES)}")
        with self._tx() as db:
            db.execute("UPDATE runs SET status = ?, stop_reason = ?, updated_at = ?, "
                       "writer_pid = NULL WHERE id = ?",
                       (status, stop_reason, time.time(), run_id))
            if summary is not None:
                self._merge_summary(db, run_id, summary)

    def update_summary(self, run_id: str, summary: Mapping[str, Any]) -> None:
        """Merge ``summary``'s keys into the run's summary."""
        with self._tx() as db:
            self._merge_summary(db, run_id, summary)

    def _merge_summary(self, db: sqlite3.Connection, run_id: str,
                       summary: Mapping[str, Any]) -> None:
        row = db.execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.root}")
        merged = {**json.loads(row[0]), **scrub(dict(summary))}
        db.execute("UPDATE runs SET summary = ?, updated_at = ? WHERE id = ?",
                   (_dumps(merged), time.time(), run_id))

    def write_events(self, run_id: str, events: Iterable[Mapping[str, Any]],
                     checkpoints: Iterable[CheckpointInfo] = ()) -> None:
        """Telemetry events (and checkpoints) of one run in one transaction: every event in
        ``events``; the numbers of ``step`` and ``epoch`` events also as metric rows (a
        resumed run's rows replace those of steps it redoes)."""
        rows, metrics = [], []
        for e in events:
            kind = str(e.get("event", "?"))
            t = float(e.get("t", time.time()))
            rows.append((run_id, t, kind, _dumps(scrub(dict(e)))))
            if kind in ("step", "epoch"):
                index = e.get("step" if kind == "step" else "epoch")
                if not isinstance(index, int):
                    continue
                epoch = e.get("epoch")
                for name, value in e.items():
                    if name not in _INDEX_FIELDS and _is_number(value):
                        metrics.append((run_id, kind, index, epoch, name, float(value), t))
        cps = [(run_id, c.path, c.sha256, c.epoch, c.step, c.created_at, c.size_bytes)
               for c in checkpoints]
        with self._tx() as db:
            db.executemany("INSERT INTO events (run_id, t, kind, data) VALUES (?, ?, ?, ?)",
                           rows)
            db.executemany("INSERT OR REPLACE INTO metrics (run_id, kind, step, epoch, name, "
                           "value, t) VALUES (?, ?, ?, ?, ?, ?, ?)", metrics)
            db.executemany("INSERT OR REPLACE INTO checkpoints (run_id, path, sha256, epoch, "
                           "step, created_at, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)", cps)
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (time.time(), run_id))

    def delete(self, run_id: str) -> None:
        """Remove a run: its rows and its directory (checkpoints included)."""
        info = self.get(run_id)
        if info.status == "running" and info.writer_pid and _alive(info.writer_pid) \
                and info.writer_pid != os.getpid():
            raise StoreError(f"run {run_id} is being written by process {info.writer_pid}; "
                             "stop it before deleting it")
        with self._tx() as db:
            db.execute("DELETE FROM runs WHERE id = ?", (info.id,))
        shutil.rmtree(self.run_dir(info.id), ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------------
    _RUN_COLUMNS = ("id, name, status, created_at, updated_at, config, source, summary, "
                    "stop_reason, writer_pid")

    def _info(self, row: tuple[Any, ...]) -> RunInfo:
        return RunInfo(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6],
                       json.loads(row[7]), row[8], row[9])

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        rows = self._db.execute(f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY created_at "
                                "DESC, id DESC").fetchall()
        return [self._info(r) for r in rows]

    def get(self, ref: str) -> RunInfo:
        """A run by id, unique id prefix, or name (the newest run of that name)."""
        db = self._db
        row = db.execute(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id = ?",
                         (ref,)).fetchone()
        if row is not None:
            return self._info(row)
        rows = db.execute(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id LIKE ? ESCAPE '\\'",
                          (_like_prefix(ref),)).fetchall()
        if len(rows) == 1:
            return self._info(rows[0])
        if len(rows) > 1:
            ids = ", ".join(r[0] for r in rows[:5])
            raise StoreError(f"run reference {ref!r} matches {len(rows)} runs ({ids}); give "
                             "more of the id")
        row = db.execute(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE name = ? ORDER BY "
                         "created_at DESC, id DESC LIMIT 1", (ref,)).fetchone()
        if row is not None:
            return self._info(row)
        raise StoreError(f"no run {ref!r} in {self.root} (give a run id, a unique prefix of "
                         "one, or a run name; 'q-store runs' lists them)")

    def metrics(self, run_id: str, kind: str = "step") -> dict[str, list[tuple[int, float]]]:
        """``{name: [(step, value), ...]}`` of one run's ``step`` or ``epoch`` metrics, in
        order (for epochs, the index is the epoch number)."""
        out: dict[str, list[tuple[int, float]]] = {}
        for name, step, value in self._db.execute(
                "SELECT name, step, value FROM metrics WHERE run_id = ? AND kind = ? ORDER BY "
                "name, step", (run_id, kind)):
            out.setdefault(name, []).append((int(step), float(value)))
        return out

    def events(self, run_id: str, kind: str | None = None, *, after_id: int = 0,
               limit: int | None = None) -> list[dict[str, Any]]:
        """Stored events in order (``after_id``: only newer ones, for tailing a live run);
        each carries its row id as ``"_id"``."""
        sql = "SELECT id, data FROM events WHERE run_id = ? AND id > ?"
        args: list[Any] = [run_id, after_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [{**json.loads(data), "_id": i} for i, data in self._db.execute(sql, args)]

    def checkpoints(self, run_id: str) -> list[CheckpointInfo]:
        rows = self._db.execute("SELECT path, sha256, epoch, step, created_at, size_bytes FROM "
                                "checkpoints WHERE run_id = ? ORDER BY created_at, step",
                                (run_id,)).fetchall()
        return [CheckpointInfo(*r) for r in rows]


def _dumps(value: Any) -> str:
    """Strict JSON (NaN and infinity become null, arrays lists, other objects strings)."""
    try:  # the common case, in C
        return json.dumps(value, allow_nan=False, default=_default)
    except ValueError:  # NaN or infinity somewhere
        return json.dumps(_plain(value), allow_nan=False)


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
