"""Gates on a tile of samples in the batch-inner layout of :mod:`q_store.sim.simd`.

A tile of ``w`` states of ``n`` qubits is two real arrays ``(2**n, w)`` (real and imaginary
parts); logical amplitude ``i`` of every sample sits in physical row ``rows[i]``, so that
CNOT/Toffoli (controlled X) and SWAP only permute ``rows`` and move no data; CZ/CCZ flip
signs. Dense gates update their rows in place through one-dimensional row views: the compiler
then sees separate rows (it checks at run time that they do not overlap) and vectorises over
the samples. (Indexing the two-dimensional tile with two row numbers instead kept the loop
scalar; the earlier out-of-place kernels avoided that with a second tile, at twice the
cache footprint and 1.2-1.6x the time.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from q_store.sim.kernels import (
    K_A,
    K_B,
    K_CMASK,
    K_KIND,
    K_MEND,
    K_MSTART,
    M_OFF,
    M_STRIDE,
    _block_matrix,
)

__all__ = ["DENSE", "SWAP", "XPERM", "ZSIGN", "apply_block", "classify", "fill_tile_matrices",
           "observe", "prefix_vectors", "product_state", "run_products",
           "transition"]

_CACHE = True
DENSE, XPERM, ZSIGN, SWAP = range(4)  # block classes


@njit(cache=_CACHE)
def classify(blk, mem, par, mats1, mats2, b):
    """Per block: 1 if its matrix is the same for every sample, its class, and the shared
    matrix (4x4; zero unless shared; matrix row ``b``: a single state may use any row)."""
    nb = blk.shape[0]
    shared = np.zeros(nb, dtype=np.int64)
    cls = np.zeros(nb, dtype=np.int64)
    smats = np.zeros((nb, 4, 4), dtype=np.complex128)
    swap = np.zeros((4, 4), dtype=np.complex128)
    swap[0, 0] = swap[1, 2] = swap[2, 1] = swap[3, 3] = 1.0
    for t in range(nb):
        same = 1
        for k in range(blk[t, K_MSTART], blk[t, K_MEND]):
            if mem[k, M_STRIDE] != 0:
                same = 0
        shared[t] = same
        if same == 0:
            continue
        _block_matrix(blk, t, mem, par, mats1, mats2, mats1, mats2, b, smats[t], -1, 0)
        m = smats[t]
        kind = blk[t, K_KIND]
        if kind == 2:
            if m[0, 0] == 0 and m[1, 1] == 0 and m[0, 1] == 1 and m[1, 0] == 1:
                cls[t] = XPERM
            elif m[0, 0] == 1 and m[1, 1] == -1 and m[0, 1] == 0 and m[1, 0] == 0:
                cls[t] = ZSIGN
        elif kind == 1 and np.all(m == swap):
            cls[t] = SWAP
    return shared, cls, smats


@njit(cache=_CACHE)
def fill_tile_matrices(blk, t, mem, par, mats1, mats2, b0, w, dagger, mr, mi, m, g):
    """Per-sample matrices of block t (samples b0 .. b0+w) as ``mr[r*4+c, s]`` (conjugate
    transposed with ``dagger``); ``g``: complex work array ``(4, w)``."""
    if blk[t, K_KIND] == 0:
        run_products(blk, t, mem, mats1, b0, w, g)
        for s in range(w):
            for r in range(2):
                for c in range(2):
                    v = np.conj(g[2 * c + r, s]) if dagger else g[2 * r + c, s]
                    mr[r * 4 + c, s] = v.real
                    mi[r * 4 + c, s] = v.imag
        return
    for s in range(w):
        _block_matrix(blk, t, mem, par, mats1, mats2, mats1, mats2, b0 + s, m, -1, 0)
        for r in range(4):
            for c in range(4):
                v = np.conj(m[c, r]) if dagger else m[r, c]
                mr[r * 4 + c, s] = v.real
                mi[r * 4 + c, s] = v.imag


@njit(cache=_CACHE)
def _one_shared(ar, ai, rows, p, cmask, m):
    """``m`` (2x2, the same for every sample) on bit p where the bits of ``cmask`` are 1."""
    d, w = ar.shape
    st = 1 << p
    a, b = m[0, 0].real, m[0, 0].imag
    c, e = m[0, 1].real, m[0, 1].imag
    f, g = m[1, 0].real, m[1, 0].imag
    h, q = m[1, 1].real, m[1, 1].imag
    for i0 in range(d):
        if (i0 >> p) & 1 or (i0 & cmask) != cmask:
            continue
        j0, j1 = rows[i0], rows[i0 + st]
        xr_, xi_, yr_, yi_ = ar[j0], ai[j0], ar[j1], ai[j1]
        for s in range(w):
            xr, xi, yr, yi = xr_[s], xi_[s], yr_[s], yi_[s]
            xr_[s] = a * xr - b * xi + c * yr - e * yi
            xi_[s] = a * xi + b * xr + c * yi + e * yr
            yr_[s] = f * xr - g * xi + h * yr - q * yi
            yi_[s] = f * xi + g * xr + h * yi + q * yr


@njit(cache=_CACHE)
def _one_each(ar, ai, rows, p, mr, mi):
    """A one-qubit block on bit p with one matrix per sample (``mr[0,1,4,5]``: the 2x2)."""
    d, w = ar.shape
    st = 1 << p
    ar_, ai_, cr_, ci_ = mr[0], mi[0], mr[1], mi[1]
    fr_, fi_, hr_, hi_ = mr[4], mi[4], mr[5], mi[5]
    for i0 in range(d):
        if (i0 >> p) & 1:
            continue
        j0, j1 = rows[i0], rows[i0 + st]
        xr_, xi_, yr_, yi_ = ar[j0], ai[j0], ar[j1], ai[j1]
        for s in range(w):
            a, b, c, e = ar_[s], ai_[s], cr_[s], ci_[s]
            f, g, h, q = fr_[s], fi_[s], hr_[s], hi_[s]
            xr, xi, yr, yi = xr_[s], xi_[s], yr_[s], yi_[s]
            xr_[s] = a * xr - b * xi + c * yr - e * yi
            xi_[s] = a * xi + b * xr + c * yi + e * yr
            yr_[s] = f * xr - g * xi + h * yr - q * yi
            yi_[s] = f * xi + g * xr + h * yi + q * yr


@njit(cache=_CACHE, inline="always")
def _row4(x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, mr, mi, k, s, shared):
    """Row k/4 of a 4x4 (``mr[k..k+3]``, per sample or column 0) times (x0..x3)."""
    t = 0 if shared else s
    c0r, c0i, c1r, c1i = mr[k, t], mi[k, t], mr[k + 1, t], mi[k + 1, t]
    c2r, c2i, c3r, c3i = mr[k + 2, t], mi[k + 2, t], mr[k + 3, t], mi[k + 3, t]
    return (c0r * x0r - c0i * x0i + c1r * x1r - c1i * x1i
            + c2r * x2r - c2i * x2i + c3r * x3r - c3i * x3i,
            c0r * x0i + c0i * x0r + c1r * x1i + c1i * x1r
            + c2r * x2i + c2i * x2r + c3r * x3i + c3i * x3r)


@njit(cache=_CACHE)
def _two(ar, ai, rows, pa, pb, mr, mi, shared):
    """A dense 4x4 on bits (pa, pb) (pa the more significant wire of the matrix);
    ``mr[r*4+c, s]`` per sample, or column 0 for all with ``shared``."""
    d, w = ar.shape
    sa, sb = 1 << pa, 1 << pb
    for i in range(d):
        if i & (sa | sb):
            continue
        j0, j1, j2, j3 = rows[i], rows[i + sb], rows[i + sa], rows[i + sa + sb]
        r0, i0_, r1, i1 = ar[j0], ai[j0], ar[j1], ai[j1]
        r2, i2, r3, i3 = ar[j2], ai[j2], ar[j3], ai[j3]
        for s in range(w):
            x0r, x0i, x1r, x1i = r0[s], i0_[s], r1[s], i1[s]
            x2r, x2i, x3r, x3i = r2[s], i2[s], r3[s], i3[s]
            r0[s], i0_[s] = _row4(x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, mr, mi, 0, s, shared)
            r1[s], i1[s] = _row4(x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, mr, mi, 4, s, shared)
            r2[s], i2[s] = _row4(x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, mr, mi, 8, s, shared)
            r3[s], i3[s] = _row4(x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, mr, mi, 12, s, shared)


@njit(cache=_CACHE)
def apply_block(ar, ai, rows, blk, t, cls, shared, smats, mr, mi):
    """Block t (matrix ``smats[t]`` if shared, else per sample in ``mr/mi``) on the tile, in
    place (permutations only change ``rows``)."""
    kind = blk[t, K_KIND]
    d = ar.shape[0]
    c = cls[t]
    if c == XPERM or c == ZSIGN:
        p = blk[t, K_A]
        cmask = blk[t, K_CMASK]
        st = 1 << p
        for i0 in range(d):
            if (i0 >> p) & 1 or (i0 & cmask) != cmask:
                continue
            if c == XPERM:
                rows[i0], rows[i0 + st] = rows[i0 + st], rows[i0]
            else:
                j = rows[i0 + st]
                for s in range(ar.shape[1]):
                    ar[j, s] = -ar[j, s]
                    ai[j, s] = -ai[j, s]
        return
    if c == SWAP:
        sa, sb = 1 << blk[t, K_A], 1 << blk[t, K_B]
        for i in range(d):
            if i & (sa | sb) == 0:
                rows[i + sa], rows[i + sb] = rows[i + sb], rows[i + sa]
        return
    if kind == 1:
        if shared[t]:
            for r in range(4):
                for cc in range(4):
                    mr[r * 4 + cc, 0] = smats[t, r, cc].real
                    mi[r * 4 + cc, 0] = smats[t, r, cc].imag
        _two(ar, ai, rows, blk[t, K_A], blk[t, K_B], mr, mi, shared[t] != 0)
        return
    cmask = blk[t, K_CMASK] if kind == 2 else 0
    if shared[t]:
        _one_shared(ar, ai, rows, blk[t, K_A], cmask, smats[t])
    else:
        _one_each(ar, ai, rows, blk[t, K_A], mr, mi)


@njit(cache=_CACHE)
def transition(lr, li, lrows, fr, fi, frows, blk, t, tr, ti):
    """``T[r, c] += conj(lam_r) phi_c`` per sample (``tr[r*4+c, s]``) over block t's groups,
    lam at the block's output, phi at its input."""
    d, w = lr.shape
    kind = blk[t, K_KIND]
    if kind == 1:
        sa, sb = 1 << blk[t, K_A], 1 << blk[t, K_B]
        for i in range(d):
            if i & (sa | sb):
                continue
            for r in range(4):
                ir = lrows[i + (sa if r >= 2 else 0) + (sb if r & 1 else 0)]
                for c in range(4):
                    ic = frows[i + (sa if c >= 2 else 0) + (sb if c & 1 else 0)]
                    k = r * 4 + c
                    for s in range(w):
                        a, b, e, f = lr[ir, s], li[ir, s], fr[ic, s], fi[ic, s]
                        tr[k, s] += a * e + b * f
                        ti[k, s] += a * f - b * e
        return
    p = blk[t, K_A]
    cmask = blk[t, K_CMASK] if kind == 2 else 0
    st = 1 << p
    for i0 in range(d):
        if (i0 >> p) & 1 or (i0 & cmask) != cmask:
            continue
        for r in range(2):
            ir = lrows[i0 + r * st]
            for c in range(2):
                ic = frows[i0 + c * st]
                k = r * 4 + c
                for s in range(w):
                    a, b, e, f = lr[ir, s], li[ir, s], fr[ic, s], fi[ic, s]
                    tr[k, s] += a * e + b * f
                    ti[k, s] += a * f - b * e


