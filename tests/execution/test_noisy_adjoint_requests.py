"""Adjoint requests on noisy simulation: the density-matrix simulator answers them exactly with
its adjoint-channel sweep, locally and as the ``mock_noisy`` backend under the trainer."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from q_store.backends import BackendManager
from q_store.circuit import X, Z
from q_store.demo import hardware_efficient_circuit
from q_store.errors import ConfigError
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel


def _data(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, np.stack([np.sin(x[:, 0]), x[:, 1] * 0.5], axis=1)


def _manager(config: TrainingConfig) -> BackendManager:
    m = BackendManager(config)
    asyncio.run(m.initialize())
    return m


def test_adjoint_gradient_on_the_density_simulator_equals_parameter_shift():
    dm = DensityMatrixSimulator(NoiseModel.ionq_aria())
    c = hardware_efficient_circuit(3, 2)
    rng = np.random.default_rng(1)
    w, xs = rng.normal(size=c.n_weights), rng.normal(size=(4, 3))
    obs = [Z(0), X(1) @ Z(2)]
    adj = AdjointGradient(dm).jacobian(c, obs, w, xs)
    ps = ParameterShiftGradient(executor=dm).jacobian(c, obs, w, xs)
    np.testing.assert_allclose(adj.values, ps.values, atol=1e-12)
    np.testing.assert_allclose(adj.weights, ps.weights, atol=1e-10)
    cot = rng.normal(size=(4, 2))
    vjp = AdjointGradient(dm).vjp(c, [*obs, Z(1)], w, xs, np.c_[cot, np.zeros(4)])
    np.testing.assert_allclose(vjp.weights, np.einsum("bk,bkw->bw", cot, ps.weights),
                               atol=1e-10)


def test_trainer_adjoint_on_mock_noisy_equals_parameter_shift():
    """gradient_method='adjoint' on mock_noisy: the engine hands the adjoint request to the
    backend's density-matrix simulator (no circuits through the pipeline for it)."""
    x, y = _data()
    grads = {}
    for method in ("adjoint", "parameter_shift"):
        cfg = TrainingConfig(gradient_method=method)
        mgr = _manager(cfg)
        m = QuantumModel(2, 2, 1, mgr.get_backend("mock_noisy"), seed=3)
        trainer = QuantumTrainer(cfg, mgr)
        grads[method] = trainer.loss_and_gradient(m, x, y)
        events = trainer.performance_tracker.events("circuits")
        if method == "adjoint":
            assert any(e["role"] == "gradient" and e["backend"] == "mock_noisy" for e in events)
        trainer.close()
    assert grads["adjoint"][0] == pytest.approx(grads["parameter_shift"][0], abs=1e-12)
    np.testing.assert_allclose(grads["adjoint"][1], grads["parameter_shift"][1], atol=1e-10)
    ideal = QuantumTrainer(TrainingConfig()).loss_and_gradient(
        QuantumModel(2, 2, 1, None, seed=3), x, y)
    assert abs(ideal[0] - grads["adjoint"][0]) > 1e-4  # the noise is real


def test_adjoint_with_shots_on_mock_noisy_is_refused():
    cfg = TrainingConfig(gradient_method="parameter_shift", shots=100)
    mgr = _manager(cfg)
    m = QuantumModel(2, 2, 1, mgr.get_backend("mock_noisy"), seed=3)
    trainer = QuantumTrainer(cfg, mgr)
    with pytest.raises(ConfigError, match="needs exact expectation values"):
        trainer.loss_and_gradient(m, *_data(2), method="adjoint")
    trainer.close()
