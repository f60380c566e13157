"""Compiled state-vector kernels (numba): forward sweeps and adjoint sweeps over a gate tape.

The tape is a list of blocks produced by :mod:`q_store.sim.program`:

* kind 0: a fused run of one-qubit gates on one wire (members multiplied on the fly);
* kind 1: a dense two-qubit gate;
* kind 2: a fixed controlled gate (1 or 2 controls) applied only where the controls are 1.

Kernels trust their inputs: validation happens at the public boundary. Two parallel layouts:
``*_batch`` runs one sample per thread (small states, many samples: each state stays in cache for
the whole tape); ``*_single`` splits every gate of one large state across threads.
State index convention: wire ``w`` of an ``n``-qubit state is bit ``n-1-w``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# block table columns
K_KIND, K_A, K_B, K_S0, K_S1, K_S2, K_NPOS, K_CMASK, K_MSTART, K_MEND, K_HASPAR = range(11)
BLOCK_COLS = 11
# member table columns
M_OFF, M_STRIDE, M_PSTART, M_PEND = range(4)
# parameter table columns
P_COL, P_K, P_OFF, P_STRIDE = range(4)

_CACHE = True


@njit(cache=_CACHE, inline="always")
def _ins(k, p):
    low = k & ((1 << p) - 1)
    return ((k >> p) << (p + 1)) | low


@njit(cache=_CACHE)
def _block_total(blk, t, n):
    kind = blk[t, K_KIND]
    if kind == 0:
        return 1 << (n - 1)
    if kind == 1:
        return 1 << (n - 2)
    return 1 << (n - blk[t, K_NPOS])


@njit(cache=_CACHE, inline="always")
def _member1(mem, par, mats1, dmats1, m, b, ov_m, ov_q):
    if m == ov_m:
        return dmats1[par[ov_q, P_OFF] + b * par[ov_q, P_STRIDE]]
    return mats1[mem[m, M_OFF] + b * mem[m, M_STRIDE]]


@njit(cache=_CACHE)
def _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, out, ov_m, ov_q):
    """Matrix of block t for sample b into out (4x4; 1q blocks use the top-left 2x2).

    Member ``ov_m`` (if >= 0) is replaced by the derivative matrix of parameter row ``ov_q``:
    this yields tangent states d psi / d angle.
    """
    kind = blk[t, K_KIND]
    ms = blk[t, K_MSTART]
    if kind == 1:
        if ms == ov_m:
            src = dmats2[par[ov_q, P_OFF] + b * par[ov_q, P_STRIDE]]
        else:
            src = mats2[mem[ms, M_OFF] + b * mem[ms, M_STRIDE]]
        for i in range(4):
            for j in range(4):
                out[i, j] = src[i, j]
        return
    src = _member1(mem, par, mats1, dmats1, ms, b, ov_m, ov_q)
    a00, a01, a10, a11 = src[0, 0], src[0, 1], src[1, 0], src[1, 1]
    for m in range(ms + 1, blk[t, K_MEND]):
        g = _member1(mem, par, mats1, dmats1, m, b, ov_m, ov_q)
        b00 = g[0, 0] * a00 + g[0, 1] * a10
        b01 = g[0, 0] * a01 + g[0, 1] * a11
        b10 = g[1, 0] * a00 + g[1, 1] * a10
        b11 = g[1, 0] * a01 + g[1, 1] * a11
        a00, a01, a10, a11 = b00, b01, b10, b11
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = a00, a01, a10, a11


@njit(cache=_CACHE)
def _dagger(m, out, d):
    for i in range(d):
        for j in range(d):
            out[i, j] = np.conj(m[j, i])


@njit(cache=_CACHE)
def _apply_range(psi, blk, t, m, lo, hi):
    kind = blk[t, K_KIND]
    if kind == 0:
        p = blk[t, K_A]
        s = 1 << p
        m00, m01, m10, m11 = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
        for k in range(lo, hi):
            i0 = _ins(k, p)
            i1 = i0 | s
            a = psi[i0]
            c = psi[i1]
            psi[i0] = m00 * a + m01 * c
            psi[i1] = m10 * a + m11 * c
    elif kind == 1:
        pa = blk[t, K_A]
        pb = blk[t, K_B]
        sa = 1 << pa
        sb = 1 << pb
        plo = min(pa, pb)
        phi = max(pa, pb)
        for k in range(lo, hi):
            i00 = _ins(_ins(k, plo), phi)
            i01 = i00 | sb
            i10 = i00 | sa
            i11 = i10 | sb
            a0 = psi[i00]
            a1 = psi[i01]
            a2 = psi[i10]
            a3 = psi[i11]
            psi[i00] = m[0, 0] * a0 + m[0, 1] * a1 + m[0, 2] * a2 + m[0, 3] * a3
            psi[i01] = m[1, 0] * a0 + m[1, 1] * a1 + m[1, 2] * a2 + m[1, 3] * a3
            psi[i10] = m[2, 0] * a0 + m[2, 1] * a1 + m[2, 2] * a2 + m[2, 3] * a3
            psi[i11] = m[3, 0] * a0 + m[3, 1] * a1 + m[3, 2] * a2 + m[3, 3] * a3
    else:
        npos = blk[t, K_NPOS]
        s0 = blk[t, K_S0]
        s1 = blk[t, K_S1]
        s2 = blk[t, K_S2]
        cmask = blk[t, K_CMASK]
        st = 1 << blk[t, K_A]
        m00, m01, m10, m11 = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
        for k in range(lo, hi):
            i0 = _ins(_ins(k, s0), s1)
            if npos == 3:
                i0 = _ins(i0, s2)
            i0 |= cmask
            i1 = i0 | st
            a = psi[i0]
            c = psi[i1]
            psi[i0] = m00 * a + m01 * c
            psi[i1] = m10 * a + m11 * c


@njit(cache=_CACHE)
def _transition_range(lam, phi, blk, t, lo, hi, out):
    """out[i, j] += sum over the rest of conj(lam[i, rest]) * phi[j, rest] on the block's wires."""
    kind = blk[t, K_KIND]
    if kind == 0:
        p = blk[t, K_A]
        s = 1 << p
        t00 = t01 = t10 = t11 = 0j
        for k in range(lo, hi):
            i0 = _ins(k, p)
            i1 = i0 | s
            l0 = np.conj(lam[i0])
            l1 = np.conj(lam[i1])
            f0 = phi[i0]
            f1 = phi[i1]
            t00 += l0 * f0
            t01 += l0 * f1
            t10 += l1 * f0
            t11 += l1 * f1
        out[0, 0] += t00
        out[0, 1] += t01
        out[1, 0] += t10
        out[1, 1] += t11
    elif kind == 1:
        pa = blk[t, K_A]
        pb = blk[t, K_B]
        sa = 1 << pa
        sb = 1 << pb
        plo = min(pa, pb)
        phi_ = max(pa, pb)
        idx = np.empty(4, dtype=np.int64)
        for k in range(lo, hi):
            i00 = _ins(_ins(k, plo), phi_)
            idx[0] = i00
            idx[1] = i00 | sb
            idx[2] = i00 | sa
            idx[3] = i00 | sa | sb
            for i in range(4):
                li = np.conj(lam[idx[i]])
                for j in range(4):
                    out[i, j] += li * phi[idx[j]]


