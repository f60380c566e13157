"""Cache-blocked kernels for one large state: many gates per pass, one parallel region per pass.

Why: splitting every gate of a large state across threads opens one parallel region per gate
(48 per forward pass of the 16-qubit spec circuit). Each region ends in a barrier that waits for
the slowest thread, so a thread that shares its core with another process stalls every gate,
and each region reads and writes the whole state from memory.

How: the state is cut into ``2**w`` chunks of ``2**lbits`` amplitudes (``w = n - lbits``): the
amplitudes that agree on a set F of ``w`` "fixed" index bits. A gate that touches no bit of F
acts inside every chunk, so a *segment* (a run of consecutive blocks that leaves the same w bits
untouched) is applied chunk by chunk: every block of the segment runs on a chunk while it sits in
cache, and one parallel region (a ``prange`` over groups of chunks) covers the whole segment. F is
chosen per segment, as high as possible: with F the top bits a chunk is a contiguous slice of the
state; otherwise ("transposed" chunks) it is gathered into a buffer in runs of ``2**min(F)``
amplitudes (never shorter than a cache line). The spec circuit needs 3 segments instead of 48
gate passes at 16 qubits, 4 instead of 60 at 20.

Results do not depend on the thread count: chunks and the groups whose transition matrices are
summed are fixed by ``n`` alone, and partial sums are added in a fixed order. ``threads == 1``
runs the same code on the calling thread without opening a parallel region (and a forward pass,
whose arithmetic chunking does not change, then uses bigger chunks: :func:`forward_bits`).
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
    _adjoint_range,
    _apply_range,
    _block_matrix,
    _block_total,
    _dagger,
    _kron_into,
    _nu,
    _param_contrib,
    _prefix_vectors,
)

__all__ = ["adjoint_chunked", "chunk_bits", "forward_bits", "forward_chunked", "plan_segments"]

_CACHE = True
CHUNK_BITS = 14  # 2**14 amplitudes = 256 KiB per array: phi and lam of a chunk stay in L2
SERIAL_CHUNK_BITS = 16  # one thread, forward: 1 MiB chunks (measured best at 16-22 qubits)
MIN_CHUNKS_LOG = 3  # at least 8 chunks, so that a few threads share the work evenly
MAX_GROUPS = 64  # transition-matrix partial sums per segment (fixed: results thread-independent)
LOW_RUN_BITS = 2  # chunks take runs of >= 4 amplitudes (a 64-byte cache line): bits 0, 1 unfixed


def chunk_bits(n: int) -> int:
    """Index bits per chunk for an ``n``-qubit state: a function of ``n`` only, so that the
    adjoint's partial sums, and so its rounding, do not depend on the thread count."""
    return max(1, min(CHUNK_BITS, n - MIN_CHUNKS_LOG))


def forward_bits(n: int, threads: int) -> int:
    """Index bits per chunk of a forward pass. Chunking does not change a forward pass's
    arithmetic, so one thread takes chunks of up to ``SERIAL_CHUNK_BITS`` (a whole 16-qubit
    state: no gathering), and several threads need at least ``2**MIN_CHUNKS_LOG`` chunks."""
    return min(n, SERIAL_CHUNK_BITS) if threads == 1 else chunk_bits(n)


# ---------------------------------------------------------------------------------------------
# planning: segments of blocks that leave the same w index bits untouched


@njit(cache=_CACHE)
def _block_bits(blk, t):
    kind = blk[t, K_KIND]
    if kind == 0:
        return 1 << blk[t, K_A]
    if kind == 1:
        return (1 << blk[t, K_A]) | (1 << blk[t, K_B])
    bits = (1 << blk[t, K_S0]) | (1 << blk[t, K_S1])
    if blk[t, K_NPOS] == 3:
        bits |= 1 << blk[t, K_S2]
    return bits


@njit(cache=_CACHE)
def _fixed_bits(touched, n, w):
    """The ``w`` highest index bits at or above ``LOW_RUN_BITS`` that ``touched`` leaves clear
    (as a mask), or -1 if there are fewer."""
    fixed = 0
    count = 0
    for p in range(n - 1, LOW_RUN_BITS - 1, -1):
        if count == w:
            break
        if (touched >> p) & 1 == 0:
            fixed |= 1 << p
            count += 1
    return fixed if count == w else -1


@njit(cache=_CACHE, inline="always")
def _local(p, fixed):
    """Chunk-local position of index bit ``p`` (not fixed): fixed bits below it drop out."""
    below = fixed & ((1 << p) - 1)
    k = 0
    while below:
        below &= below - 1
        k += 1
    return p - k