@njit(cache=_CACHE)
def observe(ar, ai, rows, term_obs, term_perm, term_factor, coef, out_r, out_i, vals):
    """Observable terms on a tile: term q (observable ``k = term_obs[q]``) maps
    ``psi -> (O_q psi)[i] = factor[q, i] psi[perm[q, i]]``. Adds ``Re <psi|O_q psi>`` to
    ``vals[k, s]`` (when ``vals`` has rows) and ``coef[k, s] (O_q psi)[i]`` to ``out[i, s]``
    (logical order; when ``coef`` has rows)."""
    d, w = ar.shape
    for q in range(term_obs.shape[0]):
        k = term_obs[q]
        for i in range(d):
            fr, fi = term_factor[q, i].real, term_factor[q, i].imag
            j, jp = rows[i], rows[term_perm[q, i]]
            if vals.shape[0] > 0:
                for s in range(w):
                    pr, pi = ar[jp, s], ai[jp, s]
                    vals[k, s] += ar[j, s] * (fr * pr - fi * pi) + ai[j, s] * (fr * pi + fi * pr)
            if coef.shape[0] > 0:
                for s in range(w):
                    pr, pi = ar[jp, s], ai[jp, s]
                    out_r[i, s] += coef[k, s] * (fr * pr - fi * pi)
                    out_i[i, s] += coef[k, s] * (fr * pi + fi * pr)


