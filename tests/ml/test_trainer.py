"""QuantumTrainer: real learning, exact loss gradients, exact resume, safe checkpoints."""

from __future__ import annotations

import asyncio
import json
import zipfile

import numpy as np
import pytest

from q_store.data import DataLoader
from q_store.errors import ConfigError, ValidationError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig


def blobs(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(scale=0.3, size=(n, 4)) + np.where(y[:, None] == 1, 0.8, -0.8)
    return x, y


@pytest.mark.parametrize("task,method", [
    ("regression", "adjoint"), ("classification", "adjoint"),
    ("classification", "parameter_shift"),
])
def test_loss_gradient_matches_central_differences_of_the_loss(task, method):
    x, y = blobs(12, seed=1)
    yy = y if task == "classification" else np.sin(x[:, 0])
    m = QuantumModel(4, 3 if task == "classification" else 2, 2, task=task, seed=0)
    if task == "regression":
        yy = np.stack([np.sin(x[:, 0]), np.cos(x[:, 1])], axis=1)
    trainer = QuantumTrainer(TrainingConfig(gradient_method="adjoint"))
    loss, grad = trainer.loss_and_gradient(m, x, yy, method=method)
    w0, eps = m.weights, 1e-6
    fd = np.zeros_like(w0)
    for i in range(len(w0)):
        for sgn in (1, -1):
            w = w0.copy()
            w[i] += sgn * eps
            m.weights = w
            fd[i] += sgn * trainer.loss_and_gradient(m, x, yy)[0] / (2 * eps)
    m.weights = w0
    np.testing.assert_allclose(grad, fd, atol=1e-7)
    assert loss == pytest.approx(trainer.loss_and_gradient(m, x, yy)[0])


def _fubini_study_by_differences(m: QuantumModel, x: np.ndarray, h: float = 1e-5
                                 ) -> np.ndarray:
    """Batch-mean Fubini-Study metric from central differences of the simulated states."""
    from q_store.sim import StatevectorSimulator

    sim, (inputs, _) = StatevectorSimulator(), m.encode(x)
    w0 = m.weights
    psi = sim.state(m.circuit, w0, inputs)
    dpsi = []
    for i in range(len(w0)):
        e = np.zeros_like(w0)
        e[i] = h
        dpsi.append((sim.state(m.circuit, w0 + e, inputs)
                     - sim.state(m.circuit, w0 - e, inputs)) / (2 * h))
    d = np.stack(dpsi, axis=1)  # (B, P, 2^n)
    gram = np.einsum("bid,bjd->bij", d.conj(), d)
    ov = np.einsum("bd,bid->bi", psi.conj(), d)
    return (gram - np.einsum("bi,bj->bij", ov.conj(), ov)).real.mean(axis=0)


def test_natural_gradient_step_is_the_metric_preconditioned_gradient():
    """One SGD step of natural-gradient training moves the weights by
    ``-lr * (g + eps I)^-1 grad``, with the metric g computed here by finite differences."""
    x, _ = blobs(6, seed=4)
    yy = np.stack([np.sin(x[:, 0]), np.cos(x[:, 1])], axis=1)
    m = QuantumModel(4, 2, 2, seed=1)
    lr, eps = 0.1, 0.01
    cfg = TrainingConfig(gradient_method="natural_gradient", optimizer="sgd", learning_rate=lr,
                         natural_gradient_regularization=eps, epochs=1, batch_size=6,
                         shuffle=False)
    trainer = QuantumTrainer(cfg)
    w0 = m.weights.copy()
    _, grad = trainer.loss_and_gradient(m, x, yy, method="adjoint")
    g = _fubini_study_by_differences(m, x)
    assert np.linalg.norm(g) > 0.1  # the metric is far from the identity here
    expected = w0 - lr * np.linalg.pinv(g + eps * np.eye(len(g))) @ grad
    trainer.fit(m, (x, yy))
    np.testing.assert_allclose(m.weights, expected, atol=1e-7)
    plain = w0 - lr * grad
    assert np.abs(m.weights - plain).max() > 1e-3  # not the plain gradient step


def test_training_reaches_high_accuracy_on_a_separable_problem():
    x, y = blobs(120)
    cfg = TrainingConfig(epochs=15, batch_size=10, learning_rate=0.1, seed=3)
    m = QuantumModel(4, 2, 2, task="classification", hardware_efficient=True, seed=3)
    trainer = QuantumTrainer(cfg)
    hist = trainer.fit(m, DataLoader(x, y, 10, seed=3), val_loader=(x[:40], y[:40]))
    assert hist["losses"][-1] < 0.6 * hist["losses"][0]
    assert hist["accuracy"][-1] >= 0.95
    assert np.mean(np.argmax(m.predict(x), axis=1) == y) >= 0.95
    stats = trainer.get_performance_stats()
    assert set(stats) >= {"avg_circuits", "cache_hit_rate", "total_time", "avg_batch_time"}
    assert stats["avg_circuits"] > 0 and stats["cache_hit_rate"] > 0.9


@pytest.mark.parametrize("method", ["adjoint", "spsa", "adaptive"])
def test_resumed_run_reproduces_the_uninterrupted_run(tmp_path, method):
    x, y = blobs(40, seed=5)
    kw = dict(epochs=5, batch_size=8, learning_rate=0.05, seed=11, gradient_method=method)
    if method == "adaptive":
        kw["adaptive_refine_every"] = 3

    def fresh():
        return QuantumModel(4, 2, 2, task="classification", hardware_efficient=True, seed=2)

    full = fresh()
    QuantumTrainer(TrainingConfig(**kw)).fit(full, (x, y))

    first = fresh()
    cfg = TrainingConfig(**kw, checkpoint_dir=str(tmp_path))
    QuantumTrainer(cfg).fit(first, (x, y), epochs=2)  # "interrupted" after epoch 2
    assert (tmp_path / "epoch_0002.npz").exists()
    resumed = fresh()
    resumed.init_parameters(np.random.default_rng(123))  # weights must come from the file
    trainer = QuantumTrainer(TrainingConfig(**kw))
    hist = trainer.fit(resumed, (x, y), resume_from=tmp_path / "latest.npz")
    assert trainer.epoch == 5 and len(hist["losses"]) == 5
    np.testing.assert_array_equal(resumed.weights, full.weights)


def test_checkpoints_hold_no_key_and_are_not_pickles(tmp_path):
    x, y = blobs(20)
    cfg = TrainingConfig(epochs=1, pinecone_api_key="pc-TOPSECRET", quantum_api_key="ion-SECRET",
                         checkpoint_dir=str(tmp_path))
    m = QuantumModel(4, 2, 1, task="classification", seed=0)
    trainer = QuantumTrainer(cfg)
    trainer.fit(m, (x, y))
    raw = (tmp_path / "latest.npz").read_bytes()
    assert b"SECRET" not in raw
    with zipfile.ZipFile(tmp_path / "latest.npz") as z:
        assert all(name.endswith(".npy") for name in z.namelist())
    np.load(tmp_path / "latest.npz", allow_pickle=False)  # loads without pickle
    state = trainer.load_checkpoint(tmp_path / "latest.npz")
    np.testing.assert_array_equal(state["model_state"]["weights"], m.weights)
    assert "SECRET" not in json.dumps(state["config"])


def test_spec_style_checkpoint_dict_round_trip(tmp_path):
    m = QuantumModel(4, 2, 2, seed=0)
    trainer = QuantumTrainer(TrainingConfig())
    ckpt = {"epoch": 3, "model_state": m.get_state(), "loss": 0.25}
    trainer.save_checkpoint(ckpt, tmp_path / "checkpoint_epoch_3.pkl")
    back = trainer.load_checkpoint(tmp_path / "checkpoint_epoch_3.pkl")
    assert back["epoch"] == 3 and back["loss"] == 0.25
    other = QuantumModel(4, 2, 2, seed=5)
    other.load_state(back["model_state"])
    np.testing.assert_array_equal(other.weights, m.weights)


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    m = QuantumModel(4, 1, 1, seed=0)
    trainer = QuantumTrainer(TrainingConfig())
    path = trainer.save_checkpoint(tmp_path / "latest.npz", model=m)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    m.weights = m.weights + 1.0
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(path, model=m)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["latest.npz"]


def test_frozen_weights_do_not_move_and_batch_execution_is_equivalent():
    x, y = blobs(16)
    results = []
    for batched in (True, False):
        m = QuantumModel(4, 2, 2, task="classification", seed=0)
        m.quantum_layer.freeze_parameters(range(6))
        w0 = m.weights.copy()
        QuantumTrainer(TrainingConfig(epochs=2, batch_size=8, enable_batch_execution=batched,
                                      seed=0)).fit(m, (x, y))
        np.testing.assert_array_equal(m.weights[:6], w0[:6])
        assert not np.allclose(m.weights[6:], w0[6:])
        results.append(m.weights)
    np.testing.assert_allclose(results[0], results[1], atol=1e-12)


def test_early_stopping_and_async_api():
    x, y = blobs(30)
    cfg = TrainingConfig(epochs=50, learning_rate=1e-6, early_stopping_patience=2,
                         early_stopping_min_delta=1e-3, seed=0)
    m = QuantumModel(4, 2, 1, task="classification", seed=0)
    hist = asyncio.run(QuantumTrainer(cfg).train(m, DataLoader(x, y, 10)))
    assert len(hist["losses"]) == 3  # best at epoch 1, two epochs without improvement


def test_shot_based_training_with_parameter_shift():
    x, y = blobs(20)
    cfg = TrainingConfig(epochs=2, shots=2000, gradient_method="parameter_shift", seed=0,
                         learning_rate=0.1)
    m = QuantumModel(4, 2, 1, task="classification", seed=0)
    exact = QuantumTrainer(TrainingConfig(gradient_method="parameter_shift"))
    noisy = QuantumTrainer(cfg)
    le, ge = exact.loss_and_gradient(m, x, y)
    ln, gn = noisy.loss_and_gradient(m, x, y)
    assert abs(ln - le) < 0.05 and 0 < np.abs(gn - ge).max() < 0.1


def test_bad_inputs():
    m = QuantumModel(4, 2, 1, task="classification", seed=0)
    trainer = QuantumTrainer(TrainingConfig(epochs=1))
    with pytest.raises(ValidationError, match="class indices"):
        trainer.fit(m, (np.zeros((4, 4)), np.zeros((4, 2))))
    with pytest.raises(ValidationError, match="QuantumModel"):
        trainer.fit(object(), (np.zeros((4, 4)), np.zeros(4)))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="epochs"):
        trainer.fit(m, (np.zeros((4, 4)), np.zeros(4)), epochs=0)