@njit(cache=_CACHE)
def plan_segments(blk, work, n, lbits):
    """Greedy split of the blocks ``work`` (in tape order) into segments.

    Returns ``starts`` (segment s is ``work[starts[s]:starts[s+1]]``), ``fixed`` (the mask of
    the ``w = n - lbits`` index bits that segment s leaves untouched: they number the chunks)
    and ``lblk``: a copy of ``blk`` whose bit positions are chunk-local."""
    w = n - lbits
    nw = work.shape[0]
    starts = np.empty(nw + 1, dtype=np.int64)
    fixed = np.empty(max(1, nw), dtype=np.int64)
    nseg = 0
    touched = 0
    for j in range(nw):
        bits = _block_bits(blk, work[j])
        if j > 0 and _fixed_bits(touched | bits, n, w) >= 0:
            touched |= bits
            continue
        if j > 0:
            fixed[nseg] = _fixed_bits(touched, n, w)
            nseg += 1
        starts[nseg] = j
        touched = bits
    if nw > 0:
        fixed[nseg] = _fixed_bits(touched, n, w)
        nseg += 1
    starts[nseg] = nw
    lblk = blk.copy()
    for s in range(nseg):
        f = fixed[s]
        for j in range(starts[s], starts[s + 1]):
            t = work[j]
            kind = blk[t, K_KIND]
            lblk[t, K_A] = _local(blk[t, K_A], f)
            if kind == 1:
                lblk[t, K_B] = _local(blk[t, K_B], f)
            elif kind == 2:
                lblk[t, K_S0] = _local(blk[t, K_S0], f)
                lblk[t, K_S1] = _local(blk[t, K_S1], f)
                if blk[t, K_NPOS] == 3:
                    lblk[t, K_S2] = _local(blk[t, K_S2], f)
                cmask = 0
                for p in range(n):
                    if (blk[t, K_CMASK] >> p) & 1:
                        cmask |= 1 << _local(p, f)
                lblk[t, K_CMASK] = cmask
    return starts[: nseg + 1], fixed[:nseg], lblk


@njit(cache=_CACHE)
def _work_blocks(blk, use_prefix):
    if use_prefix:
        return np.flatnonzero(blk[:, K_PREFIX] == 0)
    return np.arange(blk.shape[0])


# ---------------------------------------------------------------------------------------------
# moving chunks. Chunk c of a segment with fixed bits F holds the amplitudes whose F bits spell
# c, in index order: runs of 2**f0 contiguous amplitudes (f0 = the lowest fixed bit). With F the
# top bits the chunk is a contiguous slice and is used in place.


@njit(cache=_CACHE)
def _deposit(c, mask):
    """The bits of ``c`` placed, lowest first, at the set bits of ``mask``."""
    out = 0
    k = 0
    m = mask
    while m:
        low = m & -m
        if (c >> k) & 1:
            out |= low
        m ^= low
        k += 1
    return out


@njit(cache=_CACHE)
def _gather(src, dst, c, fixed, n, scatter):
    """Copy chunk ``c`` of ``src`` into ``dst`` (or, with ``scatter``, ``dst`` back into it)."""
    f0 = 0
    while (fixed >> f0) & 1 == 0:
        f0 += 1
    run = 1 << f0
    free = ((1 << n) - 1) & ~fixed & ~(run - 1)  # the other bits above the run
    base = _deposit(c, fixed)
    x = 0
    for h in range(dst.shape[0] >> f0):
        g = x | base
        d = h << f0
        if scatter:
            for i in range(run):
                src[g + i] = dst[d + i]
        else:
            for i in range(run):
                dst[d + i] = src[g + i]
        x = (x - free) & free  # next subset of the free bits, in increasing order


# ---------------------------------------------------------------------------------------------
# forward


@njit(cache=_CACHE)
def _forward_chunks(psi, lblk, work, j0, j1, mats, fixed, n, lbits, c0, c1):
    """Blocks ``work[j0:j1]`` on chunks ``c0 .. c1``, one chunk at a time."""
    size = 1 << lbits
    top = fixed == ((1 << n) - 1) ^ (size - 1)  # the chunk is a contiguous slice
    buf = np.empty(0 if top else size, dtype=np.complex128)
    for c in range(c0, c1):
        if top:
            loc = psi[c * size : (c + 1) * size]
        else:
            _gather(psi, buf, c, fixed, n, False)
            loc = buf
        for j in range(j0, j1):
            t = work[j]
            _apply_range(loc, lblk, t, mats[j], 0, _block_total(lblk, t, lbits))
        if not top:
            _gather(psi, buf, c, fixed, n, True)


