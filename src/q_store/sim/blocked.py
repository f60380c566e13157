"""One large state as row tiles: cache-blocked segments of gates, vectorised over amplitudes.

Why: the earlier cache-blocked kernels kept a chunk in cache for a whole segment of gates, but
applied each gate with interleaved complex scalar code (~1.2 ns per amplitude per gate at 24
qubits, compute-bound at 4x the memory-bandwidth floor).

How: a *segment* is a run of consecutive blocks that touch at most ``R`` index bits. Its state
is cut into chunks of ``2**(R + L)`` amplitudes: ``R`` "row" bits (those the segment touches,
topped up with untouched ones), ``L`` "inner" bits that the segment does not touch (the lowest
such bits: with bits 0..L-1 untouched a row is a contiguous run of the state) and the remaining
"chunk" bits that number the chunks. A chunk is gathered into the tile layout of
:mod:`q_store.sim.tiles` (real and imaginary ``(2**R, 2**L)`` arrays): a gate is then a
row operation repeated over the ``2**L`` inner amplitudes, exactly the batch-inner kernels with
the inner bits as the "batch". CNOT/SWAP permute rows, CZ flips signs, dense gates vectorise
over the inner dimension; the chunk stays in cache for every gate of the segment and goes back
to the state (scattered) once. Complex64 states use float32 tiles (twice the SIMD width).

The adjoint sweep runs the same segments backwards on phi and lam, adding each parametrised
block's transition matrix per inner lane and chunk group; the partial sums are added in a fixed
order (``MAX_GROUPS`` groups, fixed by ``n``), so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from q_store.sim.kernels import (
    K_A,
    K_B,
    K_CMASK,
    K_HASPAR,
    K_KIND,
    K_NPOS,
    K_PREFIX,
    K_S0,
    K_S1,
    K_S2,
    _block_matrix,
    _param_contrib,
    _prefix_vectors,
)
from q_store.sim.prefix import MAX_GROUPS, block_bits, prefix_gradients, product_state
from q_store.sim.tiles import apply_block, classify, transition

__all__ = ["INNER_BITS", "ROW_BITS", "adjoint_blocked", "forward_blocked", "plan_tiles",
           "tile_bits"]

_CACHE = True
ROW_BITS = 9  # rows of a tile: a segment touches at most this many index bits
INNER_BITS = 5  # inner run of a tile: 32 amplitudes (2 KiB tiles of 2**14 complex128 in all)
WIDE_ROW_BITS = 11  # forward from WIDE_FROM qubits: fewer segments, so fewer passes
WIDE_FROM = 18


def tile_bits(n: int, itemsize: int, adjoint: bool = False) -> tuple[int, int]:
    """Row and inner bits of the tiles for a state of ``n`` qubits of ``itemsize`` bytes.

    Measured on the spec workload, one thread (``benchmarks/bench_tiles.py``, results in
    ``benchmarks/results/tiles.md``): the in-place kernels keep one tile, so a float32 tile
    takes 64 inner amplitudes (the bytes of 32 in float64; adjoint 1.18-1.20x at 20 and 24
    qubits); the forward pass from 18 qubits on gains from segments of 11 bits (fewer passes
    over the state; complex64 1.12-1.13x, complex128 0.98-1.13x) more than it loses to a tile
    that fills L2; the adjoint sweep holds two tiles and keeps 9 row bits."""
    rbits = WIDE_ROW_BITS if n >= WIDE_FROM and not adjoint else ROW_BITS
    ibits = INNER_BITS + (1 if itemsize <= 8 else 0)
    return rbits, max(0, min(ibits, n - rbits))


# ---------------------------------------------------------------------------------------------
# planning


@njit(cache=_CACHE)
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@njit(cache=_CACHE)
def _rank(p, mask):
    """Position of bit p among the set bits of ``mask`` (counted from the lowest)."""
    return _popcount(mask & ((1 << p) - 1))


@njit(cache=_CACHE)
def plan_tiles(blk, work, n, rbits, ibits):
    """Greedy split of the blocks ``work`` into segments touching at most ``rbits`` bits.

    Returns ``starts`` (segment s is ``work[starts[s]:starts[s+1]]``), per segment the masks
    of its row bits and inner bits (``rows``, ``inner``; the chunk bits are the rest), and
    ``lblk``: ``blk`` with bit positions as row-index positions of their segment."""
    nw = work.shape[0]
    starts = np.empty(nw + 1, dtype=np.int64)
    rows = np.zeros(max(1, nw), dtype=np.int64)
    inner = np.zeros(max(1, nw), dtype=np.int64)
    nseg = 0
    touched = 0
    for j in range(nw):
        bits = block_bits(blk, work[j])
        if j > 0 and _popcount(touched | bits) <= rbits:
            touched |= bits
            continue
        if j > 0:
            rows[nseg] = touched
            nseg += 1
        starts[nseg] = j
        touched = bits
    if nw > 0:
        rows[nseg] = touched
        nseg += 1
    starts[nseg] = nw
    full = (1 << n) - 1
    lblk = blk.copy()
    for s in range(nseg):
        t_mask = rows[s]
        u_mask = 0  # inner: the lowest untouched bits
        p = 0
        while _popcount(u_mask) < ibits:
            if (t_mask >> p) & 1 == 0:
                u_mask |= 1 << p
            p += 1
        r_mask = t_mask  # rows: touched bits, topped up with the lowest others
        p = 0
        while _popcount(r_mask) < rbits:
            if ((r_mask | u_mask) >> p) & 1 == 0:
                r_mask |= 1 << p
            p += 1
        rows[s] = r_mask & full
        inner[s] = u_mask
        for j in range(starts[s], starts[s + 1]):
            t = work[j]
            kind = blk[t, K_KIND]
            lblk[t, K_A] = _rank(blk[t, K_A], r_mask)
            if kind == 1:
                lblk[t, K_B] = _rank(blk[t, K_B], r_mask)
            elif kind == 2:
                lblk[t, K_S0] = _rank(blk[t, K_S0], r_mask)
                lblk[t, K_S1] = _rank(blk[t, K_S1], r_mask)
                if blk[t, K_NPOS] == 3:
                    lblk[t, K_S2] = _rank(blk[t, K_S2], r_mask)
                cmask = 0
                for q in range(n):
                    if (blk[t, K_CMASK] >> q) & 1:
                        cmask |= 1 << _rank(q, r_mask)
                lblk[t, K_CMASK] = cmask
    return starts[: nseg + 1], rows[:nseg], inner[:nseg], lblk


@njit(cache=_CACHE)
def _deposit_table(mask, count):
    """``out[k]``: the bits of k placed at the set bits of ``mask`` (lowest first)."""
    out = np.zeros(count, dtype=np.int64)
    for k in range(count):
        v = 0
        j = 0
        m = mask
        while m:
            low = m & -m
            if (k >> j) & 1:
                v |= low
            m ^= low
            j += 1
        out[k] = v
    return out


@njit(cache=_CACHE)
def _matrices(blk, mem, par, mats1, mats2, b, dagger, cplx):
    """Block classes and every block's matrix for matrix row ``b`` (conjugate transposed with
    ``dagger``), as complex numbers of the tiles' precision."""
    shared, cls, smats = classify(blk, mem, par, mats1, mats2, b)
    m = np.zeros((4, 4), dtype=np.complex128)
    for t in range(blk.shape[0]):
        if shared[t] == 0:
            _block_matrix(blk, t, mem, par, mats1, mats2, mats1, mats2, b, smats[t], -1, 0)
            shared[t] = 1
        if dagger:
            m[:, :] = smats[t]
            for r in range(4):
                for c in range(4):
                    smats[t, r, c] = np.conj(m[c, r])
    out = np.empty(smats.shape, dtype=cplx.dtype)
    for t in range(smats.shape[0]):
        for r in range(4):
            for c in range(4):
                out[t, r, c] = smats[t, r, c]
    return shared, cls, out


