"""The state-vector simulator against analytic values, a dense reference, Qiskit and Cirq."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, PauliString, PauliSum, Projector, X, Y, Z, theta, x
from q_store.sim import StatevectorSimulator, normalize_state
from tests.interop import QISKIT_GATES, cirq_state, qiskit_state
from tests.reference import random_circuit, reference_state, reference_unitary

TOL = 1e-10


@pytest.fixture(scope="module")
def sim() -> StatevectorSimulator:
    return StatevectorSimulator()


def test_bell_state(sim):
    s = sim.state(Circuit(2).h(0).cnot(0, 1))
    np.testing.assert_allclose(s, [2**-0.5, 0, 0, 2**-0.5], atol=TOL)


def test_rotation_expectations_analytic(sim):
    a = np.linspace(-3, 3, 7)
    c = Circuit(1).rx(0, x[0])
    np.testing.assert_allclose(sim.expectation(c, Z(0), inputs=a[:, None]), np.cos(a), atol=TOL)
    np.testing.assert_allclose(sim.expectation(c, Y(0), inputs=a[:, None]), -np.sin(a), atol=TOL)
    c = Circuit(1).ry(0, x[0])
    np.testing.assert_allclose(sim.expectation(c, X(0), inputs=a[:, None]), np.sin(a), atol=TOL)


def test_wire_order_is_big_endian(sim):
    # X on wire 0 of 3 qubits flips the most significant bit: |100> = index 4
    s = sim.state(Circuit(3).x(0))
    assert abs(s[4]) == pytest.approx(1.0)
    p = sim.probabilities(Circuit(3).x(2))
    assert p[1] == pytest.approx(1.0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_random_circuits_match_dense_reference(sim, n):
    rng = np.random.default_rng(100 + n)
    for _ in range(8):
        c = random_circuit(n, 30, rng)
        u = reference_unitary(c)
        np.testing.assert_allclose(sim.state(c), u[:, 0], atol=TOL)
        np.testing.assert_allclose(sim.unitary(c), u, atol=TOL)


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_random_circuits_match_qiskit_and_cirq(sim, n):
    rng = np.random.default_rng(7 * n)
    for _ in range(5):
        c = random_circuit(n, 40, rng, gates=QISKIT_GATES)
        ours = sim.state(c)
        np.testing.assert_allclose(ours, qiskit_state(c), atol=TOL)
        np.testing.assert_allclose(ours, cirq_state(c), atol=TOL)


def test_large_single_state_path_matches_qiskit(sim):
    # 15 qubits: one state split across threads (the amplitude-parallel kernels)
    rng = np.random.default_rng(5)
    c = random_circuit(15, 60, rng, gates=QISKIT_GATES)
    np.testing.assert_allclose(sim.state(c), qiskit_state(c), atol=TOL)


def test_24_qubit_ghz_state(sim):
    n = 24
    b = Circuit.builder(n).h(0)
    for q in range(n - 1):
        b.cnot(q, q + 1)
    p = sim.probabilities(b.build(), wires=(0, n - 1))
    np.testing.assert_allclose(p, [0.5, 0, 0, 0.5], atol=TOL)


def test_expectations_match_dense_matrices(sim):
    rng = np.random.default_rng(11)
    c = random_circuit(3, 25, rng)
    psi = reference_state(c)
    observables = [Z(0), X(1) @ Y(2), 0.5 * Z(0) - 2.0 * (X(0) @ X(2)) + Y(1),
                   Projector("10", wires=(2, 0)), PauliString((), 1.5)]
    vals = sim.expectation(c, observables)
    for o, v in zip(observables, vals, strict=True):
        assert v == pytest.approx(np.vdot(psi, o.matrix(3) @ psi).real, abs=TOL)
    assert sim.expectation(c, "Z0 Z1") == pytest.approx(
        np.vdot(psi, (Z(0) @ Z(1)).matrix(3) @ psi).real, abs=TOL)
    assert isinstance(0.5 * Z(0) + Z(1), PauliSum)


def test_batches_of_inputs_and_weights_equal_single_calls(sim):
    c = (Circuit(3).rx(0, x[0]).ry(1, theta[0] * x[1]).cnot(0, 2).rz(2, theta[1])
         .crx(2, 0, theta[0] + x[0]))
    rng = np.random.default_rng(2)
    xs, ws = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    both = sim.expectation(c, [Z(0), X(2)], ws, xs)
    only_x = sim.expectation(c, [Z(0), X(2)], ws[0], xs)
    only_w = sim.expectation(c, [Z(0), X(2)], ws, xs[0])
    for b in range(6):
        np.testing.assert_allclose(both[b], sim.expectation(c, [Z(0), X(2)], ws[b], xs[b]),
                                   atol=TOL)
        np.testing.assert_allclose(only_x[b], sim.expectation(c, [Z(0), X(2)], ws[0], xs[b]),
                                   atol=TOL)
        np.testing.assert_allclose(only_w[b], sim.expectation(c, [Z(0), X(2)], ws[b], xs[0]),
                                   atol=TOL)
    assert both.shape == (6, 2)
    assert sim.expectation(c, Z(0), ws[0], xs[0]).shape == ()


def test_initial_state_batch(sim):
    rng = np.random.default_rng(4)
    states = normalize_state(rng.normal(size=(3, 8)) + 1j * rng.normal(size=(3, 8)))
    c = random_circuit(3, 20, rng)
    u = reference_unitary(c)
    out = sim.state(c, initial_state=states)
    np.testing.assert_allclose(out, states @ u.T, atol=TOL)


def test_marginal_probabilities(sim):
    rng = np.random.default_rng(9)
    c = random_circuit(4, 30, rng)
    p = np.abs(reference_state(c)) ** 2
    full = p.reshape(2, 2, 2, 2)
    expected = full.sum(axis=(0, 2)).T.reshape(-1)  # wires (3, 1)
    np.testing.assert_allclose(sim.probabilities(c, wires=(3, 1)), expected, atol=TOL)


def test_sampling_is_reproducible_and_unbiased(sim):
    c = Circuit(2).ry(0, 1.1).cnot(0, 1).rx(1, 0.4)
    a = sim.sample(c, 2000, seed=123)
    b = sim.sample(c, 2000, seed=123)
    assert a.shape == (2000, 2)
    np.testing.assert_array_equal(a, b)
    p = sim.probabilities(c)
    shots = 20000
    counts = sim.counts(c, shots, seed=1)
    assert sum(counts.values()) == shots
    for key, n in counts.items():
        pk = p[int(key, 2)]
        assert abs(n / shots - pk) < 5 * np.sqrt(pk * (1 - pk) / shots) + 1e-12


def test_sampled_expectations_within_standard_errors(sim):
    rng = np.random.default_rng(21)
    c = random_circuit(3, 25, rng, gates=QISKIT_GATES)
    observables = [Z(0), X(1) @ Y(2), 0.5 * Z(0) + X(2), Projector("01", wires=(0, 1))]
    exact = sim.expectation(c, observables)
    shots = 40000
    est = sim.sample_expectation(c, observables, shots, seed=5)
    # standard error bounded by the spectral range of each observable
    for e, v, span in zip(exact, est, [1, 1, 1.5, 0.5], strict=True):
        assert abs(e - v) < 5 * span / np.sqrt(shots)
    again = sim.sample_expectation(c, observables, shots, seed=5)
    np.testing.assert_array_equal(est, again)


def test_normalize_state_errors():
    from q_store.errors import StateError

    with pytest.raises(StateError, match="zero norm"):
        normalize_state(np.zeros(4))
    with pytest.raises(StateError, match="finite"):
        normalize_state([1, np.nan, 0, 0])
    with pytest.raises(StateError, match="power of two"):
        normalize_state(np.ones(3))
    np.testing.assert_allclose(np.linalg.norm(normalize_state([3, 4])), 1.0)


@pytest.mark.parametrize("from_zero", [True, False])
def test_unitary_strategy_equals_gate_by_gate(from_zero):
    # inputs enter in the middle; everything after the last input-dependent gate is shared
    rng = np.random.default_rng(12)
    head = random_circuit(3, 12, rng)
    b = Circuit.builder(3).extend(head.operations)
    b.rx(0, x[0]).ry(1, theta[0] * x[1]).cnot(2, 0)
    tail = random_circuit(3, 30, rng, symbolic=True)
    c = b.extend(Circuit(3, tail.operations).operations).build()
    w = rng.normal(size=c.n_weights)
    xs = rng.normal(size=(40, 2))
    init = None
    if not from_zero:
        init = normalize_state(rng.normal(size=(40, 8)) + 1j * rng.normal(size=(40, 8)))
    gates = StatevectorSimulator(strategy="gates").state(c, w, xs, initial_state=init)
    unitary = StatevectorSimulator(strategy="unitary").state(c, w, xs, initial_state=init)
    auto = StatevectorSimulator().state(c, w, xs, initial_state=init)
    np.testing.assert_allclose(unitary, gates, atol=TOL)
    np.testing.assert_allclose(auto, gates, atol=TOL)
    # weights batched too: nothing is shared, the unitary strategy falls back to gates
    ws = rng.normal(size=(40, c.n_weights))
    np.testing.assert_allclose(StatevectorSimulator(strategy="unitary").state(c, ws, xs),
                               StatevectorSimulator(strategy="gates").state(c, ws, xs), atol=TOL)


def test_unknown_strategy():
    from q_store.errors import ValidationError

    with pytest.raises(ValidationError, match="strategy"):
        StatevectorSimulator(strategy="fast")


def test_expectations_and_probabilities_match_qiskit_and_cirq(sim):
    import cirq
    from qiskit.quantum_info import SparsePauliOp, Statevector

    from tests.interop import to_cirq, to_qiskit

    rng = np.random.default_rng(33)
    n = 4
    for _ in range(4):
        c = random_circuit(n, 35, rng, gates=QISKIT_GATES)
        obs = 0.7 * (X(0) @ Z(2)) - 1.3 * (Y(1) @ Y(3)) + Z(3)
        ours = sim.expectation(c, obs)
        # Qiskit labels are little-endian: character 0 is the highest qubit
        terms = []
        for t in obs.terms:
            label = ["I"] * n
            for w, p in t.paulis:
                label[n - 1 - w] = p
            terms.append(("".join(label), t.coeff))
        sv = Statevector(to_qiskit(c))
        assert ours == pytest.approx(sv.expectation_value(SparsePauliOp.from_list(terms)).real,
                                     abs=TOL)
        q_probs = sv.probabilities(qargs=[3, 1])  # little-endian: qargs[0] is the lowest bit
        np.testing.assert_allclose(sim.probabilities(c, wires=(1, 3)), q_probs, atol=TOL)
        circ, qubits = to_cirq(c)
        psi = cirq.Simulator(dtype=np.complex128).simulate(circ, qubit_order=qubits)
        paulis = {"X": cirq.X, "Y": cirq.Y, "Z": cirq.Z}
        cirq_obs = sum(t.coeff * cirq.PauliString({qubits[w]: paulis[p] for w, p in t.paulis})
                       for t in obs.terms)
        value = cirq_obs.expectation_from_state_vector(
            psi.final_state_vector, {q: i for i, q in enumerate(qubits)})
        assert ours == pytest.approx(value.real, abs=TOL)


def test_thread_count_is_applied_and_validated():
    import numba

    from q_store.errors import ValidationError

    rng = np.random.default_rng(3)
    c = random_circuit(6, 40, rng)
    one = StatevectorSimulator(threads=1)
    assert one.state(c).shape == (64,)
    assert numba.get_num_threads() == 1
    default = StatevectorSimulator()
    assert default.threads == numba.config.NUMBA_NUM_THREADS  # the cap
    np.testing.assert_allclose(one.state(c), default.state(c), atol=TOL)
    # the call's count: the cap, or fewer when other processes keep cores busy
    assert 1 <= numba.get_num_threads() <= numba.config.NUMBA_NUM_THREADS
    with pytest.raises(ValidationError, match="threads"):
        StatevectorSimulator(threads=numba.config.NUMBA_NUM_THREADS + 1)
