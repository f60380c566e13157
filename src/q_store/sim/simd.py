"""Batch-inner kernels for batches of small states (SIMD-friendly layout).

Why: the per-sample kernels of :mod:`q_store.sim.kernels` walk one state at a time with
interleaved complex numbers, recompute every block's matrix for every sample and send CNOTs
through the general indexed path; at 8 qubits that is ~3 ns per amplitude update, mostly
per-block overhead. Here a *tile* of ``w`` samples is stored as two real arrays ``re, im`` of
shape ``(2**n, w)``: the batch is the contiguous inner dimension, so every gate's inner loop
runs over samples with plain real arithmetic that the compiler vectorises.

* A block whose matrix does not depend on the sample (weights-only gates) is multiplied once per
  call, not once per sample; sample-dependent blocks get one matrix per sample in the tile.
* CNOT/Toffoli (controlled X) and SWAP permute rows (no data moves), CZ/CCZ flip signs
  (:mod:`q_store.sim.tiles`).
* Values are read off the final tile; the backward sweep builds ``lam = sum_k c_k O_k psi``
  in the tile layout too.
* Training (values and a vector-Jacobian product) is one forward sweep, then, once the caller
  has turned the values into a cotangent, one backward sweep that starts from the forward's
  final states and undoes the gates on them while pulling ``lam`` back (the adjoint method): no
  forward is repeated. Keeping every parametrised block's input state instead (and reading it
  back) was measured slower, at 8 qubits x 1000 samples (32 MiB kept) as at 6 qubits x 16
  samples x 300 blocks (5 MiB): the writes cost more than undoing a gate in cache.

Arithmetic is the same as the per-sample kernels up to rounding (tested to 1e-12).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from q_store.sim.kernels import (
    K_HASPAR,
    K_KIND,
    K_MEND,
    K_MSTART,
    K_PREFIX,
    M_PEND,
    M_PSTART,
    _param_contrib,
)
from q_store.sim.tile_adjoint import (
    fused_run,
    prefix_run_grads,
    run_grads,
    run_terms,
    shared_run_terms,
)
from q_store.sim.tiles import (
    apply_block,
    classify,
    fill_tile_matrices,
    observe,
    prefix_vectors,
    product_state,
    transition,
)

__all__ = ["TILE", "backward_core", "backward_setup", "forward_core", "simd_backward",
           "simd_forward"]

_CACHE = True
TILE = 32  # samples per tile (measured 16/32/64 at 8 qubits): 4 tiles of 8 qubits = 256 KiB


# ---------------------------------------------------------------------------------------------
# forward


@njit(cache=_CACHE)
def forward_core(states, lo, hi, n, blk, pref, use_prefix, mem, par, mats1, mats2, shared, cls,
                 smats):
    """Samples lo..hi: load (or build the product-state prefix) and apply the tape. Returns
    the final tile ``(ar, ai, rows)``."""
    d = 1 << n
    w = hi - lo
    ar = np.empty((d, w))
    ai = np.empty((d, w))
    rows = np.arange(d)
    mr = np.zeros((16, w))
    mi = np.zeros((16, w))
    m = np.zeros((4, 4), dtype=np.complex128)
    g = np.empty((4, w), dtype=np.complex128)
    if use_prefix:
        vr, vi = prefix_vectors(n, blk, pref, mem, mats1, lo, w, g)
        product_state(ar, ai, vr, vi)
    else:
        for s in range(w):
            for i in range(d):
                ar[i, s] = states[lo + s, i].real
                ai[i, s] = states[lo + s, i].imag
    for t in range(blk.shape[0]):
        if use_prefix and blk[t, K_PREFIX]:
            continue
        if not shared[t]:
            fill_tile_matrices(blk, t, mem, par, mats1, mats2, lo, w, False, mr, mi, m, g)
        apply_block(ar, ai, rows, blk, t, cls, shared, smats, mr, mi)
    return ar, ai, rows


@njit(cache=_CACHE)
def _forward_tile(states, lo, hi, n, blk, pref, use_prefix, mem, par, mats1, mats2, shared, cls,
                  smats, term_obs, term_perm, term_factor, values, write_states):
    """Samples lo..hi: the tape, then the values and (``write_states``) the final states."""
    d = 1 << n
    w = hi - lo
    ar, ai, rows = forward_core(states, lo, hi, n, blk, pref, use_prefix, mem, par, mats1, mats2,
                                shared, cls, smats)
    if values.shape[1] > 0:
        vals = np.zeros((values.shape[1], w))
        none = np.zeros((0, w))
        observe(ar, ai, rows, term_obs, term_perm, term_factor, none, none, none, vals)
        for s in range(w):
            for k in range(values.shape[1]):
                values[lo + s, k] = vals[k, s]
    if write_states:
        for s in range(w):
            for i in range(d):
                states[lo + s, i] = complex(ar[rows[i], s], ai[rows[i], s])


@njit(cache=_CACHE, parallel=True)
def _forward_parallel(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, shared, cls,
                      smats, term_obs, term_perm, term_factor, values,
                      write_states, tile):
    size = states.shape[0]
    nt = (size + tile - 1) // tile
    for k in prange(nt):
        _forward_tile(states, k * tile, min(size, (k + 1) * tile), n, blk, pref, use_prefix,
                      mem, par, mats1, mats2, shared, cls, smats, term_obs,
                      term_perm, term_factor, values, write_states)


@njit(cache=_CACHE)
def simd_forward(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, term_obs, term_perm,
                 term_factor, values, write_states, tile, parallel):
    """Apply the tape to every row of ``states (B, 2**n)`` (initial states, ignored with
    ``use_prefix``), ``tile`` samples at a time.

    ``values (B, K)`` (K > 0) receives ``<O_k>`` of the observable terms (see
    :func:`~q_store.sim.tiles.observe`); ``write_states`` writes the final states back into
    ``states``."""
    shared, cls, smats = classify(blk, mem, par, mats1, mats2, 0)
    if parallel:
        _forward_parallel(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, shared, cls,
                          smats, term_obs, term_perm, term_factor, values,
                          write_states, tile)
        return
    size = states.shape[0]
    for lo in range(0, size, tile):
        _forward_tile(states, lo, min(size, lo + tile), n, blk, pref, use_prefix, mem, par,
                      mats1, mats2, shared, cls, smats, term_obs, term_perm,
                      term_factor, values, write_states)


# ---------------------------------------------------------------------------------------------
# backward


@njit(cache=_CACHE)
def _backward_tile(states, lo, hi, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                   dmats2, shared, cls, smats, sdag, er, ei, term_obs, term_perm,
                   term_factor, cot, grads):
    """Samples lo..hi of :func:`simd_backward`."""
    d = 1 << n
    w = hi - lo
    fr = np.empty((d, w))
    fi = np.empty((d, w))
    for s in range(w):
        for i in range(d):
            fr[i, s] = states[lo + s, i].real
            fi[i, s] = states[lo + s, i].imag
    coef = np.empty((cot.shape[1], w))
    for s in range(w):
        for k in range(cot.shape[1]):
            coef[k, s] = cot[lo + s, k]
    backward_core(fr, fi, np.arange(d), lo, n, blk, pref, use_prefix, mem, par, mats1, mats2,
                  dmats1, dmats2, shared, cls, sdag, er, ei, term_obs, term_perm, term_factor,
                  coef, grads)


@njit(cache=_CACHE)
def backward_core(fr, fi, frows, lo, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                  dmats2, shared, cls, sdag, er, ei, term_obs, term_perm, term_factor, coef,
                  grads):
    """The backward sweep of the final tile ``fr/fi`` (physical rows ``frows``; overwritten)
    of samples ``lo ..``: ``lam = sum_k coef[k, s] O_k psi``, then ``grads[lo + s]`` gets
    every gate angle's term."""
    d, w = fr.shape
    lrows = np.arange(d)
    lr = np.zeros((d, w))
    li = np.zeros((d, w))
    observe(fr, fi, frows, term_obs, term_perm, term_factor, coef, lr, li, np.zeros((0, w)))
    mr = np.zeros((16, w))
    mi = np.zeros((16, w))
    tr = np.zeros((16, w))
    ti = np.zeros((16, w))
    m = np.zeros((4, 4), dtype=np.complex128)
    tm = np.zeros((4, 4), dtype=np.complex128)
    g = np.empty((4, w), dtype=np.complex128)
    g2 = np.empty((4, w), dtype=np.complex128)
    acc = np.empty(w)
    er_s = np.zeros((_run_params(blk, mem), 4, w))  # per-sample E matrices of one run
    ei_s = np.zeros((_run_params(blk, mem), 4, w))
    for t in range(blk.shape[0] - 1, -1, -1):
        if use_prefix and blk[t, K_PREFIX]:
            continue
        want = blk[t, K_HASPAR] != 0
        if not shared[t]:
            fill_tile_matrices(blk, t, mem, par, mats1, mats2, lo, w, True, mr, mi, m, g)
        # undo the block on phi (it becomes the block's input); lam is still the output
        apply_block(fr, fi, frows, blk, t, cls, shared, sdag, mr, mi)
        if want and blk[t, K_KIND] == 0:  # one-qubit runs: no transition matrix
            if fused_run(blk, t, cls, shared):
                run_grads(lr, li, lrows, fr, fi, frows, blk, t, mem, par, er, ei, 0, False, lo,
                          acc, grads)
            else:
                for s in range(w):
                    run_terms(blk, t, mem, par, mats1, dmats1, lo + s, er_s, ei_s, s)
                run_grads(lr, li, lrows, fr, fi, frows, blk, t, mem, par, er_s, ei_s,
                          mem[blk[t, K_MSTART], M_PSTART], True, lo, acc, grads)
            want = False
        if want:
            transition(lr, li, lrows, fr, fi, frows, blk, t, tr, ti)
        apply_block(lr, li, lrows, blk, t, cls, shared, sdag, mr, mi)
        if want:
            _contrib(blk, t, mem, par, mats1, dmats1, dmats2, lo, w, tr, ti, grads, tm, g, g2)
    if use_prefix:
        _prefix_tile(lr, li, lrows, n, blk, pref, mem, par, mats1, dmats1, dmats2, lo, grads,
                     tr, ti, tm, g, g2)


