"""The cache-blocked single-state kernels against the tensor reference, at 14-16 qubits.

Every call is pinned to its thread cap (the free-core chooser would give one thread on a loaded
machine, and the two-thread kernels must be exercised whatever the load)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from q_store.circuit import X, Y, Z
from q_store.sim import StatevectorSimulator, normalize_state
from q_store.sim import chunked as C
from q_store.sim import statevector as sv
from q_store.sim.adjoint import adjoint_angles
from q_store.sim.program import Program
from tests.reference import random_circuit, reference_angle_gradient, reference_evolve

TOL = 1e-12
THREADS = [1, 2] if numba.config.NUMBA_NUM_THREADS >= 2 else [1]
PAULI = {"X": np.array([[0, 1], [1, 0]], dtype=complex),
         "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
         "Z": np.diag([1.0, -1.0]).astype(complex)}


@pytest.fixture
def pinned(monkeypatch):
    """Calls use exactly the simulator's ``threads``, whatever the machine's load."""
    monkeypatch.setattr(sv, "threads_for", lambda cap: cap)


def _initial(n: int, rng: np.random.Generator) -> np.ndarray:
    return normalize_state(rng.normal(size=2**n) + 1j * rng.normal(size=2**n))


@pytest.mark.parametrize("n", [14, 15, 16])
def test_forward_equals_reference(pinned, n):
    rng = np.random.default_rng(1400 + n)
    c = random_circuit(n, 70, rng)
    init = _initial(n, rng)
    ref, ref_init = reference_evolve(c), reference_evolve(c, initial=init)
    for threads in THREADS:
        sim = StatevectorSimulator(threads=threads)
        np.testing.assert_allclose(sim.state(c), ref, atol=TOL, rtol=0)
        np.testing.assert_allclose(sim.state(c, initial_state=init), ref_init, atol=TOL, rtol=0)
        assert numba.get_num_threads() == threads


@pytest.mark.parametrize("n", [14, 16])
def test_forward_kernel_with_small_chunks_equals_reference(n):
    # small chunks: many segments, most of them gathered (fixed bits anywhere above bit 1)
    rng = np.random.default_rng(1500 + n)
    c = random_circuit(n, 60, rng)
    init = _initial(n, rng)
    ref = reference_evolve(c, initial=init)
    _, tape = StatevectorSimulator(threads=1)._prepare(c, None, None)
    for lbits in (8, C.chunk_bits(n)):
        for threads in THREADS:
            psi = init.copy()
            C.forward_chunked(psi, n, tape.blk, tape.pref, False, tape.mem, tape.mats1,
                              tape.mats2, 0, lbits, threads)
            np.testing.assert_allclose(psi, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize(("n", "from_zero"), [(14, True), (15, False), (16, True)])
def test_adjoint_equals_reference(pinned, n, from_zero):
    rng = np.random.default_rng(1600 + n)
    c = random_circuit(n, 50, rng)
    init = None if from_zero else _initial(n, rng)
    paulis = {1: "Z", n - 2: "X", n // 2: "Y"}
    obs = Z(1) @ X(n - 2) @ Y(n // 2)
    value, grad = reference_angle_gradient(c, {w: PAULI[p] for w, p in paulis.items()},
                                           initial=init)
    results = []
    for threads in THREADS:
        res = adjoint_angles(StatevectorSimulator(threads=threads), c, (obs,),
                             initial_state=init)
        np.testing.assert_allclose(res.values[0, 0], value, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.d_angles[0, 0], grad, atol=TOL, rtol=0)
        results.append(res.d_angles)
    # chunks and partial sums depend on n only: the thread count does not change a bit
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


def test_adjoint_of_the_product_state_prefix(pinned):
    # every wire starts with a parametrised one-qubit block: the one-pass prefix contraction
    from q_store.demo import hardware_efficient_circuit

    n = 14
    c = hardware_efficient_circuit(n, 1)
    rng = np.random.default_rng(3)
    w, xs = rng.normal(size=c.n_weights), rng.normal(size=n)
    value, grad = reference_angle_gradient(c, {0: PAULI["Z"], n - 1: PAULI["X"]}, w, xs)
    for threads in THREADS:
        res = adjoint_angles(StatevectorSimulator(threads=threads), c, (Z(0) @ X(n - 1),),
                             w, xs)
        np.testing.assert_allclose(res.values[0, 0], value, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.d_angles[0, 0], grad, atol=TOL, rtol=0)


@pytest.mark.parametrize("n", [14, 20, 24, 30])
def test_segment_plan_is_valid(n):
    rng = np.random.default_rng(n)
    blk = Program(random_circuit(n, 120, rng)).blk
    work = np.arange(len(blk))
    for lbits in sorted({8, 11, C.chunk_bits(n)}):
        starts, fixed, lblk = C.plan_segments(blk, work, n, lbits)
        assert starts[0] == 0 and starts[-1] == len(work) and np.all(np.diff(starts) > 0)
        w = n - lbits
        for s, f in enumerate(fixed):
            f = int(f)
            assert bin(f).count("1") == w and f >> n == 0
            assert f & ((1 << C.LOW_RUN_BITS) - 1) == 0
            for t in work[starts[s]:starts[s + 1]]:
                assert int(C._block_bits(blk, t)) & f == 0  # the gates avoid the fixed bits
                assert int(C._block_bits(lblk, t)) >> lbits == 0  # local positions fit
