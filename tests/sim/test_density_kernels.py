"""The compiled density-matrix kernels against the numpy reference evolution and Qiskit Aer, on
random circuits with every gate kind and every channel kind."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import GATES, Circuit, X, Y, Z, theta, x
from q_store.demo import hardware_efficient_circuit
from q_store.sim import density_kernels as D
from q_store.sim.density import DensityMatrixSimulator, kernel_threads, tape_for
from q_store.sim.density_measure import coeffs_to_rho, states_to_coeffs, zero_state
from q_store.sim.density_program import channel_ptm
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
from tests.sim.density_reference import evolve_angles, reference_density

TOL = 1e-12
AER_TOL = 1e-10
AER_GATES = tuple(g for g in QISKIT_GATES if g not in ("CRX", "CRY", "CRZ"))
ONE = [g for g in GATES if GATES[g].num_wires == 1]
TWO = [g for g in GATES if GATES[g].num_wires == 2]


def _random_kraus(k: int, rng: np.random.Generator, terms: int = 3) -> KrausChannel:
    """A random CPTP channel: Kraus operators from an isometry."""
    d = 2**k
    a = rng.normal(size=(terms * d, d)) + 1j * rng.normal(size=(terms * d, d))
    q, _ = np.linalg.qr(a)
    return KrausChannel(tuple(q[i * d:(i + 1) * d] for i in range(terms)), f"random{k}")


def _every_channel(rng: np.random.Generator) -> NoiseModel:
    """Every channel kind, with one-qubit channels both before and after a two-qubit channel on
    two-qubit gates (their order matters for non-unital channels) and a three-qubit channel."""
    return (NoiseModel()
            .add_gate_error(depolarizing(0.03), gates=ONE)
            .add_gate_error(amplitude_damping(0.2), gates=TWO)
            .add_gate_error(depolarizing(0.07, 2))
            .add_gate_error(_random_kraus(2, rng), gates=["CNOT", "RXX", "MS", "CRY"])
            .add_gate_error(amplitude_damping(0.04))
            .add_gate_error(phase_damping(0.3), gates=[*ONE, "CZ"])
            .add_gate_error(_random_kraus(1, rng), qubits=[0, 2])
            .add_gate_error(_random_kraus(3, rng, 2), gates="Toffoli"))


def _aer_noise() -> NoiseModel:
    return (NoiseModel()
            .add_gate_error(depolarizing(0.02), gates=[g for g in AER_GATES if g in ONE])
            .add_gate_error(depolarizing(0.05, 2))
            .add_gate_error(amplitude_damping(0.04))
            .add_gate_error(phase_damping(0.03), gates=[g for g in AER_GATES if g in ONE]))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_random_circuits_every_gate_every_channel_match_reference(n):
    rng = np.random.default_rng(40 + n)
    nm = _every_channel(rng)
    dm = DensityMatrixSimulator(nm)
    for _ in range(3):
        c = random_circuit(n, 40, rng, symbolic=True)
        w = rng.normal(size=(3, c.n_weights))
        np.testing.assert_allclose(dm.density_matrix(c, w), reference_density(c, nm, w),
                                   atol=TOL)


@pytest.mark.parametrize("n", [3, 4])
def test_random_noisy_circuits_match_aer(n):
    from qiskit_aer import AerSimulator

    from q_store.backends.qiskit import to_aer_noise_model
    from tests.sim.test_density import _big_endian

    nm = _aer_noise()
    aer = AerSimulator(method="density_matrix", noise_model=to_aer_noise_model(nm, n),
                       fusion_enable=False)
    dm = DensityMatrixSimulator(nm)
    rng = np.random.default_rng(7 * n)
    for _ in range(3):
        c = random_circuit(n, 30, rng, gates=AER_GATES)
        qc = to_qiskit(c)
        qc.save_density_matrix()
        theirs = np.asarray(aer.run(qc).result().data()["density_matrix"])
        np.testing.assert_allclose(dm.density_matrix(c), _big_endian(theirs, n), atol=AER_TOL)


def test_every_gate_and_every_channel_match_aer_through_the_backend():
    """All gates (IonQ natives and controlled rotations run in Aer as labelled unitaries, so
    the noise attaches to them) and every channel kind, random Kraus channels included, with
    readout errors: exact probabilities from Aer's density-matrix method."""
    import asyncio

    from q_store.backends.qiskit import QiskitAerBackend

    rng = np.random.default_rng(31)
    nm = _every_channel(rng).add_readout_error(ReadoutError(0.02, 0.05))
    backend = QiskitAerBackend(method="density_matrix", noise_model=nm)
    circuits = [random_circuit(n, 30, rng) for n in (2, 3, 4)]
    results = asyncio.run(backend.execute_batch(circuits))
    dm = DensityMatrixSimulator(nm)
    for c, r in zip(circuits, results, strict=True):
        np.testing.assert_allclose(r.probabilities, dm.probabilities(c), atol=AER_TOL)