@njit(cache=_CACHE)
def _run_params(blk, mem):
    """The most parameter rows of any one-qubit run."""
    most = 0
    for t in range(blk.shape[0]):
        if blk[t, K_KIND] == 0:
            most = max(most, mem[blk[t, K_MEND] - 1, M_PEND] - mem[blk[t, K_MSTART], M_PSTART])
    return most


@njit(cache=_CACHE)
def _contrib(blk, t, mem, par, mats1, dmats1, dmats2, lo, w, tr, ti, grads, tm, g, g2):
    """Gradient terms of block t (not a one-qubit run: :func:`run_grads` takes those) from its
    transition matrices ``tr/ti``, which it zeroes."""
    for s in range(w):
        for r in range(4):
            for c in range(4):
                tm[r, c] = complex(tr[r * 4 + c, s], ti[r * 4 + c, s])
        _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, lo + s, tm, grads[lo + s])
    tr[:, :] = 0.0
    ti[:, :] = 0.0


@njit(cache=_CACHE)
def _prefix_tile(lr, li, lrows, n, blk, pref, mem, par, mats1, dmats1, dmats2, lo, grads, tr,
                 ti, tm, g, g2):
    """Gradient terms of the product-state prefix blocks, ``lr/li`` being lam after the other
    blocks were undone (overwritten).

    Take the prefix blocks as applied wire 0 first: block q then sees
    ``phi_q = v_0 x ... x v_{q-1} x |0...0>``, non-zero only where the bits of wires q.. are 0,
    so its transition matrix is ``T[r, 0] = sum_h conj(lam_q[h, r, 0...0]) P_q[h]`` with
    ``P_q = v_0 x ... x v_{q-1}``; going backwards from wire n-1, lam is pulled back through
    block q only where the later reads look (``2**q`` rows). About 2 * 2**n updates per sample
    in all, instead of n contractions of the whole of lam."""
    d, w = lr.shape
    vr, vi = prefix_vectors(n, blk, pref, mem, mats1, lo, w, g)
    # P_q at rows 2**q .. 2**(q+1) of pr/pi (P_0 = [1])
    pr = np.zeros((d, w))
    pi = np.zeros((d, w))
    for s in range(w):
        pr[1, s] = 1.0
    for q in range(n - 1):
        base, nxt = 1 << q, 1 << (q + 1)
        for h in range(base):
            for b in range(2):
                dst = nxt + 2 * h + b
                for s in range(w):
                    ar, ai = pr[base + h, s], pi[base + h, s]
                    br, bi = vr[q, b, s], vi[q, b, s]
                    pr[dst, s] = ar * br - ai * bi
                    pi[dst, s] = ar * bi + ai * br
    tr[:, :] = 0.0
    ti[:, :] = 0.0
    for q in range(n - 1, -1, -1):
        t = pref[q]
        if t < 0:
            continue
        low = n - q  # bits of wires q .. n-1
        pq = n - 1 - q
        if blk[t, K_HASPAR]:
            for h in range(1 << q):
                ph = (1 << q) + h
                for r in range(2):
                    i = lrows[(h << low) | (r << pq)]
                    for s in range(w):  # T[r, 0]: row 4 r of tr/ti
                        a, b, e, f = lr[i, s], li[i, s], pr[ph, s], pi[ph, s]
                        tr[4 * r, s] += a * e + b * f
                        ti[4 * r, s] += a * f - b * e
            prefix_run_grads(blk, t, mem, par, mats1, dmats1, lo, w, tr, ti, grads)
        if q == 0:
            break
        # lam <- M_q^dag lam on the rows the next wires read: row 0 of M^dag = conj(v_q)
        for h in range(1 << q):
            i0 = lrows[h << low]
            i1 = lrows[(h << low) | (1 << pq)]
            for s in range(w):
                m0r, m0i = vr[q, 0, s], -vi[q, 0, s]
                m1r, m1i = vr[q, 1, s], -vi[q, 1, s]
                xr, xi, yr, yi = lr[i0, s], li[i0, s], lr[i1, s], li[i1, s]
                lr[i0, s] = m0r * xr - m0i * xi + m1r * yr - m1i * yi
                li[i0, s] = m0r * xi + m0i * xr + m1r * yi + m1i * yr


