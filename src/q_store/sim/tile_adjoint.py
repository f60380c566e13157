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

__all__ = ["fused_run", "prefix_run_grads", "shared_run_grads", "shared_run_terms"]

_CACHE = True


@njit(cache=_CACHE)
def fused_run(blk, t, cls, shared):
    """Whether block t is a one-qubit run (kind 0) whose matrix the whole batch shares."""
    return shared[t] != 0 and cls[t] == DENSE and blk[t, K_KIND] == 0


@njit(cache=_CACHE)
def shared_run_grads(lr, li, lrows, fr, fi, frows, blk, t, mem, par, er, ei, lo, acc, grads):
    """Gradient terms of the parameters of shared run t: ``2 Re <lam| E_q |phi>`` over the
    run's amplitude pairs, lam at the run's output and phi at its input (rows 0..3 of
    ``er/ei[q]``: ``E_q`` from :func:`shared_run_terms`). ``acc``: work row ``(w,)``."""
    d, w = lr.shape
    p = blk[t, K_A]
    st = 1 << p
    for mm in range(blk[t, K_MSTART], blk[t, K_MEND]):
        for q in range(mem[mm, M_PSTART], mem[mm, M_PEND]):
            a0r, a0i, a1r, a1i = er[q, 0], ei[q, 0], er[q, 1], ei[q, 1]
            b0r, b0i, b1r, b1i = er[q, 2], ei[q, 2], er[q, 3], ei[q, 3]
            acc[:] = 0.0
            for i0 in range(d):
                if (i0 >> p) & 1:
                    continue
                l0, l1, f0, f1 = lrows[i0], lrows[i0 + st], frows[i0], frows[i0 + st]
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
def _mul2(x, y):
    out = np.empty((2, 2), dtype=np.complex128)
    for i in range(2):
        for j in range(2):
            out[i, j] = x[i, 0] * y[0, j] + x[i, 1] * y[1, j]
    return out


@njit(cache=_CACHE)
def shared_run_terms(blk, mem, par, mats1, dmats1, shared, cls):
    """For every parameter row q of a shared one-qubit run (kind 0): ``E_q = S dG_q P``
    (rows 0..3 of ``emat[q]``: entries 00, 01, 10, 11), so that its gradient term is
    ``2 Re sum_rc E_q[r, c] T[r, c]``. Other rows stay zero."""
    npar = par.shape[0]
    er = np.zeros((npar, 4))
    ei = np.zeros((npar, 4))
    for t in range(blk.shape[0]):
        if blk[t, K_KIND] != 0 or not fused_run(blk, t, cls, shared) or not blk[t, K_HASPAR]:
            continue
        ms, me = blk[t, K_MSTART], blk[t, K_MEND]
        pre = np.eye(2, dtype=np.complex128)
        for mm in range(ms, me):
            if mem[mm, M_PEND] > mem[mm, M_PSTART]:
                suf = np.eye(2, dtype=np.complex128)
                for k in range(mm + 1, me):
                    suf = _mul2(mats1[mem[k, M_OFF]], suf)
                for q in range(mem[mm, M_PSTART], mem[mm, M_PEND]):
                    e = _mul2(_mul2(suf, dmats1[par[q, P_OFF]]), pre)
                    for r in range(2):
                        for c in range(2):
                            er[q, 2 * r + c] = e[r, c].real
                            ei[q, 2 * r + c] = e[r, c].imag
            pre = _mul2(mats1[mem[mm, M_OFF]], pre)
    return er, ei


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