def test_aria_spec_workload_matches_aer_probabilities_with_readout():
    from qiskit_aer import AerSimulator

    from q_store.backends.qiskit import to_aer_noise_model

    n = 5
    nm = NoiseModel.ionq_aria()
    c = hardware_efficient_circuit(n, 2)
    rng = np.random.default_rng(1)
    w, xs = rng.normal(size=c.n_weights), rng.uniform(-np.pi, np.pi, size=(3, n))
    aer = AerSimulator(method="density_matrix", noise_model=to_aer_noise_model(nm, n))
    ours = DensityMatrixSimulator(nm).probabilities(c, w, xs)
    for b in range(3):
        qc = to_qiskit(c.bind(w, xs[b]))
        qc.save_probabilities()
        p = np.asarray(aer.run(qc).result().data()["probabilities"])
        p = p.reshape((2,) * n).transpose(range(n - 1, -1, -1)).reshape(-1)  # our wire order
        np.testing.assert_allclose(ours[b], nm.apply_readout(p), atol=AER_TOL)


def test_batched_inputs_and_initial_states_match_reference():
    rng = np.random.default_rng(3)
    nm = _every_channel(rng)
    c = hardware_efficient_circuit(3, 2).rxx(0, 2, theta[12] * 0.5).toffoli(2, 1, 0)
    w, xs = rng.normal(size=c.n_weights), rng.normal(size=(4, 3))
    dm = DensityMatrixSimulator(nm)
    np.testing.assert_allclose(dm.density_matrix(c, w, xs), reference_density(c, nm, w, xs),
                               atol=TOL)
    psi = rng.normal(size=(4, 8)) + 1j * rng.normal(size=(4, 8))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    from q_store.circuit.params import parameter_map_for, resolve_batch

    angles = parameter_map_for(c).angles(resolve_batch(c, w, xs))
    np.testing.assert_allclose(dm.density_matrix(c, w, xs, initial_state=psi),
                               evolve_angles(c, nm, angles, psi), atol=TOL)


def test_thread_layouts_agree():
    """One sample per thread, one thread, and one state split across threads give the same
    coefficients (the split path is the one lone states of SPLIT_QUBITS qubits take)."""
    rng = np.random.default_rng(5)
    nm = _every_channel(rng)
    n = 10
    c = random_circuit(n, 25, rng, symbolic=True)
    tape = tape_for(c, nm)
    from q_store.circuit.params import parameter_map_for, resolve_batch

    angles = parameter_map_for(c).angles(resolve_batch(c, rng.normal(size=(2, c.n_weights)),
                                                        None))
    start = np.tile(zero_state(n), (2, 1))
    rows = np.arange(2)
    m = tape.bind(angles)
    serial, batch, split = start.copy(), start.copy(), start[0].copy()
    with kernel_threads(1):
        D.evolve_batch(serial, n, tape.blk, m.mptm, m.gstore, rows)
    with kernel_threads(2):
        D.evolve_batch(batch, n, tape.blk, m.mptm, m.gstore, rows)
        D.evolve_split(split, n, tape.blk, m.mptm[0], m.gstore[0], 7)
    np.testing.assert_array_equal(batch, serial)
    np.testing.assert_array_equal(split, serial[0])