@njit(cache=_CACHE)
def _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad):
    """Add 2 Re <lam| dG |phi> for every parameter of block t, given its transition matrix."""
    kind = blk[t, K_KIND]
    ms = blk[t, K_MSTART]
    me = blk[t, K_MEND]
    if kind == 1:
        for q in range(mem[ms, M_PSTART], mem[ms, M_PEND]):
            dg = dmats2[par[q, P_OFF] + b * par[q, P_STRIDE]]
            acc = 0.0
            for i in range(4):
                for j in range(4):
                    acc += (dg[i, j] * tm[i, j]).real
            grad[par[q, P_COL]] += 2.0 * acc
        return
    nm = me - ms
    # suffix products S_j = G_{nm-1} ... G_{j+1}
    suf = np.empty((nm, 2, 2), dtype=np.complex128)
    suf[nm - 1, 0, 0] = 1.0
    suf[nm - 1, 0, 1] = 0.0
    suf[nm - 1, 1, 0] = 0.0
    suf[nm - 1, 1, 1] = 1.0
    for j in range(nm - 2, -1, -1):
        g = mats1[mem[ms + j + 1, M_OFF] + b * mem[ms + j + 1, M_STRIDE]]
        for r in range(2):
            for c in range(2):
                suf[j, r, c] = suf[j + 1, r, 0] * g[0, c] + suf[j + 1, r, 1] * g[1, c]
    p00, p01, p10, p11 = 1.0 + 0j, 0j, 0j, 1.0 + 0j  # prefix P_j = G_{j-1} ... G_0
    for j in range(nm):
        m = ms + j
        if mem[m, M_PEND] > mem[m, M_PSTART]:
            # T_j = S_j^T T P_j^T
            s = suf[j]
            u00 = s[0, 0] * tm[0, 0] + s[1, 0] * tm[1, 0]
            u01 = s[0, 0] * tm[0, 1] + s[1, 0] * tm[1, 1]
            u10 = s[0, 1] * tm[0, 0] + s[1, 1] * tm[1, 0]
            u11 = s[0, 1] * tm[0, 1] + s[1, 1] * tm[1, 1]
            w00 = u00 * p00 + u01 * p01
            w01 = u00 * p10 + u01 * p11
            w10 = u10 * p00 + u11 * p01
            w11 = u10 * p10 + u11 * p11
            for q in range(mem[m, M_PSTART], mem[m, M_PEND]):
                dg = dmats1[par[q, P_OFF] + b * par[q, P_STRIDE]]
                acc = (dg[0, 0] * w00 + dg[0, 1] * w01 + dg[1, 0] * w10 + dg[1, 1] * w11).real
                grad[par[q, P_COL]] += 2.0 * acc
        g = mats1[mem[m, M_OFF] + b * mem[m, M_STRIDE]]
        n00 = g[0, 0] * p00 + g[0, 1] * p10
        n01 = g[0, 0] * p01 + g[0, 1] * p11
        n10 = g[1, 0] * p00 + g[1, 1] * p10
        n11 = g[1, 0] * p01 + g[1, 1] * p11
        p00, p01, p10, p11 = n00, n01, n10, n11


