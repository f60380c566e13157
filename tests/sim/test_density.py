"""The noisy density-matrix simulator against analytic values, the exact simulator and Aer."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import GATES, Circuit, PauliString, Projector, X, Y, Z, theta
from q_store.errors import StateError, ValidationError
from q_store.gradients.finite_diff import FiniteDifferenceGradient
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import (
    KrausChannel,
    NoiseModel,
    ReadoutError,
    amplitude_damping,
    depolarizing,
    phase_damping,
)
from tests.interop import QISKIT_GATES, to_qiskit
from tests.reference import random_circuit

TOL = 1e-12
AER_TOL = 1e-10
# Aer's density-matrix method has no crx / cry; its noise then would follow a decomposition
AER_GATES = tuple(g for g in QISKIT_GATES if g not in ("CRX", "CRY", "CRZ"))

CHANNELS = [depolarizing(0.0), depolarizing(0.03), depolarizing(4 / 3), depolarizing(0.07, 2),
            depolarizing(16 / 15, 2), amplitude_damping(0.0), amplitude_damping(0.3),
            amplitude_damping(1.0), phase_damping(0.25), phase_damping(1.0)]


def _big_endian(rho: np.ndarray, n: int) -> np.ndarray:
    """Qiskit's little-endian density matrix in our wire order."""
    rev = (*range(n - 1, -1, -1), *range(2 * n - 1, n - 1, -1))
    return rho.reshape((2,) * 2 * n).transpose(rev).reshape(2**n, 2**n)


