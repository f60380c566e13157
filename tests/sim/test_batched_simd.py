"""The batch-inner kernels (q_store.sim.simd) against the dense reference, Qiskit and the
per-sample kernels, on random circuits over the whole gate table."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import GATES, X, Y, Z, theta
from q_store.circuit.ir import Circuit
from q_store.circuit.observables import PauliSum, Projector
from q_store.execution.local import answer
from q_store.execution.requests import AdjointRequest
from q_store.sim import StatevectorSimulator, normalize_state
from q_store.sim import statevector as sv
from q_store.sim.adjoint import adjoint_angles
from q_store.sim.measure import expectations, observable_terms
from tests.interop import QISKIT_GATES, qiskit_state
from tests.reference import PAULI, random_circuit, reference_angle_gradient, reference_evolve

TOL = 1e-12


@pytest.fixture
def sim():
    return StatevectorSimulator(threads=1)


@pytest.fixture
def per_sample(monkeypatch):
    """Switch the batch-inner kernels off: the per-sample kernels answer instead."""
    def off():
        monkeypatch.setattr(sv, "SIMD_MIN_BATCH", 10**9)
    return off


def _weights(c: Circuit, rows: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-np.pi, np.pi, size=(rows, c.n_weights))


def _assert_rows_equal_reference(sim: StatevectorSimulator, c: Circuit, w: np.ndarray) -> None:
    """Every sample of the batched state equals the reference evolved with its own weights."""
    got = sim.state(c, w)
    for b in range(len(w)):
        np.testing.assert_allclose(got[b], reference_evolve(c, w[b]), atol=TOL, rtol=0)


@pytest.mark.parametrize("n", [3, 5])
def test_per_sample_matrices_equal_reference(sim, n):
    # symbolic angles: every parametrised gate has a matrix per sample
    rng = np.random.default_rng(10 + n)
    c = random_circuit(n, 40, rng, symbolic=True)
    w = _weights(c, 7, rng)
    _assert_rows_equal_reference(sim, c, w)


def test_shared_matrices_and_initial_states_equal_reference(sim):
    # constant angles, a batch of initial states: every block matrix is shared by the batch
    rng = np.random.default_rng(3)
    n = 5
    c = random_circuit(n, 50, rng)
    init = normalize_state(rng.normal(size=(9, 2**n)) + 1j * rng.normal(size=(9, 2**n)))
    got = sim.state(c, initial_state=init)
    for b in range(len(init)):
        np.testing.assert_allclose(got[b], reference_evolve(c, initial=init[b]), atol=TOL,
                                   rtol=0)


def test_permutation_and_sign_gates_equal_reference(sim):
    # CNOT, Toffoli and SWAP only move rows, CZ flips signs: long runs of them between dense gates
    rng = np.random.default_rng(4)
    n = 4
    c = random_circuit(n, 60, rng, gates=("CNOT", "Toffoli", "SWAP", "CZ", "H", "RY"),
                       symbolic=True)
    w = _weights(c, 5, rng)
    _assert_rows_equal_reference(sim, c, w)


def test_batches_equal_qiskit(sim):
    rng = np.random.default_rng(5)
    n = 5
    c = random_circuit(n, 40, rng, gates=QISKIT_GATES, symbolic=True)
    w = _weights(c, 4, rng)
    got = sim.state(c, w)
    for b in range(len(w)):
        np.testing.assert_allclose(got[b], qiskit_state(c.bind(w[b])), atol=TOL, rtol=0)


def test_values_read_off_the_tiles_equal_the_states(sim):
    rng = np.random.default_rng(6)
    n = 4
    c = random_circuit(n, 30, rng, symbolic=True)
    w = _weights(c, 6, rng)
    obs = (Z(0), X(1) @ Y(3), 0.5 * (X(0) @ X(2)) - 1.5 * (Z(1) @ Y(2)),
           Projector("10", (0, 1)))
    assert isinstance(obs[2], PauliSum)
    states = sim.state(c, w)
    np.testing.assert_allclose(sim.expectation(c, obs, w), expectations(states, obs, n),
                               atol=TOL, rtol=0)


def test_observable_terms_are_built_once_per_observable_tuple(sim):
    # cached by value: equal observables built anew get the same arrays, values unchanged
    def build():
        return (Z(0), 0.5 * (X(0) @ X(2)) - 1.5 * (Z(1) @ Y(2)), Projector("10", (0, 1)))

    terms = observable_terms(build(), 3)
    assert all(a is b for a, b in zip(observable_terms(build(), 3), terms, strict=True))
    assert observable_terms(build(), 4)[1] is not terms[1]
    rng = np.random.default_rng(7)
    c = random_circuit(3, 20, rng, symbolic=True)
    w = _weights(c, 4, rng)
    np.testing.assert_allclose(sim.expectation(c, build(), w),
                               expectations(sim.state(c, w), build(), 3), atol=TOL, rtol=0)


@pytest.mark.parametrize("gate", [g for g, s in GATES.items() if s.num_params])
def test_adjoint_jacobian_of_every_parametrised_gate_equals_reference(sim, gate):
    rng = np.random.default_rng(sum(map(ord, gate)))
    n = 4
    c = random_circuit(n, 14, rng, gates=(gate, gate, "CNOT", "H", "CZ", "RY", "SWAP"),
                       symbolic=True)
    w = _weights(c, 5, rng)
    obs = (Z(0) @ X(2), Y(1))
    res = adjoint_angles(sim, c, obs, w)
    for b in range(len(w)):
        for k, paulis in enumerate(({0: "Z", 2: "X"}, {1: "Y"})):
            value, grad = reference_angle_gradient(c, {q: PAULI[p] for q, p in paulis.items()},
                                                   w[b])
            np.testing.assert_allclose(res.values[b, k], value, atol=TOL, rtol=0)
            np.testing.assert_allclose(res.d_angles[b, k], grad, atol=TOL, rtol=0)


def test_adjoint_with_inputs_and_prefix_equals_per_sample_kernels(sim, per_sample):
    # RX(x) embedding then weights: sample-dependent product-state prefix, shared later blocks
    from q_store.demo import hardware_efficient_circuit

    rng = np.random.default_rng(8)
    n = 6
    c = hardware_efficient_circuit(n, 2)
    x = rng.uniform(0, np.pi, size=(11, n))
    w = rng.uniform(-np.pi, np.pi, size=c.n_weights)
    obs = (Z(0), X(1) @ X(4))
    cot = rng.normal(size=(11, 2))
    new = adjoint_angles(sim, c, obs, w, x)
    new_vjp = adjoint_angles(sim, c, obs, w, x, cotangent=cot)
    new_state = sim.state(c, w, x)
    per_sample()
    old = adjoint_angles(sim, c, obs, w, x)
    old_vjp = adjoint_angles(sim, c, obs, w, x, cotangent=cot)
    np.testing.assert_allclose(new_state, sim.state(c, w, x), atol=TOL, rtol=0)
    np.testing.assert_allclose(new.values, old.values, atol=TOL, rtol=0)
    np.testing.assert_allclose(new.d_angles, old.d_angles, atol=TOL, rtol=0)
    np.testing.assert_allclose(new_vjp.d_angles, old_vjp.d_angles, atol=TOL, rtol=0)
    np.testing.assert_allclose(new_vjp.d_angles, np.einsum("bk,bkp->bp", cot, old.d_angles),
                               atol=TOL, rtol=0)


def test_repeated_weight_rows_are_shared_and_give_the_same_gradients(sim):
    # weights repeated per initial state (as make_problem does) bind one matrix per gate
    from q_store.circuit.params import parameter_map_for, resolve_batch

    rng = np.random.default_rng(12)
    n = 5
    c = random_circuit(n, 40, rng, symbolic=True)
    w = rng.uniform(-np.pi, np.pi, size=c.n_weights)
    init = normalize_state(rng.normal(size=(9, 2**n)) + 1j * rng.normal(size=(9, 2**n)))
    tiled = np.tile(w, (9, 1))
    pm = parameter_map_for(c)
    assert not pm.batched_columns(resolve_batch(c, tiled)).any()
    varied = tiled.copy()
    varied[4, 0] += 0.1
    assert pm.batched_columns(resolve_batch(c, varied)).sum() > 0
    obs = (Z(0), X(1) @ Y(3))
    cot = rng.normal(size=(9, 2))
    rep = adjoint_angles(sim, c, obs, tiled, cotangent=cot, initial_state=init)
    one = adjoint_angles(sim, c, obs, w, cotangent=cot, initial_state=init)
    np.testing.assert_allclose(rep.values, one.values, atol=TOL, rtol=0)
    np.testing.assert_allclose(rep.d_angles, one.d_angles, atol=TOL, rtol=0)
    for b in (0, 8):
        v0, g0 = reference_angle_gradient(c, {0: PAULI["Z"]}, w, initial=init[b])
        v1, g1 = reference_angle_gradient(c, {1: PAULI["X"], 3: PAULI["Y"]}, w, initial=init[b])
        np.testing.assert_allclose(rep.values[b], [v0, v1], atol=TOL, rtol=0)
        np.testing.assert_allclose(rep.d_angles[b], cot[b, 0] * g0 + cot[b, 1] * g1,
                                   atol=TOL, rtol=0)


def test_cotangent_function_runs_once_between_the_sweeps(sim):
    # the trainer's path: values, then the cotangent from them, then one backward sweep
    rng = np.random.default_rng(9)
    n = 4
    b = Circuit.builder(n)
    for q in range(n):
        b.ry(q, theta[q])
    for q in range(n - 1):
        b.cnot(q, q + 1)
    c = b.build()
    w = _weights(c, 5, rng)
    obs = (Z(0), Z(3), X(1))
    calls = []

    def cotangent(values):
        calls.append(values.copy())
        return np.sin(values)

    from q_store.circuit.params import resolve_batch

    req = AdjointRequest(c, obs, resolve_batch(c, w, None), None, cotangent)
    res = answer(req, sim)
    expected = sim.expectation(c, obs, w)
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], expected, atol=TOL, rtol=0)
    ref = adjoint_angles(sim, c, obs, w, cotangent=np.sin(expected))
    np.testing.assert_allclose(res.d_angles, ref.d_angles, atol=TOL, rtol=0)


def test_complex64_batches_store_single_precision(sim):
    rng = np.random.default_rng(10)
    n = 5
    c = random_circuit(n, 30, rng, symbolic=True)
    w = _weights(c, 6, rng)
    s64 = StatevectorSimulator(threads=1, dtype=np.complex64)
    got = s64.state(c, w)
    assert got.dtype == np.complex64
    np.testing.assert_allclose(got, sim.state(c, w), atol=1e-6, rtol=0)


@pytest.mark.parametrize("symbolic", [False, True])
def test_parallel_tiles_equal_serial_tiles(sim, monkeypatch, symbolic):
    # the prange paths (one-pass adjoint, forward, backward) against the serial tile loop
    from q_store.demo import hardware_efficient_circuit
    from q_store.sim import adjoint as adj

    rng = np.random.default_rng(21)
    n, size = 5, 45
    c = random_circuit(n, 40, rng, symbolic=True) if symbolic else hardware_efficient_circuit(n, 2)
    # symbolic: a matrix per sample (weights per sample); else a prefix from the inputs
    w = rng.uniform(-np.pi, np.pi, size=(size, c.n_weights) if symbolic else c.n_weights)
    x = None if symbolic else rng.uniform(0, np.pi, size=(size, c.n_inputs))
    obs = (Z(0), X(1) @ X(3))
    cot = rng.normal(size=(size, 2))

    def run():
        return (adjoint_angles(sim, c, obs, w, x), adjoint_angles(sim, c, obs, w, x, cotangent=cot),
                adjoint_angles(sim, c, obs, w, x, cotangent=lambda v: cot * v),
                sim.expectation(c, list(obs), w, x))

    serial = run()
    monkeypatch.setattr(adj, "simd_parallel", lambda *a: True)
    monkeypatch.setattr(sv, "simd_parallel", lambda *a: True)
    monkeypatch.setattr(adj.numba, "get_num_threads", lambda: 4)
    par = run()
    for a, b in zip(serial[:3], par[:3], strict=True):
        np.testing.assert_allclose(a.values, b.values, atol=TOL, rtol=0)
        np.testing.assert_allclose(a.d_angles, b.d_angles, atol=TOL, rtol=0)
    np.testing.assert_allclose(serial[3], par[3], atol=TOL, rtol=0)
    np.testing.assert_allclose(serial[1].d_angles, np.einsum("bk,bkp->bp", cot,
                                                             serial[0].d_angles),
                               atol=TOL, rtol=0)


def test_a_sample_gradient_does_not_depend_on_its_batch(sim):
    # a lone sample shares its input-dependent runs, a batch does not: equal bit for bit
    from q_store.circuit import x as xs

    c = (Circuit(3).rx(0, xs[0]).rx(1, xs[1]).ry(0, theta[0]).ry(1, theta[1]).cnot(0, 1)
         .crz(1, 2, theta[2]).rx(2, 2 * theta[3] + xs[1]).ry(2, theta[0]).cnot(2, 0))
    obs = (Z(0), X(1) @ Z(2), 0.5 * Y(2) + 0.25 * Z(0) @ Z(1))
    w = np.array([0.3, -0.8, 1.1, 0.4])
    x = np.random.default_rng(0).normal(size=(5, 2))
    for cot in (None, lambda v: 2.0 * v - 0.3):
        full = adjoint_angles(sim, c, obs, w, x, cotangent=cot)
        for lo, hi in ((0, 1), (1, 3), (4, 5)):
            part = adjoint_angles(sim, c, obs, w, x[lo:hi], cotangent=cot)
            np.testing.assert_array_equal(part.values, full.values[lo:hi])
            np.testing.assert_array_equal(part.d_angles, full.d_angles[lo:hi])
