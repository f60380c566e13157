"""Layers and QuantumModel: structure, readouts, freezing, state round trips."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.errors import ConfigError, ValidationError
from q_store.ml import (
    HardwareEfficientQuantumLayer,
    QuantumConvolutionalLayer,
    QuantumLayer,
    QuantumModel,
    QuantumPoolingLayer,
    TrainingConfig,
)
from q_store.sim import StatevectorSimulator


def test_parameter_counts_and_entanglement():
    assert QuantumLayer(4, depth=2).n_parameters == 24
    assert HardwareEfficientQuantumLayer(8, depth=2).n_parameters == 32
    m = QuantumModel(4, 2, 2, entanglement="full")
    assert m.circuit.count_ops()["CNOT"] == 2 * 6
    m = QuantumModel(4, 2, 2, entanglement="linear", hardware_efficient=True)
    assert m.circuit.count_ops()["CNOT"] == 2 * 3 and m.n_parameters == 16
    with pytest.raises(ConfigError, match="linear, circular, full"):
        QuantumLayer(3, entanglement="star")


def test_convolution_shares_weights_and_pooling_halves_the_qubits():
    conv, pool = QuantumConvolutionalLayer(6), QuantumPoolingLayer(6)
    conv2 = QuantumConvolutionalLayer(3)
    m = QuantumModel(6, 1, layers=[conv, pool, conv2, QuantumPoolingLayer(3)], seed=1)
    assert m.n_parameters == 11 + 2 + 11 + 2
    assert len(m.readout_wires) == 2 and m.readout_wires == (0, 4)
    # five pairs at 6 qubits, all with the same 11 weights
    assert m.circuit.count_ops()["RXX"] == 5 + 2
    # the dropped qubits no longer influence the readout wires' marginal? they do through the
    # controlled rotations: changing a pooling weight changes the output
    x = np.random.default_rng(0).normal(size=(3, 6))
    before = m.predict(x)
    w = m.weights
    w[11] += 0.5
    m.weights = w
    assert not np.allclose(before, m.predict(x))
    with pytest.raises(ConfigError, match="expects 6 qubits but 3"):
        QuantumModel(6, 1, layers=[QuantumPoolingLayer(6), QuantumConvolutionalLayer(6)])


def test_regression_and_classification_readouts_match_the_simulator():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(5, 4))
    reg = QuantumModel(4, 3, 2, seed=0)
    sim = StatevectorSimulator()
    state = sim.state(reg.circuit, reg.weights, x)
    z0 = np.sum(np.abs(state.reshape(5, 2, 8)[:, 0]) ** 2, axis=1) - np.sum(
        np.abs(state.reshape(5, 2, 8)[:, 1]) ** 2, axis=1)
    np.testing.assert_allclose(reg.predict(x)[:, 0], z0, atol=1e-12)
    clf = QuantumModel(4, 3, 2, task="classification", seed=0)
    p = clf.predict(x)
    probs = sim.probabilities(clf.circuit, clf.weights, x, wires=(0, 1))
    np.testing.assert_allclose(p, probs[:, :3] / probs[:, :3].sum(axis=1, keepdims=True),
                               atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)


def test_amplitude_model_uses_the_exact_state():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 16))
    m = QuantumModel(16, 1, 1, encoding="amplitude", seed=0)
    assert m.n_qubits == 4
    sim = StatevectorSimulator()
    psi0 = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = sim.expectation(m.circuit, "Z0", m.weights, initial_state=psi0)
    np.testing.assert_allclose(m.predict(x)[:, 0], expected, atol=1e-12)


def test_freezing_state_round_trip_and_from_config():
    m = QuantumModel(4, 1, 2, seed=0)
    m.quantum_layer.freeze_parameters([0, 1, 2, 3])
    assert m.count_parameters() == m.n_parameters - 4
    state = m.get_state()
    other = QuantumModel(4, 1, 2, seed=99)
    other.load_state(state)
    np.testing.assert_array_equal(other.weights, m.weights)
    assert other.count_parameters() == m.count_parameters()
    with pytest.raises(ValidationError, match="different architecture"):
        QuantumModel(4, 1, 3).load_state(state)
    cfg = TrainingConfig(n_qubits=6, circuit_depth=3, hardware_efficient_ansatz=True, seed=2)
    fc = QuantumModel.from_config(cfg, 6, 2)
    assert fc.n_parameters == 3 * 6 * 2
    with pytest.raises(ValidationError, match=r"shape \(B, 4\)"):
        m.predict(np.zeros((2, 5)))