# ---------------------------------------------------------------------------------------------
# moving chunks


_RUN_MAX = 16  # contiguous row runs up to this length are copied run by run


@njit(cache=_CACHE)
def _gather(psi, ar, ai, base, roff, uoff):
    """Chunk ``base`` of ``psi`` into the tile, in the order that reads ``psi`` in the longest
    contiguous runs: along the inner amplitudes when bit 0 is an inner bit; else along the
    ``low`` rows below the lowest inner bit (contiguous in ``psi``), run by run for short runs
    (a tile column written a short run at a time stays in L1), whole columns for long ones."""
    nr, nu = ar.shape
    low = uoff[1] if nu > 1 else nr
    if low == 1:
        for r in range(nr):
            o = base + roff[r]
            for u in range(nu):
                v = psi[o + uoff[u]]
                ar[r, u] = v.real
                ai[r, u] = v.imag
    elif low <= _RUN_MAX:
        for r0 in range(0, nr, low):
            ob = base + roff[r0]
            for u in range(nu):
                o = ob + uoff[u]
                for k in range(low):
                    v = psi[o + k]
                    ar[r0 + k, u] = v.real
                    ai[r0 + k, u] = v.imag
    else:
        for u in range(nu):
            o = base + uoff[u]
            for r in range(nr):
                v = psi[o + roff[r]]
                ar[r, u] = v.real
                ai[r, u] = v.imag


