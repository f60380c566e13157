"""Values and adjoint gradients of a batch in one pass per tile (batch-inner layout).

Why: with the cotangent known before the forward sweep (a given array, or one sweep per output
for a Jacobian) nothing between the sweeps needs the whole batch. Each tile then runs its
forward sweep, reads its values, and starts the backward sweep from the final tile while it is
still in cache: the final states are never written out as complex rows and read back, and the
batch takes one parallel region instead of two. A cotangent that is a function of the values
(a loss's chain rule) still goes through :func:`q_store.sim.simd.simd_forward` and
:func:`~q_store.sim.simd.simd_backward`. Same arithmetic as those two (tested to 1e-12).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from q_store.sim.simd import backward_core, backward_setup, forward_core
from q_store.sim.tiles import observe

__all__ = ["simd_adjoint"]

_CACHE = True


@njit(cache=_CACHE)
def _tile(states, lo, hi, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
          shared, cls, smats, sdag, er, ei, term_obs, term_perm, term_factor, cot, jacobian,
          values, grads):
    w = hi - lo
    n_out = values.shape[1]
    ar, ai, rows = forward_core(states, lo, hi, n, blk, pref, use_prefix, mem, par, mats1, mats2,
                                shared, cls, smats)
    vals = np.zeros((n_out, w))
    none = np.zeros((0, w))
    observe(ar, ai, rows, term_obs, term_perm, term_factor, none, none, none, vals)
    for s in range(w):
        for k in range(n_out):
            values[lo + s, k] = vals[k, s]
    sweeps = grads.shape[0]
    for j in range(sweeps):
        coef = np.zeros((n_out, w))
        for s in range(w):
            for k in range(n_out):
                if jacobian:
                    coef[k, s] = 1.0 if k == j else 0.0
                else:
                    coef[k, s] = cot[lo + s, k]
        if j < sweeps - 1:  # later sweeps start from the same final tile
            fr, fi, frows = ar.copy(), ai.copy(), rows.copy()
        else:
            fr, fi, frows = ar, ai, rows
        backward_core(fr, fi, frows, lo, n, blk, pref, use_prefix, mem, par, mats1, mats2,
                      dmats1, dmats2, shared, cls, sdag, er, ei, term_obs, term_perm,
                      term_factor, coef, grads[j])


@njit(cache=_CACHE, parallel=True)
def _parallel(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2, shared,
              cls, smats, sdag, er, ei, term_obs, term_perm, term_factor, cot, jacobian, values,
              grads, tile):
    size = states.shape[0]
    nt = (size + tile - 1) // tile
    for k in prange(nt):
        _tile(states, k * tile, min(size, (k + 1) * tile), n, blk, pref, use_prefix, mem, par,
              mats1, mats2, dmats1, dmats2, shared, cls, smats, sdag, er, ei, term_obs,
              term_perm, term_factor, cot, jacobian, values, grads)


@njit(cache=_CACHE)
def simd_adjoint(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                 term_obs, term_perm, term_factor, cot, jacobian, values, grads, tile, parallel):
    """Values ``(B, K)`` of the observable terms into ``values`` and gradient terms into
    ``grads (J, B, P)``: with ``jacobian`` one sweep per output (``J = K``, output j's
    derivatives in ``grads[j]``), else one sweep with the cotangent ``cot (B, K)`` (``J = 1``).
    ``states``: the initial states (ignored with ``use_prefix``); only read."""
    shared, cls, smats, sdag, er, ei = backward_setup(blk, mem, par, mats1, mats2, dmats1)
    if parallel:
        _parallel(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                  shared, cls, smats, sdag, er, ei, term_obs, term_perm, term_factor, cot,
                  jacobian, values, grads, tile)
        return
    size = states.shape[0]
    for lo in range(0, size, tile):
        _tile(states, lo, min(size, lo + tile), n, blk, pref, use_prefix, mem, par, mats1,
              mats2, dmats1, dmats2, shared, cls, smats, sdag, er, ei, term_obs, term_perm,
              term_factor, cot, jacobian, values, grads)