@njit(cache=_CACHE, parallel=True)
def _forward_parallel(psi, lblk, work, j0, j1, mats, fixed, n, lbits, parts):
    nc = 1 << (n - lbits)
    for g in prange(parts):
        _forward_chunks(psi, lblk, work, j0, j1, mats, fixed, n, lbits, nc * g // parts,
                        nc * (g + 1) // parts)


@njit(cache=_CACHE)
def _product_rows(psi, hi_part, lo_part, r0, r1):
    nl = lo_part.shape[0]
    for i in range(r0, r1):
        a = hi_part[i]
        for j in range(nl):
            psi[i * nl + j] = a * lo_part[j]


@njit(cache=_CACHE, parallel=True)
def _product_parallel(psi, hi_part, lo_part, parts):
    rows = hi_part.shape[0]
    for g in prange(parts):
        _product_rows(psi, hi_part, lo_part, rows * g // parts, rows * (g + 1) // parts)


@njit(cache=_CACHE)
def _product_state(psi, vecs, n, threads):
    """``psi = vecs[0] x ... x vecs[n-1]`` (the product-state prefix)."""
    h = n // 2
    hi_part = np.empty(1 << h, dtype=np.complex128)
    lo_part = np.empty(1 << (n - h), dtype=np.complex128)
    _kron_into(hi_part, vecs, 0, h)
    _kron_into(lo_part, vecs, h, n)
    if threads > 1:
        _product_parallel(psi, hi_part, lo_part, min(threads, hi_part.shape[0]))
    else:
        _product_rows(psi, hi_part, lo_part, 0, hi_part.shape[0])


@njit(cache=_CACHE)
def forward_chunked(psi, n, blk, pref, use_prefix, mem, mats1, mats2, b, lbits, threads):
    """Apply the tape (matrix row ``b``) to one state, segment by segment.

    With ``use_prefix`` ``psi`` is overwritten by the product-state prefix first. ``threads``:
    the number of threads the regions use (1: no parallel region at all)."""
    par = np.zeros((1, 4), dtype=np.int64)
    m = np.zeros((4, 4), dtype=np.complex128)
    if use_prefix:
        vecs = np.empty((n, 2), dtype=np.complex128)
        _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, mats1, mats2, b, m, -1, 0, vecs)
        _product_state(psi, vecs, n, threads)
    work = _work_blocks(blk, use_prefix)
    mats = np.zeros((work.shape[0], 4, 4), dtype=np.complex128)
    for j in range(work.shape[0]):
        _block_matrix(blk, work[j], mem, par, mats1, mats2, mats1, mats2, b, mats[j], -1, 0)
    starts, fixed, lblk = plan_segments(blk, work, n, lbits)
    nc = 1 << (n - lbits)
    for s in range(fixed.shape[0]):
        if threads > 1:
            _forward_parallel(psi, lblk, work, starts[s], starts[s + 1], mats, fixed[s], n,
                              lbits, min(threads, nc))
        else:
            _forward_chunks(psi, lblk, work, starts[s], starts[s + 1], mats, fixed[s], n,
                            lbits, 0, nc)


# ---------------------------------------------------------------------------------------------
# adjoint


@njit(cache=_CACHE)
def _adjoint_chunks(phi, lam, lblk, work, j0, j1, mds, fixed, n, lbits, c0, c1, tms):
    """Undo blocks ``work[j1-1] .. work[j0]`` on chunks ``c0 .. c1`` of phi and lam, adding each
    parametrised block's transition matrix to ``tms[j - j0]``."""
    size = 1 << lbits
    top = fixed == ((1 << n) - 1) ^ (size - 1)
    bphi = np.empty(0 if top else size, dtype=np.complex128)
    blam = np.empty(0 if top else size, dtype=np.complex128)
    for c in range(c0, c1):
        if top:
            lphi = phi[c * size : (c + 1) * size]
            llam = lam[c * size : (c + 1) * size]
        else:
            _gather(phi, bphi, c, fixed, n, False)
            _gather(lam, blam, c, fixed, n, False)
            lphi = bphi
            llam = blam
        for j in range(j1 - 1, j0 - 1, -1):
            t = work[j]
            _adjoint_range(lphi, llam, lblk, t, mds[j], 0, _block_total(lblk, t, lbits),
                           lblk[t, K_HASPAR] != 0, tms[j - j0])
        if not top:
            _gather(phi, bphi, c, fixed, n, True)
            _gather(lam, blam, c, fixed, n, True)


@njit(cache=_CACHE, parallel=True)
def _adjoint_parallel(phi, lam, lblk, work, j0, j1, mds, fixed, n, lbits, tms):
    nc = 1 << (n - lbits)
    groups = tms.shape[0]
    for g in prange(groups):
        _adjoint_chunks(phi, lam, lblk, work, j0, j1, mds, fixed, n, lbits, nc * g // groups,
                        nc * (g + 1) // groups, tms[g])


@njit(cache=_CACHE)
def _split_rows(lam, cva, cvb, x, ypart, r0, r1):
    """Rows r0..r1 of lam as a (2**h, 2**(n-h)) matrix M: ``x = M cvb``, ``ypart += cva^T M``."""
    cols = cvb.shape[0]
    for i in range(r0, r1):
        acc = 0j
        a = cva[i]
        base = i * cols
        for j in range(cols):
            v = lam[base + j]
            acc += v * cvb[j]
            ypart[j] += a * v
        x[i] = acc


@njit(cache=_CACHE, parallel=True)
def _split_parallel(lam, cva, cvb, x, yparts):
    rows = cva.shape[0]
    groups = yparts.shape[0]
    for g in prange(groups):
        _split_rows(lam, cva, cvb, x, yparts[g], rows * g // groups, rows * (g + 1) // groups)


@njit(cache=_CACHE)
def _prefix_gradients_split(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs, grad,
                            threads):
    """Gradient terms of the prefix blocks in one pass over lam.

    Each prefix block q needs ``nu_q = lam`` contracted with the conjugated prefix vectors of
    every other wire. One pass contracts the top half of the wires (``y``) and the bottom half
    (``x``) at once; the per-wire contractions then run on those ``2**(n/2)``-long vectors."""
    h = n // 2
    rows = 1 << h
    cva = np.empty(rows, dtype=np.complex128)
    cvb = np.empty(1 << (n - h), dtype=np.complex128)
    _kron_into(cva, vecs, 0, h)
    _kron_into(cvb, vecs, h, n)
    cva[:] = np.conj(cva)
    cvb[:] = np.conj(cvb)
    x = np.empty(rows, dtype=np.complex128)
    groups = min(rows, MAX_GROUPS)
    yparts = np.zeros((groups, cvb.shape[0]), dtype=np.complex128)
    if threads > 1:
        _split_parallel(lam, cva, cvb, x, yparts)
    else:
        for g in range(groups):
            _split_rows(lam, cva, cvb, x, yparts[g], rows * g // groups,
                        rows * (g + 1) // groups)
    y = yparts[0].copy()
    for g in range(1, groups):
        y += yparts[g]
    buf = np.empty(max(4, 3 * cvb.shape[0] // 4), dtype=np.complex128)
    tm = np.zeros((4, 4), dtype=np.complex128)
    for q in range(n):
        t = pref[q]
        if t < 0 or blk[t, K_HASPAR] == 0:
            continue
        if q < h:
            nu0, nu1 = _nu(x, vecs[:h], h, q, buf)
        else:
            nu0, nu1 = _nu(y, vecs[h:], n - h, q - h, buf)
        tm[0, 0] = np.conj(nu0)
        tm[1, 0] = np.conj(nu1)
        _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)


@njit(cache=_CACHE)
def adjoint_chunked(phi, lam, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                    b, grad, lbits, threads):
    """Adjoint sweep of one large state (``phi`` final state, ``lam`` = O phi; both
    overwritten), segment by segment backwards; ``grad[col]`` receives d<f>/d angle."""
    m = np.zeros((4, 4), dtype=np.complex128)
    work = _work_blocks(blk, use_prefix)
    nw = work.shape[0]
    mds = np.zeros((nw, 4, 4), dtype=np.complex128)
    for j in range(nw):
        t = work[j]
        _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0)
        _dagger(m, mds[j], 4 if blk[t, K_KIND] == 1 else 2)
    starts, fixed, lblk = plan_segments(blk, work, n, lbits)
    nc = 1 << (n - lbits)
    groups = min(nc, MAX_GROUPS)
    tm = np.zeros((4, 4), dtype=np.complex128)
    for s in range(fixed.shape[0] - 1, -1, -1):
        j0, j1 = starts[s], starts[s + 1]
        tms = np.zeros((groups, j1 - j0, 4, 4), dtype=np.complex128)
        if threads > 1:
            _adjoint_parallel(phi, lam, lblk, work, j0, j1, mds, fixed[s], n, lbits, tms)
        else:
            for g in range(groups):
                _adjoint_chunks(phi, lam, lblk, work, j0, j1, mds, fixed[s], n, lbits,
                                nc * g // groups, nc * (g + 1) // groups, tms[g])
        for j in range(j1 - 1, j0 - 1, -1):
            t = work[j]
            if blk[t, K_HASPAR] == 0:
                continue
            tm[:, :] = tms[0, j - j0]
            for g in range(1, groups):
                tm += tms[g, j - j0]
            _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)
    if use_prefix:
        vecs = np.empty((n, 2), dtype=np.complex128)
        _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0, vecs)
        _prefix_gradients_split(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs,
                                grad, threads)