@njit(cache=_CACHE)
def _scatter(psi, ar, ai, rows, base, roff, uoff):
    """The tile back into chunk ``base`` of ``psi`` (logical row r is tile row ``rows[r]``),
    in :func:`_gather`'s order. (Kept apart from :func:`_gather`: one kernel with a direction
    flag in the inner loop measured 3-8 % slower at 20 qubits.)"""
    nr, nu = ar.shape
    low = uoff[1] if nu > 1 else nr
    if low == 1:
        for r in range(nr):
            o = base + roff[r]
            j = rows[r]
            for u in range(nu):
                psi[o + uoff[u]] = complex(ar[j, u], ai[j, u])
    elif low <= _RUN_MAX:
        for r0 in range(0, nr, low):
            ob = base + roff[r0]
            for u in range(nu):
                o = ob + uoff[u]
                for k in range(low):
                    j = rows[r0 + k]
                    psi[o + k] = complex(ar[j, u], ai[j, u])
    else:
        for u in range(nu):
            o = base + uoff[u]
            for r in range(nr):
                j = rows[r]
                psi[o + roff[r]] = complex(ar[j, u], ai[j, u])


# ---------------------------------------------------------------------------------------------
# forward


@njit(cache=_CACHE)
def _bit_products(offsets, n, vecs):
    """The product state's factor for each offset of a deposit table: ``out[k] = prod_p
    vecs[n-1-p, bit p of offsets[k]]`` over the bits p the table ranges over (wire w sits at
    bit n-1-w)."""
    mask = 0
    for k in range(offsets.shape[0]):
        mask |= offsets[k]
    out = np.ones(offsets.shape[0], dtype=np.complex128)
    for k in range(offsets.shape[0]):
        v = 1.0 + 0j
        for p in range(n):
            if (mask >> p) & 1:
                v *= vecs[n - 1 - p, (offsets[k] >> p) & 1]
        out[k] = v
    return out


@njit(cache=_CACHE)
def _fill_product(ar, ai, c, rvals, ur, ui):
    """The tile of a product state: amplitude ``c * rvals[r] * (ur + i ui)[u]`` (chunk, row
    and inner bits are disjoint, so the product-state amplitude factors into the three)."""
    for r in range(ar.shape[0]):
        v = c * rvals[r]
        vr, vi = v.real, v.imag
        xr, xi = ar[r], ai[r]
        for u in range(ar.shape[1]):
            xr[u] = vr * ur[u] - vi * ui[u]
            xi[u] = vr * ui[u] + vi * ur[u]


@njit(cache=_CACHE)
def _forward_chunks(psi, lblk, work, j0, j1, cls, shared, smats, roff, uoff, coff, c0, c1,
                    real, cvals, rvals, uvals):
    """Segment ``work[j0:j1]`` on chunks c0 .. c1. With product-state factors (``cvals`` not
    empty) each chunk's tile is computed from them instead of read from ``psi`` (the first
    segment after the prefix: saves writing the product state and reading it back)."""
    nr, nu = roff.shape[0], uoff.shape[0]
    ar = np.empty((nr, nu), dtype=real.dtype)
    ai = np.empty((nr, nu), dtype=real.dtype)
    mr = np.zeros((16, 1), dtype=real.dtype)
    mi = np.zeros((16, 1), dtype=real.dtype)
    rows = np.empty(nr, dtype=np.int64)
    ur = np.empty(uvals.shape[0])
    ui = np.empty(uvals.shape[0])
    for u in range(uvals.shape[0]):
        ur[u], ui[u] = uvals[u].real, uvals[u].imag
    for c in range(c0, c1):
        if cvals.shape[0] > 0:
            _fill_product(ar, ai, cvals[c], rvals, ur, ui)
        else:
            _gather(psi, ar, ai, coff[c], roff, uoff)
        for i in range(nr):
            rows[i] = i
        for j in range(j0, j1):
            apply_block(ar, ai, rows, lblk, work[j], cls, shared, smats, mr, mi)
        _scatter(psi, ar, ai, rows, coff[c], roff, uoff)