def test_adaptive_uses_spsa_refines_periodically_and_switches_when_stalled():
    x, y = blobs(40)
    cfg = TrainingConfig(epochs=6, batch_size=10, gradient_method="adaptive",
                         adaptive_refine_every=2, adaptive_switch_patience=2,
                         learning_rate=1e-7, seed=0)  # no progress: SPSA must be abandoned
    m = QuantumModel(4, 2, 1, task="classification", seed=0)
    hist = QuantumTrainer(cfg).fit(m, (x, y))
    first, last = hist["gradient_methods"][0], hist["gradient_methods"][-1]
    assert first == {"parameter_shift": 2, "spsa": 2}  # steps 0 and 2 refine exactly
    assert last == {"natural_gradient": 4}  # slow convergence: the spec's natural gradient


@pytest.mark.parametrize("schedule", ["exponential", "cosine"])
def test_learning_rate_schedules_decay_to_the_final_fraction(schedule):
    """Each SGD update is ``-lr_k * grad`` with ``lr_k`` decaying from ``learning_rate`` to
    ``final_fraction * learning_rate`` over the planned steps (here 4: one batch per epoch)."""
    x, y = blobs(20)
    lr, f, steps = 0.1, 0.05, 4
    cfg = TrainingConfig(epochs=steps, batch_size=20, learning_rate=lr, optimizer="sgd",
                         learning_rate_schedule=schedule, learning_rate_final_fraction=f,
                         shuffle=False)
    trainer = QuantumTrainer(cfg)
    m = QuantumModel(4, 2, 1, task="classification", seed=0)

    def expected_lr(k: int) -> float:
        frac = k / steps
        if schedule == "exponential":
            return lr * f**frac
        return lr * (f + (1 - f) * 0.5 * (1 + np.cos(np.pi * frac)))

    for k in range(steps):
        w0 = m.weights.copy()
        _, grad = trainer.loss_and_gradient(m, x, y)
        trainer.fit(m, (x, y), epochs=1)
        np.testing.assert_allclose(m.weights, w0 - expected_lr(k) * grad, atol=1e-12)
    assert trainer.history["learning_rates"] == pytest.approx(
        [expected_lr(k) for k in range(steps)])
    assert trainer.learning_rate_at(steps) == pytest.approx(lr * f)
    with pytest.raises(ConfigError, match="constant, exponential, cosine"):
        TrainingConfig(learning_rate_schedule="linear")


def test_layer_rotations_option():
    from q_store.ml import QuantumLayer

    layer = QuantumLayer(6, depth=3, rotations=("RY",), entanglement="full")
    m = QuantumModel(6, 1, layers=[layer])
    assert m.n_parameters == 18 and set(m.circuit.count_ops()) == {"RX", "RY", "CNOT"}
    with pytest.raises(ConfigError, match="rotations"):
        QuantumLayer(2, rotations=("H",))


@pytest.mark.parametrize("method", ["adjoint", "parameter_shift"])
def test_the_loss_is_computed_once_per_step_and_equals_the_loss_of_the_outputs(method):
    # the step takes the loss from the cotangent's call on the same values
    from q_store.ml.losses import get_loss

    x, y = blobs(10, seed=3)
    m = QuantumModel(4, 3, 2, task="classification", seed=1)
    trainer = QuantumTrainer(TrainingConfig(gradient_method=method))
    base, calls = get_loss("cross_entropy"), []

    def counted(out, yy):
        calls.append(out.copy())
        return base(out, yy)

    trainer.loss_fn = counted
    loss, _ = trainer.loss_and_gradient(m, x, y, method=method)
    assert len(calls) == 1
    assert loss == base(calls[0], y)[0]
