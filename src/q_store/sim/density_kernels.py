"""Compiled density-matrix kernels (numba) in the Pauli-transfer-matrix (PTM) representation.

A density matrix on ``n`` qubits is held as its ``4**n`` real Pauli coefficients
``c_P = Tr(P rho)`` (``rho = 2**-n sum_P c_P P``), word ``P`` at index ``sum_w l_w 4**(n-1-w)``
with letter ``l_w`` in (I, X, Y, Z) = (0, 1, 2, 3): wire 0 is the top digit. A gate or channel
on ``k`` wires is a real ``(4**k, 4**k)`` matrix ``R[a, b] = Tr(P_a E(P_b)) / 2**k`` on the
digits of its wires. Compared with complex ``rho`` this halves memory and takes about a quarter
of the arithmetic per pass; depolarizing channels are diagonal (``1, 1-p, ..., 1-p``).

Block kinds (built by :mod:`q_store.sim.density_program`; the per-sample matrices they read are
bound by :mod:`q_store.sim.density_bind`):

* ``P1``: a 4x4 PTM on one wire: a run of one-qubit gates and the channels after them, multiplied
  into one matrix per sample (one pass for the whole run);
* ``G2``: a two-qubit gate with its channels folded into one 16x16 PTM, applied as sparse rows
  (CNOT, CZ, SWAP are signed permutations), preceded in the same pass by the waiting one-qubit
  PTMs of its two wires;
* ``GEN``: a three-qubit gate (Toffoli) with its channels, a 64x64 PTM.

Adjoint (Heisenberg) sweeps apply the transposed PTMs to observable coefficients ``o``
(``<O> = o . c``). Kernels trust their inputs: the simulator validates at its boundary.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# block table columns: kind, wires, chain member ranges of wires 0 and 1, the gate's first angle
# column and parameter count, offsets of its bound PTM and derivatives (-1: none)
(B_KIND, B_W0, B_W1, B_W2, B_NW, B_P0S, B_P0E, B_P1S, B_P1E, B_COL, B_NPAR, B_GOFF,
 B_DGOFF) = range(13)
BLOCK_COLS = 13
P1, G2, GEN = 0, 1, 2
# member table columns: kind (0 parametrised gate, 1 fixed: a channel or fixed gate), first
# angle column, number of parameters, first slot of its derivative PTMs (-1: none)
M_KIND, M_COL, M_NPAR, M_DOFF = range(4)
MEMBER_COLS = 4
MEMBER_PARAM, MEMBER_FIXED = 0, 1

_CACHE = True


# -- small matrices --------------------------------------------------------------------------
@njit(cache=_CACHE)
def _matmul(a, b, out, d):
    for i in range(d):
        for j in range(d):
            s = 0.0
            for c in range(d):
                s += a[i, c] * b[c, j]
            out[i, j] = s


@njit(cache=_CACHE)
def chain_ptm(mptm, lo, hi, out):
    """The 4x4 PTM of chain members ``lo..hi-1`` from their bound PTMs ``mptm``."""
    out[:, :] = 0.0
    for i in range(4):
        out[i, i] = 1.0
    tmp = np.empty((4, 4))
    for m in range(lo, hi):
        _matmul(mptm[m], out, tmp, 4)
        out[:, :] = tmp


@njit(cache=_CACHE)
def sparse_rows(store, o, dd, transpose, cols, vals, nnz):
    """Nonzeros of each row of the ``(dd, dd)`` matrix stored flat at ``store[o:]`` (or of its
    transpose) as ``cols, vals, nnz``."""
    for x in range(dd):
        c = 0
        for y in range(dd):
            v = store[o + y * dd + x] if transpose else store[o + x * dd + y]
            if v != 0.0:
                cols[x, c] = y
                vals[x, c] = v
                c += 1
        nnz[x] = c


# -- passes ------------------------------------------------------------------------------------
@njit(cache=_CACHE, inline="always")
def _ins2(x, p):
    """Insert two zero bits at bit ``p``."""
    return ((x >> p) << (p + 2)) | (x & ((1 << p) - 1))


@njit(cache=_CACHE)
def p1_range(c, n, w, r, lo, hi):
    """4x4 PTM ``r`` on the digit of wire ``w``, for the index blocks ``lo..hi-1`` above it."""
    s = 1 << (2 * (n - 1 - w))
    r00, r01, r02, r03 = r[0, 0], r[0, 1], r[0, 2], r[0, 3]
    r10, r11, r12, r13 = r[1, 0], r[1, 1], r[1, 2], r[1, 3]
    r20, r21, r22, r23 = r[2, 0], r[2, 1], r[2, 2], r[2, 3]
    r30, r31, r32, r33 = r[3, 0], r[3, 1], r[3, 2], r[3, 3]
    for h in range(lo, hi):
        base = h * 4 * s
        for i in range(base, base + s):
            v0, v1, v2, v3 = c[i], c[i + s], c[i + 2 * s], c[i + 3 * s]
            c[i] = r00 * v0 + r01 * v1 + r02 * v2 + r03 * v3
            c[i + s] = r10 * v0 + r11 * v1 + r12 * v2 + r13 * v3
            c[i + 2 * s] = r20 * v0 + r21 * v1 + r22 * v2 + r23 * v3
            c[i + 3 * s] = r30 * v0 + r31 * v1 + r32 * v2 + r33 * v3


@njit(cache=_CACHE)
def group_layout(n, wires, k, off, pos):
    """Coefficient offsets of a k-wire group (``off``, local word index -> offset) and the
    digit bit positions to insert (``pos``, ascending)."""
    for a in range(1 << (2 * k)):
        o = 0
        for j in range(k):
            o += ((a >> (2 * (k - 1 - j))) & 3) << (2 * (n - 1 - wires[j]))
        off[a] = o
    for j in range(k):  # insertion sort (k <= 3)
        p = 2 * (n - 1 - wires[j])
        i = j
        while i > 0 and pos[i - 1] > p:
            pos[i] = pos[i - 1]
            i -= 1
        pos[i] = p


@njit(cache=_CACHE)
def group_range(c, k, off, pos, cols, vals, nnz, lo, hi):
    """Groups ``lo..hi-1`` of a block of ``k`` wires without waiting one-qubit PTMs (three-qubit
    gates): the sparse gate PTM on each group."""
    dd = 1 << (2 * k)
    v = np.empty(dd)
    for i in range(lo, hi):
        base = i
        for j in range(k):
            base = _ins2(base, pos[j])
        for x in range(dd):
            v[x] = c[base + off[x]]
        for x in range(dd):
            s = 0.0
            for q in range(nnz[x]):
                s += vals[x, q] * v[cols[x, q]]
            c[base + off[x]] = s


_TILE = 64  # groups per tile of the two-qubit pass


@njit(cache=_CACHE)
def g2_tiles(c, off, pos, has0, r0, has1, r1, cols, vals, nnz, lo, hi):
    """Groups ``lo..hi-1`` of a two-qubit block: the waiting one-qubit PTMs ``r0``/``r1`` on
    local digits 0/1, then the sparse gate PTM. Up to ``_TILE`` groups are gathered with one
    group per column of a (16, tile) array, so every arithmetic loop runs along a contiguous
    row (vectorised), and groups that are contiguous in memory are copied row by row."""
    tl = min(hi - lo, _TILE)
    v = np.empty((16, tl))
    t = np.empty((16, tl))
    bases = np.empty(tl, dtype=np.int64)
    for g0 in range(lo, hi, tl):
        m = min(tl, hi - g0)
        for z in range(m):
            bases[z] = _ins2(_ins2(g0 + z, pos[0]), pos[1])
        for x in range(16):
            o = off[x]
            for z in range(m):
                v[x, z] = c[bases[z] + o]
        _pre2_rows(v, has0, r0, has1, r1, m)
        for x in range(16):
            if nnz[x] == 0:
                t[x, :m] = 0.0
                continue
            a = vals[x, 0]
            src = cols[x, 0]
            for z in range(m):
                t[x, z] = a * v[src, z]
            for q in range(1, nnz[x]):
                a = vals[x, q]
                src = cols[x, q]
                for z in range(m):
                    t[x, z] += a * v[src, z]
        for x in range(16):
            o = off[x]
            for z in range(m):
                c[bases[z] + o] = t[x, z]


@njit(cache=_CACHE, inline="always")
def _pre2_rows(v, has0, r0, has1, r1, tl):
    """:func:`_pre2` on tiles: row ``4 l0 + l1`` of ``v`` holds ``tl`` groups."""
    if has0:
        for j in range(4):
            for z in range(tl):
                a0, a1, a2, a3 = v[j, z], v[4 + j, z], v[8 + j, z], v[12 + j, z]
                v[j, z] = r0[0, 0] * a0 + r0[0, 1] * a1 + r0[0, 2] * a2 + r0[0, 3] * a3
                v[4 + j, z] = r0[1, 0] * a0 + r0[1, 1] * a1 + r0[1, 2] * a2 + r0[1, 3] * a3
                v[8 + j, z] = r0[2, 0] * a0 + r0[2, 1] * a1 + r0[2, 2] * a2 + r0[2, 3] * a3
                v[12 + j, z] = r0[3, 0] * a0 + r0[3, 1] * a1 + r0[3, 2] * a2 + r0[3, 3] * a3
    if has1:
        for j in range(0, 16, 4):
            for z in range(tl):
                a0, a1, a2, a3 = v[j, z], v[j + 1, z], v[j + 2, z], v[j + 3, z]
                v[j, z] = r1[0, 0] * a0 + r1[0, 1] * a1 + r1[0, 2] * a2 + r1[0, 3] * a3
                v[j + 1, z] = r1[1, 0] * a0 + r1[1, 1] * a1 + r1[1, 2] * a2 + r1[1, 3] * a3
                v[j + 2, z] = r1[2, 0] * a0 + r1[2, 1] * a1 + r1[2, 2] * a2 + r1[2, 3] * a3
                v[j + 3, z] = r1[3, 0] * a0 + r1[3, 1] * a1 + r1[3, 2] * a2 + r1[3, 3] * a3


@njit(cache=_CACHE)
def block_ngroups(n, blk, t):
    """Number of independent index blocks a pass over block ``t`` iterates."""
    if blk[t, B_KIND] == P1:
        return 1 << (2 * blk[t, B_W0])
    return 1 << (2 * (n - blk[t, B_NW]))


@njit(cache=_CACHE)
def apply_block(c, n, blk, t, mptm, gstore, lo, hi):
    """Block ``t`` on index blocks ``lo..hi-1`` of coefficients ``c`` (one sample's bound
    matrices ``mptm``, ``gstore``)."""
    r0 = np.empty((4, 4))
    r1 = np.empty((4, 4))
    has0 = blk[t, B_P0E] > blk[t, B_P0S]
    has1 = blk[t, B_P1E] > blk[t, B_P1S]
    if has0:
        chain_ptm(mptm, blk[t, B_P0S], blk[t, B_P0E], r0)
    if has1:
        chain_ptm(mptm, blk[t, B_P1S], blk[t, B_P1E], r1)
    if blk[t, B_KIND] == P1:
        p1_range(c, n, blk[t, B_W0], r0, lo, hi)
        return
    k = blk[t, B_NW]
    dd = 1 << (2 * k)
    cols = np.empty((dd, dd), dtype=np.int64)
    vals = np.empty((dd, dd))
    nnz = np.empty(dd, dtype=np.int64)
    sparse_rows(gstore, blk[t, B_GOFF], dd, False, cols, vals, nnz)
    off = np.empty(dd, dtype=np.int64)
    pos = np.empty(k, dtype=np.int64)
    group_layout(n, blk[t, B_W0:B_W0 + k], k, off, pos)
    if k == 2:
        g2_tiles(c, off, pos, has0, r0, has1, r1, cols, vals, nnz, lo, hi)
        return
    group_range(c, k, off, pos, cols, vals, nnz, lo, hi)


@njit(cache=_CACHE)
def evolve(c, n, blk, mptm, gstore, t0, t1):
    """Blocks ``t0..t1-1`` applied to one coefficient vector."""
    for t in range(t0, t1):
        apply_block(c, n, blk, t, mptm, gstore, 0, block_ngroups(n, blk, t))


@njit(cache=_CACHE, parallel=True)
def evolve_batch(cs, n, blk, mptm, gstore, rows):
    """Every row ``b`` of ``cs`` through the tape with the matrices bound for angle row
    ``rows[b]``, one sample per thread (numba's thread count: 1 runs it serially)."""
    for b in prange(cs.shape[0]):
        evolve(cs[b], n, blk, mptm[rows[b]], gstore[rows[b]], 0, blk.shape[0])


@njit(cache=_CACHE, parallel=True)
def evolve_split(c, n, blk, mptm, gstore, nch):
    """One large coefficient vector, each block's index blocks split across ``nch`` chunks."""
    for t in range(blk.shape[0]):
        total = block_ngroups(n, blk, t)
        step = (total + nch - 1) // nch
        for q in prange(nch):
            lo = q * step
            hi = min(total, lo + step)
            if lo < hi:
                apply_block(c, n, blk, t, mptm, gstore, lo, hi)