@njit(cache=_CACHE, parallel=True)
def _forward_parallel(psi, lblk, work, j0, j1, cls, shared, smats, roff, uoff, coff, parts,
                      real, cvals, rvals, uvals):
    nc = coff.shape[0]
    for g in prange(parts):
        _forward_chunks(psi, lblk, work, j0, j1, cls, shared, smats, roff, uoff, coff,
                        nc * g // parts, nc * (g + 1) // parts, real, cvals, rvals, uvals)


@njit(cache=_CACHE)
def _work_blocks(blk, use_prefix):
    if use_prefix:
        return np.flatnonzero(blk[:, K_PREFIX] == 0)
    return np.arange(blk.shape[0])


@njit(cache=_CACHE)
def _segment_tables(n, rmask, umask, rbits, ibits):
    cmask = ((1 << n) - 1) & ~rmask & ~umask
    return (_deposit_table(rmask, 1 << rbits), _deposit_table(umask, 1 << ibits),
            _deposit_table(cmask, 1 << (n - rbits - ibits)))


@njit(cache=_CACHE)
def forward_blocked(psi, n, blk, pref, use_prefix, mem, par, mats1, mats2, b, threads, rbits,
                    ibits, real, cplx):
    """Apply the tape (matrix row ``b``) to one state ``psi`` (complex128 or complex64; the
    tiles have the precision of the empty arrays ``real`` and ``cplx``), segment by segment;
    with ``use_prefix`` ``psi`` is overwritten by the product-state prefix first (computed
    tile by tile inside the first segment).
    ``threads``: the number of threads the chunks are split over (1: no parallel region).
    Needs ``n >= rbits + ibits``."""
    vecs = np.empty((n, 2), dtype=np.complex128)
    if use_prefix:
        m = np.zeros((4, 4), dtype=np.complex128)
        _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, mats1, mats2, b, m, -1, 0, vecs)
    work = _work_blocks(blk, use_prefix)
    shared, cls, smats = _matrices(blk, mem, par, mats1, mats2, b, False, cplx)
    starts, rmasks, umasks, lblk = plan_tiles(blk, work, n, rbits, ibits)
    if use_prefix and rmasks.shape[0] == 0:
        product_state(psi, vecs, n, threads)
    none = np.empty(0, dtype=np.complex128)
    for s in range(rmasks.shape[0]):
        roff, uoff, coff = _segment_tables(n, rmasks[s], umasks[s], rbits, ibits)
        cvals, rvals, uvals = none, none, none
        if use_prefix and s == 0:
            cvals = _bit_products(coff, n, vecs)
            rvals = _bit_products(roff, n, vecs)
            uvals = _bit_products(uoff, n, vecs)
        if threads > 1:
            _forward_parallel(psi, lblk, work, starts[s], starts[s + 1], cls, shared, smats,
                              roff, uoff, coff, min(threads, coff.shape[0]), real, cvals,
                              rvals, uvals)
        else:
            _forward_chunks(psi, lblk, work, starts[s], starts[s + 1], cls, shared, smats,
                            roff, uoff, coff, 0, coff.shape[0], real, cvals, rvals, uvals)


# ---------------------------------------------------------------------------------------------
# adjoint