@njit(cache=_CACHE)
def prefix_vectors(n, blk, pref, mem, mats1, b0, w, g):
    """The product-state prefix vector of every wire (column 0 of its first one-qubit block,
    ``|0>`` without one) for samples b0 .. b0+w: ``(vr, vi)`` of shape ``(n, 2, w)``;
    ``g``: complex work array ``(4, w)``."""
    vr = np.zeros((n, 2, w))
    vi = np.zeros((n, 2, w))
    for q in range(n):
        t = pref[q]
        if t < 0:
            vr[q, 0, :] = 1.0
            continue
        run_products(blk, t, mem, mats1, b0, w, g)
        for s in range(w):
            vr[q, 0, s], vi[q, 0, s] = g[0, s].real, g[0, s].imag
            vr[q, 1, s], vi[q, 1, s] = g[2, s].real, g[2, s].imag
    return vr, vi


@njit(cache=_CACHE)
def product_state(ar, ai, vr, vi):
    """The tile of product states ``v_0 x ... x v_{n-1}`` (logical order), built in place:
    amplitude h of the first q wires becomes amplitudes 2h and 2h+1 of the first q+1, so h
    runs downwards and reads each amplitude before it is overwritten."""
    n, _, w = vr.shape
    for s in range(w):
        ar[0, s] = 1.0
        ai[0, s] = 0.0
    size = 1
    for q in range(n):
        for h in range(size - 1, -1, -1):
            xr_, xi_ = ar[h], ai[h]
            o0r, o0i, o1r, o1i = ar[2 * h], ai[2 * h], ar[2 * h + 1], ai[2 * h + 1]
            for s in range(w):
                xr, xi = xr_[s], xi_[s]
                y0r, y0i, y1r, y1i = vr[q, 0, s], vi[q, 0, s], vr[q, 1, s], vi[q, 1, s]
                o1r[s] = xr * y1r - xi * y1i
                o1i[s] = xr * y1i + xi * y1r
                o0r[s] = xr * y0r - xi * y0i
                o0i[s] = xr * y0i + xi * y0r
        size *= 2


