"""Compiled state-vector kernels (numba): forward sweeps and adjoint sweeps over a gate tape.

The tape is a list of blocks produced by :mod:`q_store.sim.program`:

* kind 0: a fused run of one-qubit gates on one wire (members multiplied on the fly);
* kind 1: a dense two-qubit gate;
* kind 2: a fixed controlled gate (1 or 2 controls) applied only where the controls are 1.

Kernels trust their inputs: validation happens at the public boundary. Here ``*_batch`` runs one
sample per thread (small states, many samples: each state stays in cache for the whole tape) and
``*_serial`` the same on the calling thread; one large state is split across threads by the
row-tile kernels of :mod:`q_store.sim.blocked` (batches: :mod:`q_store.sim.simd`).
State index convention: wire ``w`` of an ``n``-qubit state is bit ``n-1-w``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# block table columns
(K_KIND, K_A, K_B, K_S0, K_S1, K_S2, K_NPOS, K_CMASK, K_MSTART, K_MEND, K_HASPAR,
 K_PREFIX) = range(12)
BLOCK_COLS = 12
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
    """The 2x2 matrix of member m for sample b (its entries: no array view is made, views
    cost reference counting in these per-sample loops)."""
    if m == ov_m:
        k = par[ov_q, P_OFF] + b * par[ov_q, P_STRIDE]
        return dmats1[k, 0, 0], dmats1[k, 0, 1], dmats1[k, 1, 0], dmats1[k, 1, 1]
    k = mem[m, M_OFF] + b * mem[m, M_STRIDE]
    return mats1[k, 0, 0], mats1[k, 0, 1], mats1[k, 1, 0], mats1[k, 1, 1]


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
            k = par[ov_q, P_OFF] + b * par[ov_q, P_STRIDE]
            for i in range(4):
                for j in range(4):
                    out[i, j] = dmats2[k, i, j]
        else:
            k = mem[ms, M_OFF] + b * mem[ms, M_STRIDE]
            for i in range(4):
                for j in range(4):
                    out[i, j] = mats2[k, i, j]
        return
    a00, a01, a10, a11 = _member1(mem, par, mats1, dmats1, ms, b, ov_m, ov_q)
    for m in range(ms + 1, blk[t, K_MEND]):
        g00, g01, g10, g11 = _member1(mem, par, mats1, dmats1, m, b, ov_m, ov_q)
        b00 = g00 * a00 + g01 * a10
        b01 = g00 * a01 + g01 * a11
        b10 = g10 * a00 + g11 * a10
        b11 = g10 * a01 + g11 * a11
        a00, a01, a10, a11 = b00, b01, b10, b11
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = a00, a01, a10, a11


@njit(cache=_CACHE)
def _dagger(m, out, d):
    for i in range(d):
        for j in range(d):
            out[i, j] = np.conj(m[j, i])


@njit(cache=_CACHE, inline="always")
def _base(blk, t, k):
    """First state index of pair/group ``k`` of block t, and the length of the contiguous run
    of groups starting at k (indices below the lowest gate bit are contiguous)."""
    kind = blk[t, K_KIND]
    if kind == 0:
        p = blk[t, K_A]
        return _ins(k, p), (1 << p) - (k & ((1 << p) - 1))
    if kind == 1:
        plo = min(blk[t, K_A], blk[t, K_B])
        phi = max(blk[t, K_A], blk[t, K_B])
        return _ins(_ins(k, plo), phi), (1 << plo) - (k & ((1 << plo) - 1))
    s0 = blk[t, K_S0]
    i0 = _ins(_ins(k, s0), blk[t, K_S1])
    if blk[t, K_NPOS] == 3:
        i0 = _ins(i0, blk[t, K_S2])
    return i0 | blk[t, K_CMASK], (1 << s0) - (k & ((1 << s0) - 1))


@njit(cache=_CACHE)
def _apply_range(psi, blk, t, m, lo, hi):
    """Apply the (already multiplied) matrix of block t to groups lo..hi of psi."""
    kind = blk[t, K_KIND]
    if kind == 1:
        sa = 1 << blk[t, K_A]
        sb = 1 << blk[t, K_B]
        k = lo
        while k < hi:
            base, run = _base(blk, t, k)
            run = min(run, hi - k)
            for j in range(run):
                i00 = base + j
                i01 = i00 + sb
                i10 = i00 + sa
                i11 = i10 + sb
                a0 = psi[i00]
                a1 = psi[i01]
                a2 = psi[i10]
                a3 = psi[i11]
                psi[i00] = m[0, 0] * a0 + m[0, 1] * a1 + m[0, 2] * a2 + m[0, 3] * a3
                psi[i01] = m[1, 0] * a0 + m[1, 1] * a1 + m[1, 2] * a2 + m[1, 3] * a3
                psi[i10] = m[2, 0] * a0 + m[2, 1] * a1 + m[2, 2] * a2 + m[2, 3] * a3
                psi[i11] = m[3, 0] * a0 + m[3, 1] * a1 + m[3, 2] * a2 + m[3, 3] * a3
            k += run
        return
    # one-qubit block or controlled gate: a 2x2 matrix on the target bit
    st = 1 << blk[t, K_A]
    m00, m01, m10, m11 = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
    if kind == 0 and lo == 0 and hi == psi.shape[0] // 2:  # whole state: plain nested loops
        for base in range(0, psi.shape[0], 2 * st):
            for i0 in range(base, base + st):
                a = psi[i0]
                c = psi[i0 + st]
                psi[i0] = m00 * a + m01 * c
                psi[i0 + st] = m10 * a + m11 * c
        return
    k = lo
    while k < hi:
        base, run = _base(blk, t, k)
        run = min(run, hi - k)
        for j in range(run):
            i0 = base + j
            i1 = i0 + st
            a = psi[i0]
            c = psi[i1]
            psi[i0] = m00 * a + m01 * c
            psi[i1] = m10 * a + m11 * c
        k += run


@njit(cache=_CACHE)
def _adjoint_range(phi, lam, blk, t, md, lo, hi, want_t, tm):
    """One fused backward step over groups lo..hi: ``phi <- M^dag phi``, accumulate the
    transition matrix ``tm[i, j] += conj(lam_i) phi_j`` (lam before, phi after the undo), then
    ``lam <- M^dag lam``."""
    kind = blk[t, K_KIND]
    k = lo
    if kind == 1:
        sa = 1 << blk[t, K_A]
        sb = 1 << blk[t, K_B]
        f = np.empty(4, dtype=np.complex128)
        g = np.empty(4, dtype=np.complex128)
        li = np.empty(4, dtype=np.complex128)
        idx = np.empty(4, dtype=np.int64)
        while k < hi:
            base, run = _base(blk, t, k)
            run = min(run, hi - k)
            for j in range(run):
                idx[0] = base + j
                idx[1] = idx[0] + sb
                idx[2] = idx[0] + sa
                idx[3] = idx[2] + sb
                for r in range(4):
                    f[r] = phi[idx[r]]
                    li[r] = lam[idx[r]]
                for r in range(4):
                    g[r] = md[r, 0] * f[0] + md[r, 1] * f[1] + md[r, 2] * f[2] + md[r, 3] * f[3]
                    phi[idx[r]] = g[r]
                    lam[idx[r]] = (md[r, 0] * li[0] + md[r, 1] * li[1] + md[r, 2] * li[2]
                                   + md[r, 3] * li[3])
                if want_t:
                    for r in range(4):
                        cl = np.conj(li[r])
                        for c in range(4):
                            tm[r, c] += cl * g[c]
            k += run
        return
    st = 1 << blk[t, K_A]
    m00, m01, m10, m11 = md[0, 0], md[0, 1], md[1, 0], md[1, 1]
    t00 = t01 = t10 = t11 = 0j
    while k < hi:
        base, run = _base(blk, t, k)
        run = min(run, hi - k)
        if want_t:
            for j in range(run):
                i0 = base + j
                i1 = i0 + st
                a = phi[i0]
                c = phi[i1]
                g0 = m00 * a + m01 * c
                g1 = m10 * a + m11 * c
                phi[i0] = g0
                phi[i1] = g1
                l0 = lam[i0]
                l1 = lam[i1]
                lam[i0] = m00 * l0 + m01 * l1
                lam[i1] = m10 * l0 + m11 * l1
                l0 = np.conj(l0)
                l1 = np.conj(l1)
                t00 += l0 * g0
                t01 += l0 * g1
                t10 += l1 * g0
                t11 += l1 * g1
        else:
            for j in range(run):
                i0 = base + j
                i1 = i0 + st
                a = phi[i0]
                c = phi[i1]
                phi[i0] = m00 * a + m01 * c
                phi[i1] = m10 * a + m11 * c
                l0 = lam[i0]
                l1 = lam[i1]
                lam[i0] = m00 * l0 + m01 * l1
                lam[i1] = m10 * l0 + m11 * l1
        k += run
    tm[0, 0] += t00
    tm[0, 1] += t01
    tm[1, 0] += t10
    tm[1, 1] += t11


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
# product-state prefix: the one-qubit blocks that act first on each wire of |0...0> produce a
# product state, built directly (no gate passes) and differentiated by contracting lam with the
# other wires' vectors.


@njit(cache=_CACHE)
def _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, b, m, ov_m, ov_q,
                    vecs):
    for w in range(n):
        t = pref[w]
        if t >= 0:
            _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, ov_m, ov_q)
            vecs[w, 0] = m[0, 0]
            vecs[w, 1] = m[1, 0]
        else:
            vecs[w, 0] = 1.0
            vecs[w, 1] = 0.0


@njit(cache=_CACHE)
def _kron_into(out, vecs, w0, w1):
    """``out[:2**(w1-w0)] = vecs[w0] x ... x vecs[w1-1]`` (first wire most significant)."""
    out[0] = 1.0
    size = 1
    for w in range(w0, w1):
        v0 = vecs[w, 0]
        v1 = vecs[w, 1]
        for i in range(size - 1, -1, -1):
            a = out[i]
            out[2 * i + 1] = a * v1
            out[2 * i] = a * v0
        size *= 2


@njit(cache=_CACHE)
def _contract_range(src, dst, pos, c0, c1, lo, hi):
    """``dst[k] = src[k with bit pos = 0] * c0 + src[k with bit pos = 1] * c1``."""
    s = 1 << pos
    for k in range(lo, hi):
        i0 = _ins(k, pos)
        dst[k] = src[i0] * c0 + src[i0 | s] * c1


@njit(cache=_CACHE)
def _nu(lam, vecs, n, q, buf):
    """``nu[i] = sum_rest lam[i on wire q, rest] * conj(prod_{p != q} vecs[p][rest_p])``.

    ``buf`` holds at least 3/4 of the state: two ping-pong halves."""
    src = lam
    size = lam.shape[0]
    half = size // 2
    flip = 0
    for w in range(n - 1, -1, -1):
        if w == q:
            continue
        pos = 0 if w > q else 1
        size //= 2
        dst = buf[:half] if flip == 0 else buf[half:]
        flip = 1 - flip
        c0 = np.conj(vecs[w, 0])
        c1 = np.conj(vecs[w, 1])
        _contract_range(src, dst, pos, c0, c1, 0, size)
        src = dst
    return src[0], src[1]


@njit(cache=_CACHE)
def _prefix_gradients(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs, buf, grad):
    """Gradient terms of the prefix blocks: T = [[conj(nu0), 0], [conj(nu1), 0]] since each
    prefix block acts on |0>."""
    tm = np.zeros((4, 4), dtype=np.complex128)
    for q in range(n):
        t = pref[q]
        if t < 0 or blk[t, K_HASPAR] == 0:
            continue
        nu0, nu1 = _nu(lam, vecs, n, q, buf)
        tm[0, 0] = np.conj(nu0)
        tm[1, 0] = np.conj(nu1)
        _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)


# ---------------------------------------------------------------------------------------------
# drivers


@njit(cache=_CACHE)
def _forward_one(psi, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2, b, m,
                 ov_m, ov_q, vecs):
    if use_prefix:
        _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, b, m, ov_m, ov_q,
                        vecs)
        _kron_into(psi, vecs, 0, n)
    for t in range(blk.shape[0]):
        if use_prefix and blk[t, K_PREFIX]:
            continue
        _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, ov_m, ov_q)
        _apply_range(psi, blk, t, m, 0, _block_total(blk, t, n))


@njit(cache=_CACHE, parallel=True)
def forward_batch(states, n, blk, pref, use_prefix, mem, mats1, mats2):
    """Apply the tape to every row of ``states (B, 2**n)`` in place, one sample per thread.
    With ``use_prefix`` the rows are taken to be |0...0> and overwritten."""
    par = np.zeros((1, 4), dtype=np.int64)
    for b in prange(states.shape[0]):
        m = np.zeros((4, 4), dtype=np.complex128)
        vecs = np.empty((n, 2), dtype=np.complex128)
        _forward_one(states[b], n, blk, pref, use_prefix, mem, par, mats1, mats2, mats1, mats2,
                     b, m, -1, 0, vecs)


@njit(cache=_CACHE)
def forward_batch_serial(states, n, blk, pref, use_prefix, mem, mats1, mats2):
    """:func:`forward_batch` on the calling thread (small workloads: no thread-pool wake-up)."""
    par = np.zeros((1, 4), dtype=np.int64)
    m = np.zeros((4, 4), dtype=np.complex128)
    vecs = np.empty((n, 2), dtype=np.complex128)
    for b in range(states.shape[0]):
        _forward_one(states[b], n, blk, pref, use_prefix, mem, par, mats1, mats2, mats1, mats2,
                     b, m, -1, 0, vecs)


@njit(cache=_CACHE, parallel=True)
def forward_tangent_batch(states, n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, bmap,
                          ovm, ovq):
    """Tangent states from |0...0>: row r runs sample ``bmap[r]`` with member ``ovm[r]``
    replaced by the derivative matrix of parameter row ``ovq[r]``."""
    for r in prange(states.shape[0]):
        m = np.zeros((4, 4), dtype=np.complex128)
        vecs = np.empty((n, 2), dtype=np.complex128)
        _forward_one(states[r], n, blk, pref, True, mem, par, mats1, mats2, dmats1, dmats2,
                     bmap[r], m, ovm[r], ovq[r], vecs)


@njit(cache=_CACHE)
def _adjoint_one(phi, lam, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2, b,
                 grad, m, md, tm, vecs, buf):
    for t in range(blk.shape[0] - 1, -1, -1):
        if use_prefix and blk[t, K_PREFIX]:
            continue
        _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0)
        _dagger(m, md, 4 if blk[t, K_KIND] == 1 else 2)
        want = blk[t, K_HASPAR] != 0
        if want:
            tm[:, :] = 0.0
        _adjoint_range(phi, lam, blk, t, md, 0, _block_total(blk, t, n), want, tm)
        if want:
            _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, grad)
    if use_prefix:
        _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0, vecs)
        _prefix_gradients(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs, buf,
                          grad)


@njit(cache=_CACHE, parallel=True)
def adjoint_batch(states, lams, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                  dmats2, grads, bmap):
    """Adjoint sweep per sample: ``states`` are final states (overwritten), ``lams`` the
    observable-applied states (overwritten); ``grads[r, col]`` receives d<f>/d angle.
    ``bmap[r]`` is the matrix-batch row of state row r (rows may repeat samples)."""
    d = states.shape[1]
    for r in prange(states.shape[0]):
        m = np.zeros((4, 4), dtype=np.complex128)
        md = np.zeros((4, 4), dtype=np.complex128)
        tm = np.zeros((4, 4), dtype=np.complex128)
        vecs = np.empty((n, 2), dtype=np.complex128)
        buf = np.empty(max(4, 3 * d // 4), dtype=np.complex128)
        _adjoint_one(states[r], lams[r], n, blk, pref, use_prefix, mem, par, mats1, mats2,
                     dmats1, dmats2, bmap[r], grads[r], m, md, tm, vecs, buf)


@njit(cache=_CACHE)
def adjoint_batch_serial(states, lams, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                         dmats2, grads, bmap):
    """:func:`adjoint_batch` on the calling thread."""
    d = states.shape[1]
    m = np.zeros((4, 4), dtype=np.complex128)
    md = np.zeros((4, 4), dtype=np.complex128)
    tm = np.zeros((4, 4), dtype=np.complex128)
    vecs = np.empty((n, 2), dtype=np.complex128)
    buf = np.empty(max(4, 3 * d // 4), dtype=np.complex128)
    for r in range(states.shape[0]):
        _adjoint_one(states[r], lams[r], n, blk, pref, use_prefix, mem, par, mats1, mats2,
                     dmats1, dmats2, bmap[r], grads[r], m, md, tm, vecs, buf)
