"""The run store's SQLite schema, its version table and the migrations between versions.

A new database is created at version 1 and migrated forward like any old one, so every
migration runs on every database and none is only ever exercised by an upgrade. Each migration
runs in the same ``BEGIN IMMEDIATE`` transaction as its ``schema_version`` row: a process
killed part-way leaves the database at the previous version, and two processes opening a new
store at once cannot both migrate it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from q_store.errors import StoreError

__all__ = ["SCHEMA_V1", "SCHEMA_VERSION", "migrate", "schema_version"]

SCHEMA_VERSION = 2

# Version 1: runs, per-step metrics, events, checkpoints.
SCHEMA_V1 = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    applied_at REAL NOT NULL
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    config TEXT NOT NULL,
    source TEXT
);
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    t REAL NOT NULL,
    PRIMARY KEY (run_id, kind, step, name)
) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_run ON events (run_id, id);
CREATE TABLE checkpoints (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    step INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, path, sha256)
);
"""


def _v1_to_v2(db: sqlite3.Connection) -> None:
    """Version 2: a run's summary, why it stopped and which process writes it; the epoch of
    every metric row; file sizes of checkpoints; events found by kind."""
    _exec_script(db, """
        ALTER TABLE runs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE runs ADD COLUMN stop_reason TEXT;
        ALTER TABLE runs ADD COLUMN writer_pid INTEGER;
        ALTER TABLE metrics ADD COLUMN epoch INTEGER;
        ALTER TABLE checkpoints ADD COLUMN size_bytes INTEGER;
        CREATE INDEX events_run_kind ON events (run_id, kind, id);
    """)
    # step metrics written by version 1 carry no epoch: take it from their step events
    rows = db.execute("SELECT run_id, data FROM events WHERE kind = 'step'").fetchall()
    for run_id, data in rows:
        e = json.loads(data)
        if isinstance(e.get("step"), int) and isinstance(e.get("epoch"), int):
            db.execute("UPDATE metrics SET epoch = ? WHERE run_id = ? AND kind = 'step' AND "
                       "step = ?", (e["epoch"], run_id, e["step"]))
    db.execute("UPDATE metrics SET epoch = step WHERE kind = 'epoch'")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _v1_to_v2}


def schema_version(db: sqlite3.Connection) -> int:
    """The database's version; 0 for an empty database."""
    has = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                     "name = 'schema_version'").fetchone()
    if not has:
        return 0
    (v,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(v)


def migrate(db: sqlite3.Connection, path: object, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to ``target`` (default: this release's version); returns the
    version it had. A database written by a newer q_store is refused, not downgraded."""
    start = schema_version(db)
    if start > SCHEMA_VERSION:
        raise StoreError(f"{path} has run-store schema version {start}; this q_store reads "
                         f"versions up to {SCHEMA_VERSION}: upgrade q_store")
    if start >= target:
        return start
    db.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)  # another process may have migrated meanwhile
        if current == 0:
            _exec_script(db, SCHEMA_V1)
            db.execute("INSERT INTO schema_version VALUES (1, ?)", (time.time(),))
            current = 1
        for version in range(current + 1, target + 1):
            MIGRATIONS[version](db)
            db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return start


def _exec_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement, inside the caller's transaction (``executescript`` would commit
    it first); the scripts hold no semicolons other than separators."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
