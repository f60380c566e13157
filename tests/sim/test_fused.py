"""Large states through the row-tile kernels (q_store.sim.blocked), where segments of gates are
fused into one pass over each chunk: the adjoint on every gate kind, Qiskit on random circuits,
single precision."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import GATES, X, Y, Z, theta
from q_store.circuit.ir import Circuit
from q_store.errors import ValidationError
from q_store.sim import StatevectorSimulator, normalize_state
from q_store.sim.adjoint import adjoint_angles
from tests.interop import QISKIT_GATES, qiskit_state
from tests.reference import PAULI, random_circuit, reference_angle_gradient, reference_evolve

TOL = 1e-12
N = 14  # the smallest state that takes the row-tile path


@pytest.mark.parametrize("gate", [g for g, s in GATES.items() if s.num_params])
def test_adjoint_of_every_parametrised_gate_equals_reference(pinned, gate):
    rng = np.random.default_rng(sum(map(ord, gate)) + 1)
    c = random_circuit(N, 12, rng, gates=(gate, gate, gate, "CNOT", "Toffoli", "SWAP", "CZ",
                                          "H", "T"))
    init = normalize_state(rng.normal(size=2**N) + 1j * rng.normal(size=2**N))
    obs = Z(1) @ X(N - 1) @ Y(N // 2)
    paulis = {1: PAULI["Z"], N - 1: PAULI["X"], N // 2: PAULI["Y"]}
    for initial in (None, init):
        value, grad = reference_angle_gradient(c, paulis, initial=initial)
        res = adjoint_angles(StatevectorSimulator(threads=2), c, (obs,), initial_state=initial)
        np.testing.assert_allclose(res.values[0, 0], value, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.d_angles[0, 0], grad, atol=TOL, rtol=0)


@pytest.mark.parametrize("n", [14, 16])
def test_random_circuits_equal_qiskit(pinned, n):
    rng = np.random.default_rng(200 + n)
    c = random_circuit(n, 80, rng, gates=QISKIT_GATES)
    for threads in (1, 2):
        got = StatevectorSimulator(threads=threads).state(c)
        np.testing.assert_allclose(got, qiskit_state(c), atol=TOL, rtol=0)


@pytest.mark.parametrize("n", [14, 16, 18])
def test_complex64_within_single_precision(pinned, n):
    # float32 tiles: ~1e-7 relative per pass; amplitudes of a random 2**n state ~2**(-n/2)
    rng = np.random.default_rng(300 + n)
    c = random_circuit(n, 60, rng)
    init = normalize_state(rng.normal(size=2**n) + 1j * rng.normal(size=2**n))
    s64 = StatevectorSimulator(threads=2, dtype=np.complex64)
    got = s64.state(c, initial_state=init)
    assert got.dtype == np.complex64
    ref = reference_evolve(c, initial=init)
    err = np.abs(got - ref).max()
    assert err < 1e-6 and np.abs(ref).max() > 10 * err
    b = Circuit.builder(n)  # <Z0 X1> = cos(a0) sin(a1) cos(b1)...: gradients of order 1
    for q in range(n):
        b.ry(q, theta[q])
        b.rz(q, theta[n + q])
    for q in range(1, n - 1):
        b.cnot(q, q + 1)
    c2 = b.build()
    w = rng.uniform(-np.pi, np.pi, c2.n_weights)
    res = adjoint_angles(s64, c2, (Z(0) @ X(1),), w)
    value, grad = reference_angle_gradient(c2, {0: PAULI["Z"], 1: PAULI["X"]}, w)
    np.testing.assert_allclose(res.values[0, 0], value, atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.d_angles[0, 0], grad, atol=1e-5, rtol=0)
    assert np.abs(grad).max() > 0.1  # the tolerance is small against what it checks


def test_dtype_is_validated():
    with pytest.raises(ValidationError, match="complex128 or complex64"):
        StatevectorSimulator(dtype=np.float64)
    with pytest.raises(ValidationError, match="complex128 or complex64"):
        StatevectorSimulator(dtype="not a dtype")
    assert StatevectorSimulator(dtype="complex64").dtype == np.complex64
