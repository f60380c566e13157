"""Readouts: observables and outputs against independent computations, chain rules against
central differences (the readout alone and the whole model's loss), and bad configurations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from q_store.circuit import Projector
from q_store.errors import ConfigError, ValidationError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.layers import QuantumLayer
from q_store.ml.readouts import (
    BasisGroupReadout,
    ExpectationReadout,
    ProjectorReadout,
    get_readout,
)
from q_store.sim import StatevectorSimulator


def central_differences(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (fn(x + e) - fn(x - e)) / (2 * h)
    return g


def _probabilities(rng: np.random.Generator, b: int, k: int) -> np.ndarray:
    p = rng.uniform(0.05, 1.0, size=(b, k))
    return p / p.sum(axis=1, keepdims=True)


def test_basis_groups_sum_states_modulo_the_classes_and_use_every_state():
    r = BasisGroupReadout(10)
    obs = r.observables((0, 1, 2, 3, 4, 5))
    assert len(obs) == 64 and obs[13] == Projector("001101", range(6))
    raw = _probabilities(np.random.default_rng(0), 3, 64)
    by_hand = np.zeros((3, 10))
    for s in range(64):
        by_hand[:, s % 10] += raw[:, s]
    out = r.outputs(raw)
    np.testing.assert_allclose(out, by_hand, atol=1e-15)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    # per class 7 states for classes 0-3 (0, 10, ..., 60), 6 for the others
    np.testing.assert_array_equal(r.groups(64).sum(axis=0), [7, 7, 7, 7, 6, 6, 6, 6, 6, 6])
    assert len(BasisGroupReadout(3, wires=2).observables((4, 5, 6))) == 4


def test_temperature_is_a_softmax_of_the_scaled_scores():
    raw = _probabilities(np.random.default_rng(1), 4, 16)
    scores = BasisGroupReadout(5).outputs(raw)
    out = BasisGroupReadout(5, temperature=30.0).outputs(raw)
    z = np.exp(30.0 * scores)
    np.testing.assert_allclose(out, z / z.sum(axis=1, keepdims=True), rtol=1e-12)
    assert np.array_equal(np.argmax(out, 1), np.argmax(scores, 1))  # same decisions
    proj = _probabilities(np.random.default_rng(2), 4, 3)  # 3 classes on 2 wires
    renorm = ProjectorReadout(3).outputs(proj)
    np.testing.assert_allclose(renorm, proj / proj.sum(axis=1, keepdims=True))
    z = np.exp(7.0 * renorm)
    np.testing.assert_allclose(ProjectorReadout(3, temperature=7).outputs(proj),
                               z / z.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("readout,k", [
    (BasisGroupReadout(10), 64), (BasisGroupReadout(10, temperature=40.0), 64),
    (BasisGroupReadout(3, temperature=2.5), 8), (ProjectorReadout(3), 3),
    (ProjectorReadout(10, temperature=20.0), 10), (ProjectorReadout(4), 4),
    (ProjectorReadout(4, temperature=5.0), 4),
], ids=lambda v: v.describe() if hasattr(v, "describe") else str(v))
def test_vjp_matches_central_differences(readout, k):
    rng = np.random.default_rng(k)
    raw = _probabilities(rng, 3, k)
    d_out = rng.normal(size=(3, readout.n_outputs))
    fd = central_differences(lambda r: float(np.sum(d_out * readout.outputs(r))), raw)
    np.testing.assert_allclose(readout.vjp(raw, d_out), fd, atol=1e-7)
    assert readout.vjp(raw, d_out).shape == raw.shape


def test_model_outputs_are_the_grouped_probabilities_of_the_simulated_state():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(5, 16))
    m = QuantumModel(16, 3, encoding="amplitude", task="classification", seed=2,
                     layers=[QuantumLayer(4, depth=2, rotations=("RY",))],
                     readout="basis_groups", readout_options={"temperature": 10.0})
    assert len(m.observables) == 16 and m.n_parameters == 8
    _, states = m.encode(x)
    psi = StatevectorSimulator().state(m.circuit, m.weights, None, initial_state=states)
    probs = np.abs(psi) ** 2
    scores = np.stack([probs[:, c::3].sum(axis=1) for c in range(3)], axis=1)
    z = np.exp(10.0 * scores)
    np.testing.assert_allclose(m.predict(x), z / z.sum(axis=1, keepdims=True), atol=1e-12)
    assert m.describe()["readout"] == "basis_groups(3 classes, temperature=10)"


@pytest.mark.parametrize("readout,options", [
    ("basis_groups", {"temperature": 20.0}), ("basis_groups", {}),
    ("projectors", {"temperature": 5.0}),
])
def test_loss_gradient_through_the_readout_matches_central_differences(readout, options):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, size=(6, 8))
    y = np.array([0, 1, 2, 2, 1, 0])
    m = QuantumModel(8, 3, encoding="amplitude", task="classification", seed=1,
                     layers=[QuantumLayer(3, depth=2, rotations=("RY",), entanglement="linear")],
                     readout=readout, readout_options=options)
    trainer = QuantumTrainer(TrainingConfig(gradient_method="adjoint"))
    loss, grad = trainer.loss_and_gradient(m, x, y)
    w0 = m.weights

    def loss_at(w: np.ndarray) -> float:
        m.weights = w
        return trainer.loss_and_gradient(m, x, y)[0]

    fd = central_differences(loss_at, w0)
    m.weights = w0
    np.testing.assert_allclose(grad, fd, atol=1e-7)
    assert np.linalg.norm(grad) > 1e-3  # not trivially zero
    p = m.predict(x)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(6), y])), rel=1e-9)


def test_defaults_keep_the_previous_readouts():
    reg = QuantumModel(4, 2, 1, seed=0)
    clf = QuantumModel(4, 3, 1, task="classification", seed=0)
    assert isinstance(reg.readout, ExpectationReadout)
    assert isinstance(clf.readout, ProjectorReadout) and clf.readout.temperature is None
    assert [str(o) for o in clf.observables] == [str(Projector(b, (0, 1)))
                                                 for b in ("00", "01", "10")]
    other = QuantumModel(4, 3, 1, task="classification", seed=0, readout="basis_groups")
    with pytest.raises(ValidationError, match="different architecture"):
        other.load_state(clf.get_state())  # a readout change is an architecture change


def test_readout_errors_say_what_is_allowed():
    with pytest.raises(ConfigError, match="expectation, projectors, basis_groups"):
        get_readout("softmax", "classification", 3)
    with pytest.raises(ConfigError, match="is for regression; a classification model takes "
                                          "projectors, basis_groups"):
        QuantumModel(4, 3, 1, task="classification", readout="expectation")
    with pytest.raises(ConfigError, match="output_dim=3"):
        get_readout(BasisGroupReadout(4), "classification", 3)
    with pytest.raises(ConfigError, match="options go with a readout name"):
        get_readout(BasisGroupReadout(3), "classification", 3, temperature=2.0)
    with pytest.raises(ConfigError, match="bad options"):
        get_readout("projectors", "classification", 3, bins=4)
    for bad in (0, -1.0, math.nan, math.inf, True, "hot"):
        with pytest.raises(ConfigError, match="temperature must be"):
            BasisGroupReadout(3, temperature=bad)
    with pytest.raises(ConfigError, match="n_classes must be an integer >= 2"):
        ProjectorReadout(1)
    with pytest.raises(ConfigError, match="10 classes need 4 readout wires"):
        BasisGroupReadout(10).observables((0, 1, 2))
    with pytest.raises(ConfigError, match="between 2 and 3"):
        BasisGroupReadout(3, wires=4).observables((0, 1, 2))
    with pytest.raises(ValidationError, match="2\\*\\*k >= 10"):
        BasisGroupReadout(10).outputs(np.ones((2, 12)) / 12)
    with pytest.raises(ValidationError, match="batch, observables"):
        ProjectorReadout(4).outputs(np.ones(4))
