"""Gradient methods agree with each other and with analytic values."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, Func, X, Y, Z, theta, x
from q_store.errors import ConfigError, NotSupportedError, ValidationError
from q_store.gradients import (
    AdjointGradient,
    FiniteDifferenceGradient,
    ParameterShiftGradient,
    SPSAGradient,
    SPSAGradientEstimator,
    get_gradient_method,
    shift_rule,
)
from q_store.sim import StatevectorSimulator
from tests.reference import random_circuit

OBS = (Z(0), X(1) @ Y(0), 0.3 * Z(1) - X(0))


@pytest.mark.parametrize("seed", range(6))
def test_adjoint_equals_parameter_shift_equals_central_differences(seed):
    rng = np.random.default_rng(seed)
    n = 2 + seed % 3
    c = random_circuit(n, 25, rng, symbolic=True)  # every gate in the table, incl. IonQ natives
    w = rng.normal(size=c.n_weights)
    adj = AdjointGradient().jacobian(c, OBS, w)
    ps = ParameterShiftGradient().jacobian(c, OBS, w)
    fd = FiniteDifferenceGradient().jacobian(c, OBS, w)
    np.testing.assert_allclose(adj.values, ps.values, atol=1e-12)
    np.testing.assert_allclose(adj.weights, ps.weights, atol=1e-10)
    np.testing.assert_allclose(adj.weights, fd.weights, atol=1e-7)
    assert adj.weights.shape == (1, len(OBS), c.n_weights)


def test_gradients_with_respect_to_inputs_and_nonlinear_expressions():
    c = (Circuit(3).rx(0, x[0] * x[1]).ry(1, theta[0] + 0.5 * x[0]).cnot(0, 1)
         .rz(1, Func("sin", theta[1])).crx(0, 2, theta[0] * theta[1]).ms(1, 2, x[1], 0.1, theta[2])
         .zz(0, 2, (np.pi - x[0]) * (np.pi - x[1])))
    rng = np.random.default_rng(0)
    xs, w = rng.normal(size=(5, 2)), rng.normal(size=3)
    wrt = ("weights", "inputs")
    adj = AdjointGradient().jacobian(c, OBS, w, xs, wrt=wrt)
    ps = ParameterShiftGradient().jacobian(c, OBS, w, xs, wrt=wrt)
    fd = FiniteDifferenceGradient().jacobian(c, OBS, w, xs, wrt=wrt)
    for a, b, tol in ((adj, ps, 1e-10), (adj, fd, 1e-7)):
        np.testing.assert_allclose(a.weights, b.weights, atol=tol)
        np.testing.assert_allclose(a.inputs, b.inputs, atol=tol)
    assert adj.inputs.shape == (5, 3, 2)


def test_forward_differences_are_first_order_accurate():
    rng = np.random.default_rng(1)
    c = random_circuit(2, 15, rng, symbolic=True, gates=("RX", "RY", "RZ", "CNOT", "CRX"))
    w = rng.normal(size=c.n_weights)
    exact = AdjointGradient().jacobian(c, OBS, w).weights
    fwd = FiniteDifferenceGradient(method="forward").jacobian(c, OBS, w).weights
    np.testing.assert_allclose(fwd, exact, atol=1e-5)
    coarse = FiniteDifferenceGradient(method="forward", step=1e-2).jacobian(c, OBS, w).weights
    assert 1e-5 < np.abs(coarse - exact).max() < 5e-2  # O(h) error is visible


def test_vjp_is_the_contracted_jacobian():
    c = Circuit(2).rx(0, x[0]).ry(1, theta[0]).cnot(0, 1).rz(0, theta[1]).crz(1, 0, theta[0])
    rng = np.random.default_rng(2)
    xs, w, cot = rng.normal(size=(7, 1)), rng.normal(size=2), rng.normal(size=(7, 3))
    wrt = ("weights", "inputs")
    jac = AdjointGradient().jacobian(c, OBS, w, xs, wrt=wrt)
    for method in (AdjointGradient(), ParameterShiftGradient()):
        v = method.vjp(c, OBS, w, xs, cot, wrt=wrt)
        np.testing.assert_allclose(v.weights, np.einsum("bk,bkp->bp", cot, jac.weights),
                                   atol=1e-10)
        np.testing.assert_allclose(v.inputs, np.einsum("bk,bkp->bp", cot, jac.inputs),
                                   atol=1e-10)
    with pytest.raises(ValidationError, match="cotangent"):
        AdjointGradient().vjp(c, OBS, w, xs, np.ones((3, 3)))


@pytest.mark.parametrize("omega,r", [(1.0, 1), (0.5, 2), (2 * np.pi, 2), (1.0, 3)])
def test_general_shift_rule_is_exact_on_trigonometric_polynomials(omega, r):
    rng = np.random.default_rng(r)
    a, b = rng.normal(size=r + 1), rng.normal(size=r + 1)
    k = np.arange(r + 1)

    def f(t):
        return np.sum(a * np.cos(k * omega * t) + b * np.sin(k * omega * t))

    t0 = 0.37
    exact = np.sum(-a * k * omega * np.sin(k * omega * t0) + b * k * omega * np.cos(k * omega * t0))
    shifts, coefs = shift_rule(omega, r)
    assert len(shifts) == 2 * r
    assert sum(c * f(t0 + s) for s, c in zip(shifts, coefs, strict=True)) == pytest.approx(
        exact, abs=1e-12)


def test_two_and_four_term_rules():
    s, c = shift_rule(1.0, 1)
    np.testing.assert_allclose(sorted(zip(s, c, strict=True)), [(-np.pi / 2, -0.5),
                                                                (np.pi / 2, 0.5)])
    s, c = shift_rule(0.5, 2)  # controlled rotations: shifts +-pi/2, +-3pi/2
    np.testing.assert_allclose(sorted(np.abs(s)), [np.pi / 2] * 2 + [3 * np.pi / 2] * 2)
    big = (np.sqrt(2) + 1) / (4 * np.sqrt(2))
    small = (np.sqrt(2) - 1) / (4 * np.sqrt(2))
    np.testing.assert_allclose(sorted(np.abs(c)), [small, small, big, big])


def test_parameter_shift_with_shots_is_unbiased():
    class Shots:
        def __init__(self):
            self.sim, self.calls = StatevectorSimulator(), 0

        def expectation_angles(self, circuit, angles, observables):
            self.calls += 1
            return self.sim.expectation_angles(circuit, angles, observables, shots=20000,
                                               seed=self.calls)

    c = Circuit(2).ry(0, theta[0]).cnot(0, 1).rx(1, theta[1]).crx(0, 1, theta[2])
    w = np.array([0.4, -1.1, 0.8])
    exact = AdjointGradient().jacobian(c, Z(1), w).weights[0, 0]
    est = ParameterShiftGradient(Shots()).jacobian(c, Z(1), w).weights[0, 0]
    # each term has |coef| <= 0.5 (two-term) or 0.3 (four-term), <Z> in [-1, 1]
    assert np.all(np.abs(est - exact) < 5 * np.sqrt(2 * 0.25 / 20000) * 2)


def test_spsa_mean_approaches_true_gradient():
    rng = np.random.default_rng(3)
    c = random_circuit(3, 20, rng, symbolic=True, gates=("RX", "RY", "RZ", "CNOT", "CRY"))
    w = rng.normal(size=c.n_weights)
    exact = AdjointGradient().jacobian(c, Z(0), w).weights[0, 0]
    n = 4000
    spsa = SPSAGradient(c=1e-3, gamma=0.0, n_samples=n, seed=7)
    res = spsa.jacobian(c, Z(0), w)
    est = res.weights[0, 0]
    # per-sample estimate of component i = g_i + sum_{j != i} g_j D_j / D_i (+ O(c^2))
    sigma = np.sqrt(np.sum(exact**2) - exact**2) / np.sqrt(n)
    assert np.all(np.abs(est - exact) < 5 * sigma + 1e-5)
    assert res.evaluations == 1 + 2 * n
    single = SPSAGradient(seed=1).jacobian(c, Z(0), w)
    assert single.evaluations == 3


def test_spsa_gain_sequences():
    s = SPSAGradientEstimator(c=0.2, gamma=0.101, a=0.5, big_a=10, alpha=0.602)
    assert s.perturbation_size(0) == pytest.approx(0.2)
    assert s.perturbation_size(9) == pytest.approx(0.2 / 10**0.101)
    assert s.learning_rate(0) == pytest.approx(0.5 / 11**0.602)
    c = Circuit(1).ry(0, theta[0])
    s.jacobian(c, Z(0), [0.1])
    s.jacobian(c, Z(0), [0.1])
    assert s.k == 2


def test_spsa_estimate_of_a_black_box_function():
    target = np.array([1.0, -2.0, 0.5])
    spsa = SPSAGradient(c=1e-3, gamma=0.0, n_samples=20000, seed=0)
    g = spsa.estimate(lambda p: float(np.sum((p - target) ** 2)), np.zeros(3))
    np.testing.assert_allclose(g, -2 * target, atol=0.15)


def test_factory_and_errors():
    assert isinstance(get_gradient_method("parameter_shift"), ParameterShiftGradient)
    assert isinstance(get_gradient_method("finite_difference", method="forward"),
                      FiniteDifferenceGradient)
    with pytest.raises(ConfigError, match="unknown gradient method 'backprop'"):
        get_gradient_method("backprop")
    with pytest.raises(NotSupportedError, match="state-vector"):
        AdjointGradient(object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="wrt"):
        AdjointGradient().jacobian(Circuit(1).rx(0, theta[0]), Z(0), [0.1], wrt=("biases",))
    with pytest.raises(ValidationError, match="method"):
        FiniteDifferenceGradient(method="backward")
    with pytest.raises(ValidationError, match="n_samples"):
        SPSAGradient(n_samples=0)


def test_adjoint_on_large_single_state_matches_parameter_shift():
    # 16 qubits, one sample: the amplitude-parallel adjoint kernels, including the parallel
    # contractions of the product-state prefix
    from q_store.demo import hardware_efficient_circuit

    n = 16
    c = hardware_efficient_circuit(n, 2)
    rng = np.random.default_rng(8)
    w, xs = rng.normal(size=c.n_weights), rng.normal(size=n)
    obs = (Z(0), X(3) @ Z(n - 1))
    adj = AdjointGradient().jacobian(c, obs, w, xs, wrt=("weights", "inputs"))
    ps = ParameterShiftGradient().jacobian(c, obs, w, xs, wrt=("weights", "inputs"))
    np.testing.assert_allclose(adj.weights, ps.weights, atol=1e-10)
    np.testing.assert_allclose(adj.inputs, ps.inputs, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_kept_state_kernel_equals_recomputing_kernel(seed):
    # K <= 2 or a cotangent: the kernel that keeps forward states; K = 3: the one that undoes
    from q_store.sim import normalize_state
    from q_store.sim.adjoint import adjoint_angles

    rng = np.random.default_rng(50 + seed)
    n = 3
    c = random_circuit(n, 30, rng, symbolic=True)
    w = rng.normal(size=(4, c.n_weights))
    sim = StatevectorSimulator()
    init = None if seed % 2 else normalize_state(rng.normal(size=(4, 8)) + 1j * rng.normal(
        size=(4, 8)))
    three = adjoint_angles(sim, c, OBS, w, initial_state=init)
    two = adjoint_angles(sim, c, OBS[:2], w, initial_state=init)
    np.testing.assert_allclose(two.values, three.values[:, :2], atol=1e-12)
    np.testing.assert_allclose(two.d_angles, three.d_angles[:, :2], atol=1e-12)
    cot = rng.normal(size=(4, 3))
    vjp = adjoint_angles(sim, c, OBS, w, cotangent=cot, initial_state=init)
    np.testing.assert_allclose(vjp.d_angles, np.einsum("bk,bkp->bp", cot, three.d_angles),
                               atol=1e-12)
    ps = ParameterShiftGradient().jacobian(c, OBS[:2], w)
    if init is None:
        adj = AdjointGradient(sim).jacobian(c, OBS[:2], w)
        np.testing.assert_allclose(adj.weights, ps.weights, atol=1e-10)


def test_initial_states_reach_every_method():
    from q_store.sim import normalize_state

    rng = np.random.default_rng(17)
    c = random_circuit(3, 20, rng, symbolic=True, gates=("RX", "RY", "CNOT", "CRZ", "RZZ"))
    w = rng.normal(size=c.n_weights)
    init = normalize_state(rng.normal(size=(5, 8)) + 1j * rng.normal(size=(5, 8)))
    adj = AdjointGradient().jacobian(c, OBS, w, initial_state=init)
    for method, tol in ((ParameterShiftGradient(), 1e-10), (FiniteDifferenceGradient(), 1e-7)):
        other = method.jacobian(c, OBS, w, initial_state=init)
        np.testing.assert_allclose(other.values, adj.values, atol=1e-12)
        np.testing.assert_allclose(other.weights, adj.weights, atol=tol)
    plain = AdjointGradient().jacobian(c, OBS, w)
    assert not np.allclose(plain.values, adj.values[:1])  # the states were really used
