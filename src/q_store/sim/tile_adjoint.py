"""Fused adjoint steps for the batch-inner tiles of :mod:`q_store.sim.simd`.

Why: the backward sweep undid a block on ``phi``, read both tiles again for the block's
transition matrix and undid it on ``lam`` in a third pass, then turned the transition matrix
into gradient terms with complex per-sample products of the run's members. For a one-qubit
block whose matrix the whole batch shares (weights-only gates: every such block of the spec
workload after its embedding, every block of the digits models) both are done here in one
pass over the tile, and the gradient terms are one real dot product per parameter and sample
with matrices ``E = S dG P`` (``S``/``P``: the run's members after/before the parameter's
member) computed once per call. Arithmetic: the transition sums run in the same order as
:func:`q_store.sim.tiles.transition`; the results agree with the separate passes to rounding
(tested to 1e-12).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from q_store.sim.kernels import (
    K_A,
    K_HASPAR,
    K_KIND,
    K_MEND,
    K_MSTART,
    M_OFF,
    M_PEND,
    M_PSTART,
    M_STRIDE,
    P_COL,
    P_OFF,
    P_STRIDE,
)
from q_store.sim.tiles import DENSE

__all__ = ["fused_run", "prefix_run_grads", "run_grads", "run_terms", "shared_run_terms"]

_CACHE = True


@njit(cache=_CACHE)
def fused_run(blk, t, cls, shared):
    """Whether block t is a one-qubit run (kind 0) whose matrix the whole batch shares."""
    return shared[t] != 0 and cls[t] == DENSE and blk[t, K_KIND] == 0


@njit(cache=_CACHE, inline="always")
def _m2(x00, x01, x10, x11, y00, y01, y10, y11):
    """The 2x2 product ``x y`` (entries 00, 01, 10, 11)."""
    return (x00 * y00 + x01 * y10, x00 * y01 + x01 * y11,
            x10 * y00 + x11 * y10, x10 * y01 + x11 * y11)


@njit(cache=_CACHE, inline="always")
def _at(mats, k):
    return mats[k, 0, 0], mats[k, 0, 1], mats[k, 1, 0], mats[k, 1, 1]


@njit(cache=_CACHE)
def run_terms(blk, t, mem, par, mats1, dmats1, b, er, ei, s):
    """``E_q = S dG_q P`` of every parameter q of one-qubit run t for sample b (``S``/``P``:
    the run's members after/before q's member) into ``er/ei[q - q0, :, s]`` (entries 00, 01,
    10, 11; ``q0`` the run's first parameter row): its gradient term is
    ``2 Re <lam| E_q |phi>``, lam at the run's output, phi at its input. The same arithmetic
    for a shared run (b = 0, once per call) as per sample, so that a sample's gradient does not
    depend on whether its batch shares the run."""
    ms, me = blk[t, K_MSTART], blk[t, K_MEND]
    q0 = mem[ms, M_PSTART]
    p00, p01, p10, p11 = 1.0 + 0j, 0j, 0j, 1.0 + 0j
    for mm in range(ms, me):
        if mem[mm, M_PEND] > mem[mm, M_PSTART]:
            s00, s01, s10, s11 = 1.0 + 0j, 0j, 0j, 1.0 + 0j
            for k in range(mm + 1, me):
                g00, g01, g10, g11 = _at(mats1, mem[k, M_OFF] + b * mem[k, M_STRIDE])
                s00, s01, s10, s11 = _m2(g00, g01, g10, g11, s00, s01, s10, s11)
            for q in range(mem[mm, M_PSTART], mem[mm, M_PEND]):
                d00, d01, d10, d11 = _at(dmats1, par[q, P_OFF] + b * par[q, P_STRIDE])
                x00, x01, x10, x11 = _m2(s00, s01, s10, s11, d00, d01, d10, d11)
                e00, e01, e10, e11 = _m2(x00, x01, x10, x11, p00, p01, p10, p11)
                er[q - q0, 0, s], ei[q - q0, 0, s] = e00.real, e00.imag
                er[q - q0, 1, s], ei[q - q0, 1, s] = e01.real, e01.imag
                er[q - q0, 2, s], ei[q - q0, 2, s] = e10.real, e10.imag
                er[q - q0, 3, s], ei[q - q0, 3, s] = e11.real, e11.imag
        g00, g01, g10, g11 = _at(mats1, mem[mm, M_OFF] + b * mem[mm, M_STRIDE])
        p00, p01, p10, p11 = _m2(g00, g01, g10, g11, p00, p01, p10, p11)


@njit(cache=_CACHE)
def shared_run_terms(blk, mem, par, mats1, dmats1, shared, cls):
    """:func:`run_terms` of every shared one-qubit run with parameters, once per call:
    ``(er, ei)[q, k, 0]`` by parameter row q (other rows zero)."""
    npar = par.shape[0]
    er = np.zeros((npar, 4, 1))
    ei = np.zeros((npar, 4, 1))
    for t in range(blk.shape[0]):
        if not fused_run(blk, t, cls, shared) or not blk[t, K_HASPAR]:
            continue
        q0 = mem[blk[t, K_MSTART], M_PSTART]
        run_terms(blk, t, mem, par, mats1, dmats1, 0, er[q0:], ei[q0:], 0)
    return er, ei


@njit(cache=_CACHE)
def run_grads(lr, li, lrows, fr, fi, frows, blk, t, mem, par, er, ei, q0, each, lo, acc,
              grads):
    """Gradient terms of the parameters of one-qubit run t: ``2 Re <lam| E_q |phi>`` over the
    run's amplitude pairs, lam at the run's output and phi at its input. ``E_q`` in
    ``er/ei[q - q0, :, s]`` per sample (``each``) or ``er/ei[q - q0, :, 0]`` for all.
    ``acc``: work row ``(w,)``."""
    d, w = lr.shape
    p = blk[t, K_A]
    st = 1 << p
    ms, me = blk[t, K_MSTART], blk[t, K_MEND]
    for q in range(mem[ms, M_PSTART], mem[me - 1, M_PEND]):
        j = q - q0
        a0r, a0i, a1r, a1i = er[j, 0, 0], ei[j, 0, 0], er[j, 1, 0], ei[j, 1, 0]
        b0r, b0i, b1r, b1i = er[j, 2, 0], ei[j, 2, 0], er[j, 3, 0], ei[j, 3, 0]
        acc[:] = 0.0
        for i0 in range(d):
            if (i0 >> p) & 1:
                continue
            l0, l1, f0, f1 = lrows[i0], lrows[i0 + st], frows[i0], frows[i0 + st]
            if each:
                for s in range(w):
                    a0r, a0i, a1r, a1i = er[j, 0, s], ei[j, 0, s], er[j, 1, s], ei[j, 1, s]
                    b0r, b0i, b1r, b1i = er[j, 2, s], ei[j, 2, s], er[j, 3, s], ei[j, 3, s]
                    xr, xi, yr, yi = fr[f0, s], fi[f0, s], fr[f1, s], fi[f1, s]
                    u0r = a0r * xr - a0i * xi + a1r * yr - a1i * yi
                    u0i = a0r * xi + a0i * xr + a1r * yi + a1i * yr
                    u1r = b0r * xr - b0i * xi + b1r * yr - b1i * yi
                    u1i = b0r * xi + b0i * xr + b1r * yi + b1i * yr
                    acc[s] += (lr[l0, s] * u0r + li[l0, s] * u0i + lr[l1, s] * u1r
                               + li[l1, s] * u1i)
                continue
            for s in range(w):
                xr, xi, yr, yi = fr[f0, s], fi[f0, s], fr[f1, s], fi[f1, s]
                u0r = a0r * xr - a0i * xi + a1r * yr - a1i * yi
                u0i = a0r * xi + a0i * xr + a1r * yi + a1i * yr
                u1r = b0r * xr - b0i * xi + b1r * yr - b1i * yi
                u1i = b0r * xi + b0i * xr + b1r * yi + b1i * yr
                acc[s] += (lr[l0, s] * u0r + li[l0, s] * u0i + lr[l1, s] * u1r
                           + li[l1, s] * u1i)
        col = par[q, P_COL]
        for s in range(w):
            grads[lo + s, col] += 2.0 * acc[s]


@njit(cache=_CACHE)
def prefix_run_grads(blk, t, mem, par, mats1, dmats1, lo, w, tr, ti, grads):
    """Gradient terms of product-state prefix run t, whose transition matrix has only column
    0 (``T[r, 0]``: rows 0 and 4 of ``tr/ti``, zeroed here): ``2 Re sum_r T[r, 0]
    (S dG P e0)_r`` per parameter, with matrix-vector products only (the run acts on
    ``|0>``)."""
    ms, me = blk[t, K_MSTART], blk[t, K_MEND]
    for s in range(w):
        b = lo + s
        t0 = complex(tr[0, s], ti[0, s])
        t1 = complex(tr[4, s], ti[4, s])
        v0, v1 = 1.0 + 0j, 0j  # P e0
        for mm in range(ms, me):
            for q in range(mem[mm, M_PSTART], mem[mm, M_PEND]):
                k = par[q, P_OFF] + b * par[q, P_STRIDE]
                y0 = dmats1[k, 0, 0] * v0 + dmats1[k, 0, 1] * v1
                y1 = dmats1[k, 1, 0] * v0 + dmats1[k, 1, 1] * v1
                for j in range(mm + 1, me):
                    g = mem[j, M_OFF] + b * mem[j, M_STRIDE]
                    y0, y1 = (mats1[g, 0, 0] * y0 + mats1[g, 0, 1] * y1,
                              mats1[g, 1, 0] * y0 + mats1[g, 1, 1] * y1)
                grads[b, par[q, P_COL]] += 2.0 * (t0 * y0 + t1 * y1).real
            g = mem[mm, M_OFF] + b * mem[mm, M_STRIDE]
            v0, v1 = (mats1[g, 0, 0] * v0 + mats1[g, 0, 1] * v1,
                      mats1[g, 1, 0] * v0 + mats1[g, 1, 1] * v1)
        tr[0, s] = tr[4, s] = 0.0
        ti[0, s] = ti[4, s] = 0.0
