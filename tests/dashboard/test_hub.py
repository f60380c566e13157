"""EventHub (the live trainer's events in a bounded ring) and StoreSource (the run store) answer
the dashboard's questions the same way."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from q_store.dashboard.hub import EventHub, StoreSource, curves, to_json
from q_store.errors import StoreError
from q_store.execution.tracker import PerformanceTracker
from q_store.store import RunStore


def steps(tracker: PerformanceTracker, n: int, epoch: int = 1, first: int = 1,
          scale: float = 1.0) -> None:
    for i in range(first, first + n):
        tracker.emit("circuits", run=10 * i, seconds=0.5)
        tracker.emit("step", epoch=epoch, step=i, loss=scale / i, accuracy=None,
                     circuits=10 * i)
    tracker.emit("epoch", epoch=epoch, loss=0.5, val_loss=0.6, accuracy=None)


def test_events_are_kept_in_order_with_increasing_ids() -> None:
    tracker, hub = PerformanceTracker(), EventHub()
    hub.attach(tracker)
    tracker.emit("step", step=0)  # before any run: not part of one
    run = hub.start_run("first")
    steps(tracker, 3)
    events = hub.events(run)
    assert [e["event"] for e in events] == ["circuits", "step"] * 3 + ["epoch"]
    ids = [e["_id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert hub.events(run, after=ids[2]) == events[3:]
    assert hub.events(run, after=ids[2], limit=2) == events[3:5]
    assert hub.events(run, after=ids[-1]) == []
    assert hub.status(run) == "running"
    hub.end_run("completed")
    tracker.emit("step", step=99)  # between runs: dropped, not added to the finished run
    assert hub.events(run) == events and hub.status(run) == "completed"


def test_the_ring_is_bounded_and_says_how_much_it_dropped() -> None:
    tracker, hub = PerformanceTracker(), EventHub(keep=5)
    hub.attach(tracker)
    run = hub.start_run()
    for i in range(12):
        tracker.emit("job", i=i)
    assert [e["i"] for e in hub.events(run)] == list(range(7, 12))
    info = hub.run(run)
    assert (info["events"], info["dropped_events"]) == (12, 7)


def test_runs_newest_first_named_by_their_run_event_and_limited_in_number() -> None:
    tracker, hub = PerformanceTracker(), EventHub(keep_runs=2)
    hub.attach(tracker)
    first = hub.start_run()
    hub.end_run()
    second = hub.start_run()
    tracker.emit("run", run_id="20250101-x", name="digits")
    assert [r["id"] for r in hub.runs()] == [second, first]
    assert hub.run(second)["name"] == "digits" and hub.run(first)["name"] == "train() #1"
    third = hub.start_run()
    assert [r["id"] for r in hub.runs()] == [third, second]
    with pytest.raises(StoreError, match=first):
        hub.events(first)


def test_a_new_tracker_replaces_the_old_subscription() -> None:
    old, new, hub = PerformanceTracker(), PerformanceTracker(), EventHub()
    hub.attach(old)
    run = hub.start_run()
    hub.attach(new)
    old.emit("step", step=1)
    new.emit("step", step=2)
    assert [e["step"] for e in hub.events(run)] == [2]
    hub.close()
    new.emit("step", step=3)
    assert [e["step"] for e in hub.events(run)] == [2] and hub.closed


def test_live_curves_equal_the_run_store_metrics_of_the_same_events(tmp_path) -> None:
    tracker, hub = PerformanceTracker(), EventHub()
    hub.attach(tracker)
    run = hub.start_run()
    steps(tracker, 4, epoch=1)
    steps(tracker, 2, epoch=2, first=3, scale=2.0)  # as a resumed run redoing steps 3, 4
    with RunStore(tmp_path) as store:
        stored = store.create_run("r", {})
        store.write_events(stored.id, tracker.events())
    live, from_store = hub.curves(run), StoreSource(tmp_path).curves(stored.id)
    assert live == from_store
    assert live["step"]["loss"] == [[1, 1.0], [2, 0.5], [3, 2 / 3], [4, 0.5]]
    assert live["step"]["circuits"] == [[1, 10.0], [2, 20.0], [3, 30.0], [4, 40.0]]
    assert live["epoch"]["val_loss"] == [[1, 0.6], [2, 0.6]]
    assert "accuracy" not in live["step"]  # None is no point


def test_store_source_lists_and_reads_runs(tmp_path) -> None:
    with pytest.raises(StoreError, match="no run store"):
        StoreSource(tmp_path / "missing")
    with RunStore(tmp_path) as store:
        a = store.create_run("a", {"training": {"seed": 1}})
        b = store.create_run("b", {})
        store.write_events(a.id, [{"t": 1.0, "event": "step", "step": 1, "loss": 0.3}])
        store.finish(a.id, "completed")
    source = StoreSource(tmp_path)
    assert [r["id"] for r in source.runs()] == [b.id, a.id]
    assert source.run(a.id)["config"] == {"training": {"seed": 1}}
    assert source.status(a.id) == "completed" and source.status(b.id) == "running"
    (event,) = source.events(a.id)
    assert event["loss"] == 0.3 and source.events(a.id, after=event["_id"]) == []
    with pytest.raises(StoreError, match="no run 'zzz'"):
        source.run("zzz")


def test_json_for_browsers_is_strict_and_without_secrets() -> None:
    text = to_json({"loss": math.nan, "w": np.array([1.5, math.inf]), "api_key": "sk-1",
                    "nested": {"token": "t", "url": "https://me:pw@api.ionq.co/v0.3"}})
    assert json.loads(text) == {"loss": None, "w": [1.5, None],
                                "nested": {"url": "https://api.ionq.co/v0.3"}}
    assert "NaN" not in text and "Infinity" not in text


def test_curves_skip_events_without_an_integer_index() -> None:
    out = curves([{"event": "step", "step": "1", "loss": 1.0},
                  {"event": "step", "step": 2, "loss": 0.5, "method": "adjoint"},
                  {"event": "circuits", "run": 3}])
    assert out == {"step": {"loss": [[2, 0.5]]}, "epoch": {}}
