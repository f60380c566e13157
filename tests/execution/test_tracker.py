"""PerformanceTracker: one event stream, statistics computed from what was emitted (never
invented), JSON lines on disk, subscribers that cannot break training."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from q_store.execution.tracker import PerformanceTracker
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_statistics_follow_the_events_exactly(tmp_path):
    tr = PerformanceTracker(tmp_path, clock=Clock())
    tr.emit("circuits", role="gradient", requested=10, run=8, cache_hits=2, seconds=0.5,
            usd=0.25)
    tr.emit("circuits", role="values", requested=10, run=10, cache_hits=0, seconds=1.5,
            usd=0.0)
    tr.emit("job", backend="b", circuits=8, submit_seconds=0.1, wait_seconds=0.3)
    tr.emit("job", backend="b", circuits=10, submit_seconds=0.3, wait_seconds=1.1)
    tr.emit("template", hit=False, build_seconds=0.004, bind_seconds=0.001)
    tr.emit("template", hit=True, build_seconds=0.0, bind_seconds=0.003)
    s = tr.get_statistics()
    assert s["circuits_requested"] == 20 and s["circuits_run"] == 18 and s["jobs"] == 2
    assert s["cache_hit_rate"] == pytest.approx(2 / 20)
    assert s["circuits_per_second"] == pytest.approx(18 / 2.0)
    assert s["batch_execution_time_ms"] == pytest.approx(1000.0)
    assert s["batch_submission_time_ms"] == pytest.approx(200.0)
    assert s["effective_parallelization"] == pytest.approx(1.8 / 2.0)
    assert s["circuit_build_time_ms"] == pytest.approx(4.0)
    assert s["parameter_bind_time_ms"] == pytest.approx(2.0)
    assert s["template_hit_rate"] == pytest.approx(0.5)
    assert s["api_calls_saved"] == 18 and s["usd"] == pytest.approx(0.25)
    assert s["connection_reuse_rate"] is None  # nobody reported it: not made up
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == [
        "circuits", "circuits", "job", "job", "template", "template"]
    assert [json.loads(x)["t"] for x in lines] == [1001.0 + i for i in range(6)]
    assert tr.estimate_speedup(3.0) == pytest.approx(3.0)


def test_subscribers_get_later_events_and_a_broken_one_changes_nothing():
    tr = PerformanceTracker()
    seen: list[str] = []

    def broken(event):
        raise RuntimeError("boom")

    tr.subscribe(broken)
    stop = tr.subscribe(lambda e: seen.append(e["event"]))
    tr.emit("step", loss=1.0)
    stop()
    tr.emit("step", loss=0.5)
    assert seen == ["step"] and len(tr.events("step")) == 2


def test_report_prints_every_metric():
    tr = PerformanceTracker()
    tr.emit("circuits", requested=4, run=4, seconds=2.0)
    out = io.StringIO()
    tr.print_performance_report(out)
    text = out.getvalue()
    assert "circuits_per_second" in text and "2" in text and "n/a" in text


def test_training_emits_steps_and_epochs_and_writes_them(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    y = (x[:, 0] > 0).astype(int)
    cfg = TrainingConfig(epochs=2, batch_size=4, seed=0, performance_log_dir=str(tmp_path),
                         gradient_method="parameter_shift")
    trainer = QuantumTrainer(cfg)
    trainer.fit(QuantumModel(2, 2, 1, task="classification", seed=0), (x, y))
    tr = trainer.performance_tracker
    steps, epochs = tr.events("step"), tr.events("epoch")
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[-1]["loss"] == pytest.approx(trainer.history["losses"][-1])
    n_params = 2 * 2  # one layer of RX, RY, RZ on two qubits ... counted from the plan
    assert all(e["circuits"] > 4 * n_params for e in steps)  # parameter shift: 2P+1 per sample
    stats = tr.get_statistics()
    assert stats["steps"] == 6 and stats["circuits_run"] >= sum(e["circuits"] for e in steps)
    written = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in written].count("step") == 6