@njit(cache=_CACHE, parallel=True)
def _backward_parallel(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                       dmats2, shared, cls, smats, sdag, er, ei, term_obs, term_perm,
                       term_factor, cot, grads, tile):
    size = states.shape[0]
    nt = (size + tile - 1) // tile
    for k in prange(nt):
        _backward_tile(states, k * tile, min(size, (k + 1) * tile), n, blk, pref, use_prefix,
                       mem, par, mats1, mats2, dmats1, dmats2, shared, cls, smats, sdag,
                       er, ei, term_obs, term_perm, term_factor, cot, grads)


@njit(cache=_CACHE)
def backward_setup(blk, mem, par, mats1, mats2, dmats1):
    """Per call: the blocks' classes and shared matrices (:func:`classify`), their conjugate
    transposes and the shared runs' gradient matrices (:func:`shared_run_terms`)."""
    shared, cls, smats = classify(blk, mem, par, mats1, mats2, 0)
    sdag = np.empty_like(smats)
    for t in range(smats.shape[0]):
        for r in range(4):
            for c in range(4):
                sdag[t, r, c] = np.conj(smats[t, c, r])
    er, ei = shared_run_terms(blk, mem, par, mats1, dmats1, shared, cls)
    return shared, cls, smats, sdag, er, ei


@njit(cache=_CACHE)
def simd_backward(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                  term_obs, term_perm, term_factor, cot, grads, tile, parallel):
    """Adjoint sweep of a batch whose final states are ``states (B, 2**n)``:
    ``lam = sum_k cot[b, k] O_k psi`` (observable terms as in :func:`simd_forward`), and
    ``grads[b, col] += 2 Re <lam| dG |phi>`` for every gate angle, undoing the blocks on copies
    of the final states. Only ``grads`` is written."""
    shared, cls, smats, sdag, er, ei = backward_setup(blk, mem, par, mats1, mats2, dmats1)
    if parallel:
        _backward_parallel(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                           dmats2, shared, cls, smats, sdag, er, ei, term_obs, term_perm,
                           term_factor, cot, grads, tile)
        return
    size = states.shape[0]
    for lo in range(0, size, tile):
        _backward_tile(states, lo, min(size, lo + tile), n, blk, pref, use_prefix, mem, par,
                       mats1, mats2, dmats1, dmats2, shared, cls, smats, sdag, er, ei,
                       term_obs, term_perm, term_factor, cot, grads)
