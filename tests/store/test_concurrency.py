"""One writer and readers at once (WAL mode), and a writer killed mid-write.

The writer runs in its own process, as a training run does. Locks are tested with SQLite's
busy timeout at zero, so any wait for a lock would be an immediate ``database is locked``
error rather than a slow pass: readers never block the writer and the writer never blocks
readers. Every batch of events is one transaction: readers only ever see whole batches, and a
SIGKILL leaves the database at its last commit.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import q_store
from q_store.store import RunStore

SRC = str(Path(q_store.__file__).resolve().parents[1])
BATCH = 50

# writes `batches` transactions of BATCH step events to run `run_id`, printing after each commit
WRITER = f"""
import sys, time
from q_store.store import RunStore
root, run_id, batches, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
store = RunStore(root, busy_timeout=timeout)
step = 0
for b in range(batches):
    events = []
    for _ in range({BATCH}):
        step += 1
        events.append({{"t": time.time(), "event": "step", "epoch": 1, "step": step,
                        "loss": 1.0 / step, "circuits": 7, "note": "x" * 200}})
    store.write_events(run_id, events)
    print("committed", step, flush=True)
store.close()
"""


def _env():
    return {**os.environ, "PYTHONPATH": SRC}


def _writer(root, run_id, batches, timeout=0.0):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), run_id, str(batches),
                             str(timeout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())


def _count(db) -> int:
    return db.execute("SELECT COUNT(*) FROM metrics WHERE name = 'loss'").fetchone()[0]


@pytest.fixture
def run(tmp_path):
    with RunStore(tmp_path) as s:
        return tmp_path, s.create_run("concurrency", {}).id


def test_a_reader_holding_a_snapshot_never_blocks_the_writer(run):
    root, run_id = run
    reader = sqlite3.connect(root / "runs.db", isolation_level=None, timeout=0)
    reader.execute("BEGIN")
    assert _count(reader) == 0  # the read transaction now holds its snapshot
    writer = _writer(root, run_id, batches=20, timeout=0.0)  # no waiting for locks allowed
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert out.split()[-1] == str(20 * BATCH)
    assert _count(reader) == 0  # still the snapshot: isolation, not blocking
    reader.execute("COMMIT")
    assert _count(reader) == 20 * BATCH
    reader.close()


def test_a_writer_in_a_transaction_never_blocks_readers(run):
    root, run_id = run
    with RunStore(root) as s:
        s.write_events(run_id, [{"t": 1.0, "event": "step", "epoch": 1, "step": 1,
                                 "loss": 1.0}])
    writer = sqlite3.connect(root / "runs.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO metrics VALUES (?, 'step', 2, 'loss', 0.5, 2.0, 1)", (run_id,))
    reader = subprocess.run(
        [sys.executable, "-c", "import sys; from q_store.store import RunStore; "
         "s = RunStore(sys.argv[1], create=False, busy_timeout=0); "
         "print(len(s.metrics(sys.argv[2])['loss']), len(s.runs()))", str(root), run_id],
        capture_output=True, text=True, env=_env(), timeout=120)
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.split() == ["1", "1"]  # the committed state, at once
    writer.execute("COMMIT")
    writer.close()


def test_readers_see_whole_batches_while_a_writer_writes(run):
    root, run_id = run
    batches = 60
    writer = _writer(root, run_id, batches=batches, timeout=30.0)
    reader = sqlite3.connect(root / "runs.db", isolation_level=None, timeout=0)
    seen = []
    while writer.poll() is None:
        seen.append(_count(reader))
    writer.communicate()
    assert writer.returncode == 0
    seen.append(_count(reader))
    assert seen[-1] == batches * BATCH
    assert all(n % BATCH == 0 for n in seen)  # never half a transaction
    assert seen == sorted(seen)
    reader.close()


def test_a_writer_killed_mid_write_leaves_its_last_commit(run):
    root, run_id = run
    writer = _writer(root, run_id, batches=100_000, timeout=30.0)
    committed = 0
    for line in writer.stdout:  # let it commit a few batches, then kill it mid-batch
        committed = int(line.split()[1])
        if committed >= 10 * BATCH:
            break
    writer.send_signal(signal.SIGKILL)
    writer.communicate()
    assert writer.returncode == -signal.SIGKILL
    db = sqlite3.connect(root / "runs.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with RunStore(root) as s:
        steps = [step for step, _ in s.metrics(run_id)["loss"]]
        assert steps[-1] >= committed  # every printed commit is there
        assert steps == list(range(1, len(steps) + 1))  # and nothing torn
        assert len(steps) % BATCH == 0
        assert len(s.events(run_id, "step")) == len(steps)
        s.write_events(run_id, [{"t": 1.0, "event": "step", "epoch": 2, "step": len(steps) + 1,
                                 "loss": 0.1}])  # the store takes writes again
