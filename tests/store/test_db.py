"""RunStore: runs by id, prefix and name; events and metric rows in one transaction; secrets
never stored; statuses; deletion; a run written by a live process cannot be claimed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from q_store.errors import StoreError
from q_store.store import CheckpointInfo, RunStore, scrub

SECRET = "sk-live-7f3a9c1e5b2d4f6a8c0e"


def _store(tmp_path):
    return RunStore(tmp_path / "runs")


def test_runs_are_found_by_id_prefix_and_name(tmp_path):
    with _store(tmp_path) as s:
        a = s.create_run("alpha", {"x": 1})
        b = s.create_run("alpha", {"x": 2})
        c = s.create_run("beta", {"x": 3})
        assert s.get(a.id).config == {"x": 1}
        assert s.get("alpha").id == b.id  # the newest of that name
        assert s.get("beta").id == c.id
        assert s.get(c.id[:-1]).id == c.id  # a unique prefix
        assert [r.id for r in s.runs()] == [c.id, b.id, a.id]
        with pytest.raises(StoreError, match="matches 3 runs"):
            s.get(a.id[:8])  # the date part is shared by all three
        with pytest.raises(StoreError, match="no run 'gamma'"):
            s.get("gamma")
        assert (tmp_path / "runs" / "runs" / a.id).is_dir()


def test_a_store_that_does_not_exist_is_not_created_for_reading(tmp_path):
    with pytest.raises(StoreError, match="no run store"):
        RunStore(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_events_become_metric_rows_and_stay_in_order(tmp_path):
    with _store(tmp_path) as s:
        run = s.create_run("r", {})
        s.write_events(run.id, [
            {"t": 1.0, "event": "step", "epoch": 1, "step": 1, "loss": 2.0, "accuracy": None,
             "method": "adjoint", "circuits": 10},
            {"t": 2.0, "event": "circuits", "run": 10, "usd": 0.5},
            {"t": 3.0, "event": "step", "epoch": 1, "step": 2, "loss": float("nan"),
             "circuits": 10},
            {"t": 4.0, "event": "epoch", "epoch": 1, "loss": 1.5, "accuracy": 0.75}])
        steps = s.metrics(run.id, "step")
        assert steps["loss"] == [(1, 2.0)]  # NaN is not a metric value
        assert steps["circuits"] == [(1, 10.0), (2, 10.0)]
        assert "accuracy" not in steps and "method" not in steps
        assert s.metrics(run.id, "epoch") == {"accuracy": [(1, 0.75)], "loss": [(1, 1.5)]}
        events = s.events(run.id)
        assert [e["event"] for e in events] == ["step", "circuits", "step", "epoch"]
        assert events[2]["loss"] is None  # stored as strict JSON
        assert [e["step"] for e in s.events(run.id, "step")] == [1, 2]
        assert [e["event"] for e in s.events(run.id, after_id=events[1]["_id"])] == [
            "step", "epoch"]


def test_a_redone_step_replaces_its_metric_rows(tmp_path):
    with _store(tmp_path) as s:
        run = s.create_run("r", {})
        s.write_events(run.id, [{"t": 1.0, "event": "step", "epoch": 1, "step": 5, "loss": 3.0}])
        s.write_events(run.id, [{"t": 2.0, "event": "step", "epoch": 1, "step": 5, "loss": 2.5}])
        assert s.metrics(run.id)["loss"] == [(5, 2.5)]


def test_status_summary_and_checkpoints(tmp_path):
    with _store(tmp_path) as s:
        run = s.create_run("r", {})
        assert run.status == "running" and run.writer_pid == os.getpid()
        cp = CheckpointInfo(str(tmp_path / "c.npz"), "ab" * 32, 2, 20, 5.0, 123)
        s.write_events(run.id, [], [cp])
        s.update_summary(run.id, {"loss": 0.5})
        s.finish(run.id, "interrupted", stop_reason="interrupted", summary={"steps": 20})
        info = s.get(run.id)
        assert (info.status, info.stop_reason, info.writer_pid) == ("interrupted",
                                                                    "interrupted", None)
        assert info.summary == {"loss": 0.5, "steps": 20}
        assert s.checkpoints(run.id) == [cp]
        with pytest.raises(StoreError, match="not allowed"):
            s.finish(run.id, "done")
        assert s.claim(run.id).status == "running"


def test_delete_removes_rows_and_files(tmp_path):
    with _store(tmp_path) as s:
        run = s.create_run("r", {})
        s.write_events(run.id, [{"t": 1.0, "event": "step", "epoch": 1, "step": 1,
                                 "loss": 1.0}])
        (s.run_dir(run.id) / "checkpoints").mkdir()
        (s.run_dir(run.id) / "checkpoints" / "latest.npz").write_bytes(b"x")
        s.finish(run.id, "completed")
        s.delete(run.id)
        assert s.runs() == [] and not s.run_dir(run.id).exists()
        assert s.metrics(run.id) == {} and s.events(run.id) == []


def test_a_run_written_by_a_live_process_cannot_be_claimed_or_deleted(tmp_path):
    root = tmp_path / "runs"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with RunStore(root) as s:
            run = s.create_run("r", {})
            s._db.execute("UPDATE runs SET writer_pid = ? WHERE id = ?", (child.pid, run.id))
            with pytest.raises(StoreError, match=f"process {child.pid}"):
                s.claim(run.id)
            with pytest.raises(StoreError, match="stop it"):
                s.delete(run.id)
    finally:
        child.kill()
        child.wait()
    with RunStore(root) as s:  # its writer is gone: a stale 'running' run can be resumed
        assert s.claim(run.id).writer_pid == os.getpid()


def test_secrets_are_never_stored(tmp_path):
    config = {"training": {"learning_rate": 0.1, "quantum_api_key": SECRET},
              "backend": {"api_key_env": "MY_KEY", "token": SECRET,
                          "base_url": f"https://user:{SECRET}@api.example.com/v0.4"},
              "nested": [{"password": SECRET, "ok": 1}]}
    cleaned = scrub(config)
    assert cleaned == {"training": {"learning_rate": 0.1},
                       "backend": {"api_key_env": "MY_KEY",
                                   "base_url": "https://api.example.com/v0.4"},
                       "nested": [{"ok": 1}]}
    with _store(tmp_path) as s:
        run = s.create_run("r", config)
        s.write_events(run.id, [{"t": 1.0, "event": "job", "api_key": SECRET}])
        s.update_summary(run.id, {"secret": SECRET})
        s.finish(run.id, "completed")
    for f in (tmp_path / "runs").iterdir():
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
