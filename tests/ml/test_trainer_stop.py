"""``trainer.request_stop()`` (Ctrl-C in ``q-store train``): training stops after the current
step, the checkpoint keeps the position inside the epoch, and a run resumed from it ends with
exactly the weights, optimiser state and history of a run that was never stopped."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.checkpoints import load_checkpoint_file


def _data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(30, 3))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    return (x[:24], y[:24]), (x[24:], y[24:])


def _run(tmp_path, options, stop_at=None, resume=False):
    cfg = TrainingConfig(epochs=3, batch_size=5, seed=11, learning_rate=0.1,
                         checkpoint_dir=str(tmp_path), **options)
    trainer = QuantumTrainer(cfg)
    model = QuantumModel(3, 2, 2, task="classification", seed=11)
    if stop_at is not None:
        def stop(e):
            if e["event"] == "step" and e["step"] == stop_at:
                trainer.request_stop()

        trainer.performance_tracker.subscribe(stop)
    train, val = _data()
    trainer.fit(model, train, val, resume_from=tmp_path / "latest.npz" if resume else None)
    return trainer, model


@pytest.mark.parametrize("options", [
    {},
    {"gradient_method": "spsa", "spsa_samples": 2},
    {"gradient_method": "parameter_shift", "shots": 300},
    {"learning_rate_schedule": "cosine"},
], ids=["adjoint", "spsa", "shots", "schedule"])
def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights(tmp_path, options):
    full, full_model = _run(tmp_path / "full", options)
    assert full.stop_reason is None and full.epoch == 3 and full.step == 15
    cut, _ = _run(tmp_path / "cut", options, stop_at=7)  # epoch 2, after its 2nd of 5 batches
    assert cut.stop_reason == "interrupted"
    assert (cut.epoch, cut.step) == (1, 7)
    _, meta = load_checkpoint_file(tmp_path / "cut" / "latest.npz")
    assert meta["partial"]["batches"] == 2 and meta["step"] == 7
    resumed, model = _run(tmp_path / "cut", options, resume=True)
    assert resumed.stop_reason is None and (resumed.epoch, resumed.step) == (3, 15)
    np.testing.assert_array_equal(model.weights, full_model.weights)
    for key in ("losses", "accuracy", "val_losses", "val_accuracy", "gradient_methods"):
        assert resumed.history[key] == full.history[key], key


def test_a_stop_requested_before_training_writes_a_checkpoint_and_trains_nothing(tmp_path):
    trainer = QuantumTrainer(TrainingConfig(epochs=2, batch_size=6, seed=0,
                                            checkpoint_dir=str(tmp_path)))
    model = QuantumModel(3, 2, 1, task="classification", seed=0)
    before = model.weights.copy()
    trainer.request_stop()
    trainer.fit(model, _data()[0])
    assert trainer.stop_reason == "interrupted" and trainer.step == 0
    np.testing.assert_array_equal(model.weights, before)
    assert (tmp_path / "latest.npz").exists()
    trainer.stop_reason = None
    trainer.fit(model, _data()[0])  # the request was used up: the next call trains
    assert trainer.epoch == 2


def test_stopping_at_the_last_batch_of_an_epoch_completes_that_epoch_on_resume(tmp_path):
    full, full_model = _run(tmp_path / "full", {})
    _run(tmp_path / "cut", {}, stop_at=10)  # the 5th and last batch of epoch 2
    _, meta = load_checkpoint_file(tmp_path / "cut" / "latest.npz")
    assert (meta["epoch"], meta["partial"]["batches"]) == (1, 5)
    resumed, model = _run(tmp_path / "cut", {}, resume=True)
    np.testing.assert_array_equal(model.weights, full_model.weights)
    assert resumed.history["losses"] == full.history["losses"]