@njit(cache=_CACHE)
def _adjoint_chunks(phi, lam, lblk, work, j0, j1, cls, shared, sdag, roff, uoff, coff, c0, c1,
                    trs, tis, real):
    """Undo blocks ``work[j1-1] .. work[j0]`` on chunks c0 .. c1 of phi and lam, adding each
    parametrised block's transition matrix per inner lane to ``trs/tis[j - j0]``."""
    nr, nu = roff.shape[0], uoff.shape[0]
    fr = np.empty((nr, nu), dtype=real.dtype)
    fi = np.empty((nr, nu), dtype=real.dtype)
    lr = np.empty((nr, nu), dtype=real.dtype)
    li = np.empty((nr, nu), dtype=real.dtype)
    mr = np.zeros((16, 1), dtype=real.dtype)
    mi = np.zeros((16, 1), dtype=real.dtype)
    frows = np.empty(nr, dtype=np.int64)
    lrows = np.empty(nr, dtype=np.int64)
    for c in range(c0, c1):
        _gather(phi, fr, fi, coff[c], roff, uoff)
        _gather(lam, lr, li, coff[c], roff, uoff)
        for i in range(nr):
            frows[i] = i
            lrows[i] = i
        for j in range(j1 - 1, j0 - 1, -1):
            t = work[j]
            apply_block(fr, fi, frows, lblk, t, cls, shared, sdag, mr, mi)
            if lblk[t, K_HASPAR]:
                transition(lr, li, lrows, fr, fi, frows, lblk, t, trs[j - j0], tis[j - j0])
            apply_block(lr, li, lrows, lblk, t, cls, shared, sdag, mr, mi)
        _scatter(phi, fr, fi, frows, coff[c], roff, uoff)
        _scatter(lam, lr, li, lrows, coff[c], roff, uoff)


@njit(cache=_CACHE, parallel=True)
def _adjoint_parallel(phi, lam, lblk, work, j0, j1, cls, shared, sdag, roff, uoff, coff, trs,
                      tis, real):
    nc = coff.shape[0]
    groups = trs.shape[0]
    for g in prange(groups):
        _adjoint_chunks(phi, lam, lblk, work, j0, j1, cls, shared, sdag, roff, uoff, coff,
                        nc * g // groups, nc * (g + 1) // groups, trs[g], tis[g], real)


@njit(cache=_CACHE)
def adjoint_blocked(phi, lam, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                    b, grad, threads, rbits, ibits, real, cplx):
    """Adjoint sweep of one large state (``phi`` final state, ``lam`` = O phi; both
    overwritten), segment by segment backwards; ``grad[col]`` receives d<f>/d angle."""
    work = _work_blocks(blk, use_prefix)
    shared, cls, sdag = _matrices(blk, mem, par, mats1, mats2, b, True, cplx)
    starts, rmasks, umasks, lblk = plan_tiles(blk, work, n, rbits, ibits)
    nu = 1 << ibits
    tm = np.zeros((4, 4), dtype=np.complex128)
    for s in range(rmasks.shape[0] - 1, -1, -1):
        j0, j1 = starts[s], starts[s + 1]
        roff, uoff, coff = _segment_tables(n, rmasks[s], umasks[s], rbits, ibits)
        groups = min(coff.shape[0], MAX_GROUPS)
        trs = np.zeros((groups, j1 - j0, 16, nu))
        tis = np.zeros((groups, j1 - j0, 16, nu))
        if threads > 1:
            _adjoint_parallel(phi, lam, lblk, work, j0, j1, cls, shared, sdag, roff, uoff, coff,
                              trs, tis, real)
        else:
            nc = coff.shape[0]
            for g in range(groups):
                _adjoint_chunks(phi, lam, lblk, work, j0, j1, cls, shared, sdag, roff, uoff,
                                coff, nc * g // groups, nc * (g + 1) // groups, trs[g], tis[g],
                                real)
        for j in range(j1 - 1, j0 - 1, -1):
            t = work[j]
            if blk[t, K_HASPAR] == 0:
                continue
            for r in range(4):
                for c in range(4):
                    accr = 0.0
                    acci = 0.0
                    for g in range(groups):
                        for u in range(nu):
                            accr += trs[g, j - j0, r * 4 + c, u]
                            acci += tis[g, j - j0, r * 4 + c, u]
                    tm[r, c] = complex(accr, acci)
            _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)
    if use_prefix:
        m = np.zeros((4, 4), dtype=np.complex128)
        vecs = np.empty((n, 2), dtype=np.complex128)
        _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0, vecs)
        prefix_gradients(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs,
                                grad, threads)
