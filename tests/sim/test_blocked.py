"""The row-tile kernels for one large state against the tensor reference, at 14-16 qubits.

Every call is pinned to its thread cap (the free-core chooser would give one thread on a loaded
machine, and the two-thread kernels must be exercised whatever the load)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from q_store.circuit import Circuit, X, Y, Z
from q_store.sim import StatevectorSimulator, normalize_state
from q_store.sim import blocked as BL
from q_store.sim.adjoint import adjoint_angles
from q_store.sim.prefix import block_bits
from q_store.sim.program import Program
from q_store.sim.statevector import tile_types
from tests.reference import PAULI, random_circuit, reference_angle_gradient, reference_evolve

TOL = 1e-12
THREADS = [1, 2] if numba.config.NUMBA_NUM_THREADS >= 2 else [1]


def _initial(n: int, rng: np.random.Generator) -> np.ndarray:
    return normalize_state(rng.normal(size=2**n) + 1j * rng.normal(size=2**n))


@pytest.mark.parametrize("n", [14, 15, 16, BL.WIDE_FROM])
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
def test_forward_kernel_with_other_tile_shapes_equals_reference(n):
    # other row / inner splits: more segments, inner runs that are not bits 0..L-1
    rng = np.random.default_rng(1500 + n)
    c = random_circuit(n, 60, rng)
    init = _initial(n, rng)
    ref = reference_evolve(c, initial=init)
    _, tape = StatevectorSimulator(threads=1)._prepare(c, None, None)
    real, cplx = tile_types(np.complex128)
    shapes = {(6, 3), (BL.ROW_BITS, BL.INNER_BITS), (11, 3), BL.tile_bits(n, 8),
              BL.tile_bits(n, 16), BL.tile_bits(n, 8, adjoint=True)}
    for rbits, ibits in sorted(shapes):
        for threads in THREADS:
            psi = init.copy()
            BL.forward_blocked(psi, n, tape.blk, tape.pref, False, tape.mem, tape.par,
                               tape.mats1, tape.mats2, 0, threads, rbits, ibits, real, cplx)
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
def test_tile_plan_is_valid(n):
    rng = np.random.default_rng(n)
    blk = Program(random_circuit(n, 120, rng)).blk
    work = np.arange(len(blk))
    shapes = {(6, 3), (BL.ROW_BITS, BL.INNER_BITS), BL.tile_bits(n, 8), BL.tile_bits(n, 16),
              BL.tile_bits(n, 8, adjoint=True)}
    for rbits, ibits in sorted(shapes):
        starts, rows, inner, lblk = BL.plan_tiles(blk, work, n, rbits, ibits)
        assert starts[0] == 0 and starts[-1] == len(work) and np.all(np.diff(starts) > 0)
        for s, (r, u) in enumerate(zip(rows, inner, strict=True)):
            r, u = int(r), int(u)
            assert bin(r).count("1") == rbits and bin(u).count("1") == ibits
            assert r & u == 0 and (r | u) >> n == 0
            for t in work[starts[s]:starts[s + 1]]:
                assert int(block_bits(blk, t)) & ~r == 0  # the gates touch row bits only
                assert int(block_bits(lblk, t)) >> rbits == 0  # local positions fit
            if s + 1 < len(rows):  # segments are maximal: the next block would not fit
                nxt = int(block_bits(blk, work[starts[s + 1]]))
                touched = 0
                for t in work[starts[s]:starts[s + 1]]:
                    touched |= int(block_bits(blk, t))
                assert bin(touched | nxt).count("1") > rbits


@pytest.mark.parametrize("umask", [0b11111, 0b1111100, 0b111110000000, 0b1111100000000000])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_chunk_gather_and_scatter_in_every_copy_order(umask, dtype):
    """Inner bits from bit 0 (rows outer), above 2 or 7 low row bits (run by run) and above 11
    (whole columns): each tile element is the amplitude its offsets name, and a permuted tile
    goes back to the permuted positions."""
    n, rbits, ibits = 16, 9, 5
    rng = np.random.default_rng(umask)
    psi = (rng.normal(size=2**n) + 1j * rng.normal(size=2**n)).astype(dtype)
    free = [p for p in range(n) if not (umask >> p) & 1]
    rmask = sum(1 << p for p in free[:rbits])
    roff, uoff, coff = BL._segment_tables(n, rmask, umask, rbits, ibits)
    real = np.empty(0, dtype=np.float64 if dtype == np.complex128 else np.float32)
    ar = np.empty((2**rbits, 2**ibits), dtype=real.dtype)
    ai = np.empty_like(ar)
    rows = rng.permutation(2**rbits)
    out = psi.copy()
    for base in coff[[0, len(coff) // 2, -1]]:
        BL._gather(psi, ar, ai, base, roff, uoff)
        idx = base + roff[:, None] + uoff[None, :]
        assert np.array_equal(ar + 1j * ai, psi[idx])
        BL._scatter(out, ar, ai, rows, base, roff, uoff)
        assert np.array_equal(out[idx], psi[idx][rows])


@pytest.mark.parametrize("n", [14, 15, BL.WIDE_FROM, 24, 30])
def test_tile_bits_fit_the_state_and_keep_the_tile_bytes(n):
    for itemsize in (8, 16):
        for adjoint in (False, True):
            rbits, ibits = BL.tile_bits(n, itemsize, adjoint)
            assert rbits + ibits <= n and ibits >= 4
            assert rbits == (BL.WIDE_ROW_BITS if n >= BL.WIDE_FROM and not adjoint
                             else BL.ROW_BITS)
    if n >= 16:  # room for the full inner run: float32 tiles take twice the amplitudes
        assert BL.tile_bits(n, 8, True)[1] == BL.tile_bits(n, 16, True)[1] + 1


def test_a_circuit_that_is_all_prefix_still_writes_the_product_state(pinned):
    # no block left after the product-state prefix: no segment to build it in
    n = 14
    rng = np.random.default_rng(7)
    b = Circuit.builder(n)
    for q in range(n):
        b.ry(q, float(rng.uniform(0, np.pi)))
        b.rz(q, float(rng.uniform(0, np.pi)))
    c = b.build()
    for threads in THREADS:
        got = StatevectorSimulator(threads=threads).state(c)
        np.testing.assert_allclose(got, reference_evolve(c), atol=TOL, rtol=0)