# ---------------------------------------------------------------------------------------------
# drivers


@njit(cache=_CACHE)
def _forward_one(psi, n, blk, mem, par, mats1, mats2, dmats1, dmats2, b, m, ov_m, ov_q):
    for t in range(blk.shape[0]):
        _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, ov_m, ov_q)
        _apply_range(psi, blk, t, m, 0, _block_total(blk, t, n))


@njit(cache=_CACHE, parallel=True)
def forward_batch(states, n, blk, mem, mats1, mats2):
    """Apply the tape to every row of ``states (B, 2**n)`` in place, one sample per thread."""
    par = np.zeros((1, 4), dtype=np.int64)
    for b in prange(states.shape[0]):
        m = np.zeros((4, 4), dtype=np.complex128)
        _forward_one(states[b], n, blk, mem, par, mats1, mats2, mats1, mats2, b, m, -1, 0)


@njit(cache=_CACHE, parallel=True)
def forward_tangent_batch(states, n, blk, mem, par, mats1, mats2, dmats1, dmats2, bmap, ovm,
                          ovq):
    """Tangent states: row r runs sample ``bmap[r]`` with member ``ovm[r]`` replaced by the
    derivative matrix of parameter row ``ovq[r]``."""
    for r in prange(states.shape[0]):
        m = np.zeros((4, 4), dtype=np.complex128)
        _forward_one(states[r], n, blk, mem, par, mats1, mats2, dmats1, dmats2, bmap[r], m,
                     ovm[r], ovq[r])