def test_fusion_structure_of_the_spec_workload():
    """RX embedding + 2 layers of RY/RZ and a CNOT ring: every one-qubit run rides in a CNOT
    pass, so the tape is 2n two-qubit blocks and nothing else; bound copies share the tape."""
    n = 6
    c = hardware_efficient_circuit(n, 2)
    nm = NoiseModel.ionq_aria()
    tape = tape_for(c, nm)
    assert list(tape.blk[:, D.B_KIND]) == [D.G2] * (2 * n)
    pre = (tape.blk[:, D.B_P0E] - tape.blk[:, D.B_P0S]) + (tape.blk[:, D.B_P1E]
                                                             - tape.blk[:, D.B_P1S])
    assert pre.sum() == 2 * (5 * n)  # every gate and its channel, once
    w, xs = np.ones(c.n_weights), np.ones(n)
    assert tape_for(c.bind(w, xs), nm) is tape_for(c.bind(2 * w, xs), nm)
    nm.add_gate_error(phase_damping(0.1), gates="CNOT")  # the model changed: lowered again
    assert tape_for(c, nm) is not tape


@pytest.mark.parametrize("p", [0.0, 0.01, 4 / 3])
def test_channel_ptms_have_closed_forms(p):
    np.testing.assert_allclose(channel_ptm([(depolarizing(p), (0,))], 1),
                               np.diag([1.0, 1 - p, 1 - p, 1 - p]), atol=TOL)
    q = 16 / 15 * p * 0.75
    np.testing.assert_allclose(channel_ptm([(depolarizing(q, 2), (0, 1))], 2),
                               np.diag([1.0] + [1 - q] * 15), atol=TOL)
    g = min(p, 1.0)
    s = np.sqrt(1 - g)
    want = np.array([[1, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [g, 0, 0, 1 - g]])
    np.testing.assert_allclose(channel_ptm([(amplitude_damping(g), (0,))], 1), want, atol=TOL)
    np.testing.assert_allclose(channel_ptm([(phase_damping(g), (0,))], 1),
                               np.diag([1.0, s, s, 1.0]), atol=TOL)


def test_coefficient_conversions_round_trip():
    rng = np.random.default_rng(9)
    n = 3
    psi = rng.normal(size=(2, 8)) + 1j * rng.normal(size=(2, 8))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    cs = states_to_coeffs(psi, n)
    np.testing.assert_allclose(coeffs_to_rho(cs, n), psi[:, :, None] * psi[:, None].conj(),
                               atol=TOL)
    # c_P = <psi|P|psi> for a few words: X on wire 0 (index 1 * 16), Z Y on wires 1, 2
    xop = np.kron(X(0).matrix(1), np.eye(4))
    assert cs[0, 16] == pytest.approx((psi[0].conj() @ xop @ psi[0]).real, abs=TOL)
    zy = (Z(1) @ Y(2)).matrix(3)
    assert cs[1, 3 * 4 + 2] == pytest.approx((psi[1].conj() @ zy @ psi[1]).real, abs=TOL)
    np.testing.assert_allclose(coeffs_to_rho(zero_state(n)[None], n)[0],
                               np.diag([1.0] + [0.0] * 7), atol=TOL)


def test_measurement_from_coefficients_matches_trace_and_readout():
    rng = np.random.default_rng(11)
    nm = _every_channel(rng).add_readout_error(ReadoutError(0.02, 0.05))
    dm = DensityMatrixSimulator(nm)
    c = random_circuit(3, 25, rng)
    rho = reference_density(c, nm)[0]
    p = np.clip(np.diag(rho).real, 0, None)
    np.testing.assert_allclose(dm.probabilities(c), nm.apply_readout(p), atol=TOL)
    ideal = DensityMatrixSimulator(_every_channel(np.random.default_rng(11)))
    obs = [X(0) @ Y(2), 0.3 * Z(1) - 0.7 * X(1) @ Z(2), Z(0) @ Z(1)]
    want = [np.trace(rho @ o.matrix(3)).real for o in obs]
    np.testing.assert_allclose(ideal.expectation(c, obs), want, atol=TOL)


def test_inputs_only_circuit_and_no_noise_equal_pure_states():
    from q_store.sim import StatevectorSimulator

    c = Circuit(2).ry(0, x[0]).cnot(0, 1).rz(1, x[1]).sx(0)
    xs = np.random.default_rng(2).normal(size=(3, 2))
    psi = StatevectorSimulator().state(c, None, xs)
    np.testing.assert_allclose(DensityMatrixSimulator().density_matrix(c, None, xs),
                               psi[:, :, None] * psi[:, None].conj(), atol=TOL)