# ---------------------------------------------------------------------------------------------
# one-qubit runs for a whole tile at once (no per-sample calls: this per-sample bookkeeping
# cost as much as the gates themselves at 8 qubits)


@njit(cache=_CACHE, inline="always")
def _left_mul(mats, k, g, s):
    """``g[:, s] <- mats[k] g[:, s]`` (2x2 entries 00, 01, 10, 11 in rows 0..3)."""
    m00, m01, m10, m11 = mats[k, 0, 0], mats[k, 0, 1], mats[k, 1, 0], mats[k, 1, 1]
    a00, a01, a10, a11 = g[0, s], g[1, s], g[2, s], g[3, s]
    g[0, s] = m00 * a00 + m01 * a10
    g[1, s] = m00 * a01 + m01 * a11
    g[2, s] = m10 * a00 + m11 * a10
    g[3, s] = m10 * a01 + m11 * a11


@njit(cache=_CACHE)
def run_products(blk, t, mem, mats1, b0, w, g):
    """``g[:, s]``: the product of the one-qubit run t for sample ``b0 + s``."""
    for s in range(w):
        g[0, s], g[1, s], g[2, s], g[3, s] = 1.0, 0.0, 0.0, 1.0
    for m in range(blk[t, K_MSTART], blk[t, K_MEND]):
        off, stride = mem[m, M_OFF], mem[m, M_STRIDE]
        for s in range(w):
            _left_mul(mats1, off + (b0 + s) * stride, g, s)
