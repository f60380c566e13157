"""The schema version table and migrations: a new store is built at version 1 and migrated;
a version-1 database with data is migrated to version 2 with its data intact; a database
from a newer q_store is refused."""

from __future__ import annotations

import json
import sqlite3

import pytest

from q_store.errors import StoreError
from q_store.store import SCHEMA_VERSION, RunStore
from q_store.store.schema import SCHEMA_V1


def _versions(path):
    with sqlite3.connect(path) as db:
        return [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")]


def test_a_new_store_runs_every_migration(tmp_path):
    with RunStore(tmp_path) as s:
        assert s.migrated_from == 0
    assert SCHEMA_VERSION == 2
    assert _versions(tmp_path / "runs.db") == [1, 2]
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with RunStore(tmp_path) as s:  # opening again changes nothing
        assert s.migrated_from == 2
    assert _versions(tmp_path / "runs.db") == [1, 2]


def _v1_database(path):
    db = sqlite3.connect(path)
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1, 0.0)")
    db.execute("INSERT INTO runs VALUES ('r1', 'old', 'completed', 1.0, 2.0, ?, 'a.toml')",
               (json.dumps({"training": {"epochs": 2}}),))
    for step, epoch, loss in ((1, 1, 2.0), (2, 1, 1.5), (3, 2, 1.0)):
        db.execute("INSERT INTO events (run_id, t, kind, data) VALUES ('r1', ?, 'step', ?)",
                   (float(step), json.dumps({"event": "step", "step": step, "epoch": epoch,
                                             "loss": loss})))
        db.execute("INSERT INTO metrics VALUES ('r1', 'step', ?, 'loss', ?, ?)",
                   (step, loss, float(step)))
    db.execute("INSERT INTO metrics VALUES ('r1', 'epoch', 2, 'loss', 1.1, 4.0)")
    db.execute("INSERT INTO checkpoints VALUES ('r1', '/x/epoch_0002.npz', 'ff', 2, 3, 4.0)")
    db.commit()
    db.close()


def test_a_version_1_database_is_migrated_with_its_data(tmp_path):
    _v1_database(tmp_path / "runs.db")
    assert _versions(tmp_path / "runs.db") == [1]
    with RunStore(tmp_path) as s:
        assert s.migrated_from == 1
        info = s.get("old")
        assert (info.id, info.status, info.config) == ("r1", "completed",
                                                       {"training": {"epochs": 2}})
        assert info.summary == {} and info.stop_reason is None  # the new columns' defaults
        assert s.metrics("r1")["loss"] == [(1, 2.0), (2, 1.5), (3, 1.0)]
        assert s.checkpoints("r1")[0].size_bytes is None
        # version 2 fills in the epoch of every metric row from its step event
        rows = s._db.execute("SELECT kind, step, epoch FROM metrics ORDER BY kind, step")
        assert rows.fetchall() == [("epoch", 2, 2), ("step", 1, 1), ("step", 2, 1),
                                   ("step", 3, 2)]
        # and the new columns work
        s.finish("r1", "completed", summary={"loss": 1.0})
        assert s.get("r1").summary == {"loss": 1.0}
        s.write_events("r1", [{"t": 9.0, "event": "step", "epoch": 3, "step": 4, "loss": 0.5}])
    assert _versions(tmp_path / "runs.db") == [1, 2]


def test_a_failed_migration_leaves_the_old_version(tmp_path, monkeypatch):
    from q_store.store import schema

    _v1_database(tmp_path / "runs.db")

    def broken(db):
        db.execute("ALTER TABLE runs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}'")
        raise RuntimeError("power cut")

    monkeypatch.setitem(schema.MIGRATIONS, 2, broken)
    with pytest.raises(RuntimeError, match="power cut"):
        RunStore(tmp_path)
    assert _versions(tmp_path / "runs.db") == [1]
    with sqlite3.connect(tmp_path / "runs.db") as db:  # the ALTER was rolled back too
        columns = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    assert "summary" not in columns
    monkeypatch.undo()
    with RunStore(tmp_path) as s:
        assert s.migrated_from == 1 and s.get("r1").summary == {}


def test_a_newer_database_is_refused(tmp_path):
    with RunStore(tmp_path):
        pass
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("INSERT INTO schema_version VALUES (99, 0.0)")
    with pytest.raises(StoreError, match=r"version 99.*upgrade q_store"):
        RunStore(tmp_path)
