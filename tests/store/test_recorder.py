"""RunRecorder: a real training run's telemetry lands in the store exactly as the tracker
emitted it; checkpoints with their SHA-256; sinks get the same batches and cannot break the
record."""

from __future__ import annotations

import hashlib

import numpy as np

from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.store import RunRecorder, RunStore


def _train(tmp_path, recorder_kw=None, epochs=2):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    cfg = TrainingConfig(epochs=epochs, batch_size=6, seed=0, learning_rate=0.1,
                         checkpoint_dir=str(tmp_path / "ck"))
    trainer = QuantumTrainer(cfg)
    store = RunStore(tmp_path / "store")
    run = store.create_run("rec", {"training": cfg.to_dict()})
    rec = RunRecorder(store.root, run.id, trainer.performance_tracker, **(recorder_kw or {}))
    model = QuantumModel(2, 2, 1, task="classification", seed=0)
    trainer.fit(model, (x, y))
    return trainer, store, run, rec


def test_every_step_and_epoch_is_stored_as_emitted(tmp_path):
    trainer, store, run, rec = _train(tmp_path)
    rec.close("completed", summary={"loss": trainer.history["losses"][-1]})
    emitted = trainer.performance_tracker.events("step")
    assert len(emitted) == trainer.step == 8
    stored = store.metrics(run.id, "step")
    assert stored["loss"] == [(e["step"], e["loss"]) for e in emitted]
    assert stored["accuracy"] == [(e["step"], e["accuracy"]) for e in emitted]
    assert store.metrics(run.id, "epoch")["loss"] == list(enumerate(trainer.history["losses"],
                                                                    start=1))
    kinds = [e["event"] for e in store.events(run.id)]
    assert kinds.count("circuits") == len(trainer.performance_tracker.events("circuits")) > 0
    assert rec.written == len(trainer.performance_tracker.events()) and not rec.errors
    info = store.get(run.id)
    assert info.status == "completed" and info.summary["loss"] == trainer.history["losses"][-1]


def test_checkpoints_are_recorded_with_their_hashes(tmp_path):
    _, store, run, rec = _train(tmp_path, epochs=3)
    rec.close("completed")
    cps = store.checkpoints(run.id)
    assert [(c.epoch, c.step) for c in cps] == [(1, 4), (2, 8), (3, 12)]
    for c in cps:
        with open(c.path, "rb") as f:
            data = f.read()
        assert c.sha256 == hashlib.sha256(data).hexdigest() and c.size_bytes == len(data)


class Sink:
    def __init__(self, fail=False):
        self.batches, self.closed, self.fail = [], None, fail

    def write(self, events):
        if self.fail:
            raise ConnectionError("tracking server down")
        self.batches.append(list(events))

    def close(self, status, summary):
        self.closed = (status, summary)


def test_sinks_get_the_same_events_and_a_failing_one_breaks_nothing(tmp_path):
    good, bad = Sink(), Sink(fail=True)
    trainer, store, run, rec = _train(tmp_path, {"sinks": [bad, good]})
    rec.close("interrupted", stop_reason="test", summary={"steps": 8})
    sent = [e for batch in good.batches for e in batch]
    assert sent == trainer.performance_tracker.events()
    assert good.closed == ("interrupted", {"steps": 8})
    assert rec.errors == ["Sink: tracking server down"]
    assert store.get(run.id).status == "interrupted"
    assert len(store.metrics(run.id)["loss"]) == 8


def test_flush_makes_queued_events_visible_to_readers(tmp_path):
    from q_store.execution.tracker import PerformanceTracker

    tracker = PerformanceTracker()
    with RunStore(tmp_path) as store:
        run = store.create_run("f", {})
        rec = RunRecorder(tmp_path, run.id, tracker, interval=60.0)  # would wait a minute
        tracker.emit("step", epoch=1, step=1, loss=0.5)
        rec.flush()
        assert store.metrics(run.id)["loss"] == [(1, 0.5)]
        rec.close()
        tracker.emit("step", epoch=1, step=2, loss=0.4)  # after close: not recorded
        assert len(store.metrics(run.id)["loss"]) == 1
