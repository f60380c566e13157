"""The product-state prefix of one large state: built in one pass, differentiated in one pass.

The one-qubit blocks that act first on each wire of |0...0> make a product state: it is written
directly as an outer product of two halves (no gate passes), and the gradient terms of those
blocks come from one pass over lam that contracts it with the conjugated prefix vectors of the
top and the bottom half of the wires at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from q_store.sim.kernels import (
    K_A,
    K_B,
    K_HASPAR,
    K_KIND,
    K_NPOS,
    K_S0,
    K_S1,
    K_S2,
    _kron_into,
    _nu,
    _param_contrib,
)

__all__ = ["MAX_GROUPS", "block_bits", "prefix_gradients", "product_state"]

_CACHE = True
MAX_GROUPS = 64  # partial sums per reduction (fixed: results do not depend on the thread count)


@njit(cache=_CACHE)
def block_bits(blk, t):
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
def product_state(psi, vecs, n, threads):
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
def prefix_gradients(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs, grad,
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