def _random_rho(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


def _noise() -> NoiseModel:
    one = [g for g in QISKIT_GATES if GATES[g].num_wires == 1]
    return (NoiseModel()
            .add_gate_error(depolarizing(0.02), gates=one)
            .add_gate_error(depolarizing(0.05, 2))
            .add_gate_error(amplitude_damping(0.04))
            .add_gate_error(phase_damping(0.03), gates=one))


# -- channels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("ch", CHANNELS, ids=repr)
def test_channels_are_cptp(ch):
    d = ch.dim
    np.testing.assert_allclose(sum(k.conj().T @ k for k in ch.operators), np.eye(d), atol=TOL)
    choi = ch.choi()
    assert np.linalg.eigvalsh(choi).min() >= -TOL
    # trace preservation: tracing out the output of the Choi matrix leaves the identity
    np.testing.assert_allclose(np.einsum("iaja->ij", choi.reshape(d, d, d, d)), np.eye(d),
                               atol=TOL)


@pytest.mark.parametrize(("n", "p"), [(1, 0.1), (1, 4 / 3), (2, 0.2), (2, 16 / 15)])
def test_depolarizing_matches_aer(n, p):
    from qiskit.quantum_info import DensityMatrix, SuperOp
    from qiskit_aer.noise import depolarizing_error

    rng = np.random.default_rng(5)
    rho = _random_rho(2**n, rng)
    theirs = DensityMatrix(_big_endian(rho, n)).evolve(
        SuperOp(depolarizing_error(p, n).to_quantumchannel())).data
    np.testing.assert_allclose(depolarizing(p, n).apply(rho), _big_endian(theirs, n), atol=TOL)
    # the stated convention: with probability p replace by the maximally mixed state
    np.testing.assert_allclose(depolarizing(p, n).apply(rho),
                               (1 - p) * rho + p * np.eye(2**n) / 2**n, atol=TOL)


def test_amplitude_damping_on_one_analytic():
    g = 0.3
    rho = amplitude_damping(g).apply(np.diag([0.0, 1.0]))
    np.testing.assert_allclose(rho, np.diag([g, 1 - g]), atol=TOL)
    sim = DensityMatrixSimulator(NoiseModel().add_gate_error(amplitude_damping(g), gates="X"))
    np.testing.assert_allclose(sim.probabilities(Circuit(1).x(0)), [g, 1 - g], atol=TOL)
    # X, damp, X, damp: P(1) = g (1 - g)
    np.testing.assert_allclose(sim.probabilities(Circuit(1).x(0).x(0)),
                               [1 - g * (1 - g), g * (1 - g)], atol=TOL)


def test_dephasing_kills_coherences_by_analytic_factor():
    lam = 0.36
    plus = np.full((2, 2), 0.5)
    np.testing.assert_allclose(phase_damping(lam).apply(plus),
                               [[0.5, 0.5 * np.sqrt(1 - lam)], [0.5 * np.sqrt(1 - lam), 0.5]],
                               atol=TOL)
    # only on qubit 1, after every H: coherences of qubit 0 untouched
    sim = DensityMatrixSimulator(NoiseModel().add_gate_error(phase_damping(lam), qubits=1))
    rho = sim.density_matrix(Circuit(2).h(0).h(1)).reshape(2, 2, 2, 2)
    np.testing.assert_allclose(np.einsum("abcb->ac", rho), plus, atol=TOL)
    np.testing.assert_allclose(np.einsum("abad->bd", rho)[0, 1], 0.5 * np.sqrt(1 - lam), atol=TOL)


def test_ionq_aria_preset_fidelities():
    from qiskit.quantum_info import Kraus, average_gate_fidelity

    nm = NoiseModel.ionq_aria()
    (c1, _), = nm.channels_after("RX", (0,))
    (c2, _), = nm.channels_after("CNOT", (0, 1))
    assert average_gate_fidelity(Kraus(list(c1.operators))) == pytest.approx(0.9995, abs=1e-12)
    assert average_gate_fidelity(Kraus(list(c2.operators))) == pytest.approx(0.996, abs=1e-12)
    assert nm.readout(3) == ReadoutError(1 - 0.9961, 1 - 0.9961)


# -- simulator ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_noiseless_equals_pure_state(n):
    rng = np.random.default_rng(10 + n)
    sv, dm = StatevectorSimulator(), DensityMatrixSimulator()
    for _ in range(4):
        c = random_circuit(n, 30, rng)
        psi = sv.state(c)
        np.testing.assert_allclose(dm.density_matrix(c), np.outer(psi, psi.conj()), atol=TOL)


def test_batched_weights_inputs_and_initial_state():
    c = Circuit(2).ry(0, theta[0]).cnot(0, 1).rx(1, theta[1])
    w = np.random.default_rng(0).normal(size=(3, 2))
    sv, dm = StatevectorSimulator(), DensityMatrixSimulator()
    obs = [Z(0), X(1), 0.5 * Y(1) + Z(0) @ Z(1)]
    np.testing.assert_allclose(dm.expectation(c, obs, w), sv.expectation(c, obs, w), atol=TOL)
    assert dm.density_matrix(c, w).shape == (3, 4, 4)
    assert dm.expectation(c, Z(0), w[0]).shape == ()
    fixed = Circuit(1, n_weights=1).h(0)  # a weight batch the gates do not use
    assert dm.probabilities(fixed, [[1.0], [2.0]]).shape == (2, 2)
    states = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0].T
    np.testing.assert_allclose(dm.expectation(c, obs, w[0], initial_state=states),
                               sv.expectation(c, obs, w[0], initial_state=states), atol=TOL)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_random_noisy_circuits_match_aer(n):
    from qiskit_aer import AerSimulator

    from q_store.backends.qiskit import to_aer_noise_model

    aer = AerSimulator(method="density_matrix", noise_model=to_aer_noise_model(_noise(), n),
                       fusion_enable=False)
    dm = DensityMatrixSimulator(_noise())
    rng = np.random.default_rng(3 * n)
    for _ in range(3):
        c = random_circuit(n, 25, rng, gates=AER_GATES)
        qc = to_qiskit(c)
        qc.save_density_matrix()
        theirs = np.asarray(aer.run(qc).result().data()["density_matrix"])
        np.testing.assert_allclose(dm.density_matrix(c), _big_endian(theirs, n), atol=AER_TOL)


def test_expectation_is_trace_without_readout():
    rng = np.random.default_rng(4)
    c = random_circuit(3, 20, rng, gates=QISKIT_GATES)
    dm = DensityMatrixSimulator(_noise())
    rho = dm.density_matrix(c)
    obs = [X(0) @ Y(2), 0.3 * Z(1) - 0.7 * X(1) @ Z(2) + 0.2 * PauliString(()),
           Projector("10", (2, 0)), Z(0) @ Z(1)]
    want = [np.trace(rho @ o.matrix(3)).real for o in obs]
    np.testing.assert_allclose(dm.expectation(c, obs), want, atol=TOL)