@njit(cache=_CACHE, parallel=True)
def _apply_parallel(psi, blk, t, m, total, nch):
    for c in prange(nch):
        _apply_range(psi, blk, t, m, total * c // nch, total * (c + 1) // nch)


@njit(cache=_CACHE, parallel=True)
def _transition_parallel(lam, phi, blk, t, total, nch, parts):
    for c in prange(nch):
        parts[c] = 0.0
        _transition_range(lam, phi, blk, t, total * c // nch, total * (c + 1) // nch, parts[c])


def _chunks(total: int, threads: int) -> int:
    return max(1, min(4 * threads, total // 4096))


@njit(cache=_CACHE)
def forward_single(psi, n, blk, mem, mats1, mats2, b, nch):
    """Apply the tape to one large state, splitting each gate across ``nch`` chunks."""
    m = np.zeros((4, 4), dtype=np.complex128)
    par = np.zeros((1, 4), dtype=np.int64)
    for t in range(blk.shape[0]):
        _block_matrix(blk, t, mem, par, mats1, mats2, mats1, mats2, b, m, -1, 0)
        total = _block_total(blk, t, n)
        _apply_parallel(psi, blk, t, m, total, min(nch, max(1, total // 2048)))


@njit(cache=_CACHE)
def _adjoint_one(phi, lam, n, blk, mem, par, mats1, mats2, dmats1, dmats2, b, grad):
    m = np.zeros((4, 4), dtype=np.complex128)
    md = np.zeros((4, 4), dtype=np.complex128)
    tm = np.zeros((4, 4), dtype=np.complex128)
    for t in range(blk.shape[0] - 1, -1, -1):
        _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0)
        d = 4 if blk[t, K_KIND] == 1 else 2
        _dagger(m, md, d)
        total = _block_total(blk, t, n)
        _apply_range(phi, blk, t, md, 0, total)
        if blk[t, K_HASPAR]:
            tm[:, :] = 0.0
            _transition_range(lam, phi, blk, t, 0, total, tm)
            _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)
        _apply_range(lam, blk, t, md, 0, total)


@njit(cache=_CACHE, parallel=True)
def adjoint_batch(states, lams, n, blk, mem, par, mats1, mats2, dmats1, dmats2, grads, bmap):
    """Adjoint sweep per sample: ``states`` are final states (overwritten), ``lams`` the
    observable-applied states (overwritten); ``grads[r, col]`` receives d<f>/d angle.
    ``bmap[r]`` is the matrix-batch row of state row r (rows may repeat samples)."""
    for r in prange(states.shape[0]):
        _adjoint_one(states[r], lams[r], n, blk, mem, par, mats1, mats2, dmats1, dmats2,
                     bmap[r], grads[r])


@njit(cache=_CACHE)
def adjoint_single(phi, lam, n, blk, mem, par, mats1, mats2, dmats1, dmats2, b, grad, nch):
    """Adjoint sweep of one large state with every gate split across threads."""
    m = np.zeros((4, 4), dtype=np.complex128)
    md = np.zeros((4, 4), dtype=np.complex128)
    parts = np.zeros((nch, 4, 4), dtype=np.complex128)
    for t in range(blk.shape[0] - 1, -1, -1):
        _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0)
        d = 4 if blk[t, K_KIND] == 1 else 2
        _dagger(m, md, d)
        total = _block_total(blk, t, n)
        nc = min(nch, max(1, total // 2048))
        _apply_parallel(phi, blk, t, md, total, nc)
        if blk[t, K_HASPAR]:
            _transition_parallel(lam, phi, blk, t, total, nc, parts)
            tm = parts[:nc].sum(axis=0)
            _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)
        _apply_parallel(lam, blk, t, md, total, nc)