def test_readout_error_applies_confusion_matrix():
    a, b = 0.4, 1.1
    e0, e1 = ReadoutError(0.02, 0.05), ReadoutError(0.1, 0.03)
    nm = NoiseModel().add_readout_error(e1).add_readout_error(e0, qubits=0)
    dm = DensityMatrixSimulator(nm)
    c = Circuit(2).ry(0, a).ry(1, b)
    p0 = np.array([np.cos(a / 2) ** 2, np.sin(a / 2) ** 2])
    p1 = np.array([np.cos(b / 2) ** 2, np.sin(b / 2) ** 2])
    q0, q1 = e0.matrix @ p0, e1.matrix @ p1
    np.testing.assert_allclose(dm.probabilities(c), np.kron(q0, q1), atol=TOL)
    np.testing.assert_allclose(dm.probabilities(c, wires=[1]), q1, atol=TOL)
    z = np.array([1.0, -1.0])
    got = dm.expectation(c, [Z(0), Z(0) @ Z(1), Projector("10", (0, 1))])
    np.testing.assert_allclose(got, [q0 @ z, (q0 @ z) * (q1 @ z), q0[1] * q1[0]], atol=TOL)
    # X measured in its eigenbasis, misread like any other measurement
    plus = (1 + np.sin(b)) / 2
    want_x = plus * (1 - 2 * e1.p1_given_0) + (1 - plus) * (2 * e1.p0_given_1 - 1)
    np.testing.assert_allclose(dm.expectation(c, X(1)), want_x, atol=TOL)


def test_sampling_reproducible_and_unbiased():
    dm = DensityMatrixSimulator(NoiseModel.ionq_aria())
    c = Circuit(3).h(0).cnot(0, 1).ry(2, 0.7).cnot(1, 2)
    shots = 20000
    s1, s2 = dm.sample(c, shots, seed=11), dm.sample(c, shots, seed=11)
    np.testing.assert_array_equal(s1, s2)
    idx = s1 @ np.array([4, 2, 1])
    freq = np.bincount(idx, minlength=8) / shots
    p = dm.probabilities(c)
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-12)
    assert sum(dm.counts(c, 100, seed=1).values()) == 100
    # shot estimates of expectations: within 5 standard errors
    obs = (Z(0) @ Z(1), X(0), Projector("11", (0, 1)))
    angles = np.zeros((1, 1))
    circ = Circuit(2).h(0).cnot(0, 1).rz(1, 0.0)
    exact = dm.expectation_angles(circ, angles, obs)
    est = dm.expectation_angles(circ, angles, obs, shots=shots, seed=5)
    np.testing.assert_array_equal(est, dm.expectation_angles(circ, angles, obs, shots=shots,
                                                             seed=5))
    assert np.all(np.abs(est - exact) <= 5 * np.sqrt(1 / shots))


def test_parameter_shift_exact_under_noise():
    rng = np.random.default_rng(8)
    c = random_circuit(3, 14, rng, gates=QISKIT_GATES, symbolic=True)
    nm = _noise().add_readout_error(ReadoutError(0.03, 0.01))
    dm = DensityMatrixSimulator(nm)
    obs = [Z(0), X(1) @ Y(2), Z(0) @ Z(2) + 0.5 * X(0)]
    w = rng.normal(size=(2, c.n_weights))
    ps = ParameterShiftGradient(executor=dm).jacobian(c, obs, w)
    fd = FiniteDifferenceGradient(executor=dm).jacobian(c, obs, w)
    np.testing.assert_allclose(ps.values, dm.expectation(c, obs, w), atol=TOL)
    np.testing.assert_allclose(ps.weights, fd.weights, atol=1e-8)
    assert np.abs(ps.weights).max() > 1e-2


def test_validation_messages():
    with pytest.raises(ValidationError, match="trace preserving"):
        KrausChannel((np.eye(2), np.eye(2)))
    with pytest.raises(ValidationError, match=r"\[0, 1.33333\]"):
        depolarizing(1.5)
    with pytest.raises(ValidationError, match="p0_given_1"):
        ReadoutError(-0.1, 0.0)
    with pytest.raises(ValidationError, match="different number of wires"):
        NoiseModel().add_gate_error(depolarizing(0.1, 2), gates=["RX"])
    with pytest.raises(ValidationError, match="unknown gate"):
        NoiseModel().add_gate_error(depolarizing(0.1), gates=["NOPE"])
    with pytest.raises(ValidationError, match="NoiseModel"):
        DensityMatrixSimulator("ionq")  # type: ignore[arg-type]
    dm = DensityMatrixSimulator()
    c = Circuit(2).rx(0, theta[0])
    with pytest.raises(ValidationError, match="density-matrix limit"):
        dm.probabilities(Circuit(13).h(0))
    with pytest.raises(ValidationError, match=r"shape \(R, 1\)"):
        dm.expectation_angles(c, np.zeros((2, 3)), (Z(0),))
    with pytest.raises(ValidationError, match="shots"):
        dm.expectation_angles(c, np.zeros((1, 1)), (Z(0),), shots=0)
    with pytest.raises(ValidationError, match="wire 5"):
        dm.expectation(c, Z(5), [0.1])
    with pytest.raises(StateError, match="initial_state"):
        dm.expectation(c, Z(0), [[0.1], [0.2]], initial_state=np.eye(4)[:3])
