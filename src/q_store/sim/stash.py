"""Values and adjoint gradients of a small batch of small states in one kernel that keeps each
sample's forward states (the backward sweep reads each block's input state instead of
recomputing it by undoing gates). Used below ``SIMD_MIN_BATCH`` samples; larger batches go
through the batch-inner kernels of :mod:`q_store.sim.simd`."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from q_store.sim.kernels import (
    K_A,
    K_B,
    K_HASPAR,
    K_KIND,
    K_PREFIX,
    _apply_range,
    _base,
    _block_matrix,
    _block_total,
    _dagger,
    _kron_into,
    _param_contrib,
    _prefix_gradients,
    _prefix_vectors,
)

__all__ = ["stash_adjoint_batch", "stash_adjoint_serial"]

_CACHE = True


@njit(cache=_CACHE)
def _tlam_range(lam, phi_in, blk, t, md, lo, hi, want_t, tm):
    """Over groups lo..hi: ``tm[i, j] += conj(lam_i) phi_in_j`` (lam at the block output), then
    ``lam <- M^dag lam``."""
    kind = blk[t, K_KIND]
    k = lo
    if kind == 1:
        sa = 1 << blk[t, K_A]
        sb = 1 << blk[t, K_B]
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
                    li[r] = lam[idx[r]]
                for r in range(4):
                    lam[idx[r]] = (md[r, 0] * li[0] + md[r, 1] * li[1] + md[r, 2] * li[2]
                                   + md[r, 3] * li[3])
                if want_t:
                    for r in range(4):
                        cl = np.conj(li[r])
                        for c in range(4):
                            tm[r, c] += cl * phi_in[idx[c]]
            k += run
        return
    st = 1 << blk[t, K_A]
    m00, m01, m10, m11 = md[0, 0], md[0, 1], md[1, 0], md[1, 1]
    t00 = t01 = t10 = t11 = 0j
    while k < hi:
        base, run = _base(blk, t, k)
        run = min(run, hi - k)
        for j in range(run):
            i0 = base + j
            i1 = i0 + st
            l0 = lam[i0]
            l1 = lam[i1]
            lam[i0] = m00 * l0 + m01 * l1
            lam[i1] = m10 * l0 + m11 * l1
            if want_t:
                f0 = phi_in[i0]
                f1 = phi_in[i1]
                l0 = np.conj(l0)
                l1 = np.conj(l1)
                t00 += l0 * f0
                t01 += l0 * f1
                t10 += l1 * f0
                t11 += l1 * f1
        k += run
    tm[0, 0] += t00
    tm[0, 1] += t01
    tm[1, 0] += t10
    tm[1, 1] += t11


@njit(cache=_CACHE)
def _stash_chunk(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                 term_obs, term_perm, term_factor, cot, values, grads, work, lo, hi):
    """Samples lo..hi of :func:`stash_adjoint_batch` on the calling thread."""
    size, d = states.shape
    n_obs = values.shape[1]
    nw = work.shape[0]
    stash = np.empty((nw, d), dtype=np.complex128)
    lam = np.empty(d, dtype=np.complex128)
    opsi = np.empty(d, dtype=np.complex128)
    m = np.zeros((4, 4), dtype=np.complex128)
    md = np.zeros((4, 4), dtype=np.complex128)
    tm = np.zeros((4, 4), dtype=np.complex128)
    vecs = np.empty((n, 2), dtype=np.complex128)
    buf = np.empty(max(4, 3 * d // 4), dtype=np.complex128)
    for b in range(lo, hi):
        psi = states[b]
        if use_prefix:
            _prefix_vectors(n, blk, pref, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0,
                            vecs)
            _kron_into(psi, vecs, 0, n)
        for j in range(nw):
            t = work[j]
            stash[j, :] = psi
            _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0)
            _apply_range(psi, blk, t, m, 0, _block_total(blk, t, n))
        for k in range(n_obs):
            values[b, k] = 0.0
        n_sweeps = 1 if cot.shape[0] == size else n_obs
        for s in range(n_sweeps):
            lam[:] = 0.0
            for q in range(term_obs.shape[0]):
                k = term_obs[q]
                for i in range(d):
                    opsi[i] = term_factor[q, i] * psi[term_perm[q, i]]
                if s == 0:
                    acc = 0.0
                    for i in range(d):
                        acc += (np.conj(psi[i]) * opsi[i]).real
                    values[b, k] += acc
                if cot.shape[0] == size:
                    w = cot[b, k]
                else:
                    w = 1.0 if k == s else 0.0
                if w != 0.0:
                    for i in range(d):
                        lam[i] += w * opsi[i]
            g = grads[b, s]
            for j in range(nw - 1, -1, -1):
                t = work[j]
                _block_matrix(blk, t, mem, par, mats1, mats2, dmats1, dmats2, b, m, -1, 0)
                _dagger(m, md, 4 if blk[t, K_KIND] == 1 else 2)
                want = blk[t, K_HASPAR] != 0
                if want:
                    tm[:, :] = 0.0
                _tlam_range(lam, stash[j], blk, t, md, 0, _block_total(blk, t, n), want, tm)
                if want:
                    _param_contrib(blk, t, mem, par, mats1, dmats1, dmats2, b, tm, g)
            if use_prefix:
                _prefix_gradients(lam, n, blk, pref, mem, par, mats1, dmats1, dmats2, b, vecs,
                                  buf, g)


@njit(cache=_CACHE, parallel=True)
def stash_adjoint_batch(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                        dmats2, term_obs, term_perm, term_factor, cot, values, grads, parallel):
    """Values and adjoint gradients of a batch in one pass per sample.

    Observable k is ``sum`` of its terms ``(O psi)[i] = factor[i] * psi[perm[i]]``. With
    ``cot (B, K)`` given (``cot.shape[0] == B``) one backward sweep yields the vector-Jacobian
    product into ``grads[b, 0]``; otherwise (``cot.shape[0] == 0``) one sweep per observable
    yields the Jacobian ``grads[b, k]``. ``states`` hold initial states (ignored with
    ``use_prefix``) and receive the final states; ``values[b, k] = <O_k>``. Small batches
    (``parallel`` False) stay on the calling thread.
    """
    size = states.shape[0]
    work = np.flatnonzero(blk[:, K_PREFIX] == 0) if use_prefix else np.arange(blk.shape[0])
    nchunks = min(size, 64) if parallel else 1
    for c in prange(nchunks):
        _stash_chunk(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                     term_obs, term_perm, term_factor, cot, values, grads, work,
                     size * c // nchunks, size * (c + 1) // nchunks)


@njit(cache=_CACHE)
def stash_adjoint_serial(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1,
                         dmats2, term_obs, term_perm, term_factor, cot, values, grads):
    """:func:`stash_adjoint_batch` entirely on the calling thread."""
    work = np.flatnonzero(blk[:, K_PREFIX] == 0) if use_prefix else np.arange(blk.shape[0])
    _stash_chunk(states, n, blk, pref, use_prefix, mem, par, mats1, mats2, dmats1, dmats2,
                 term_obs, term_perm, term_factor, cot, values, grads, work, 0,
                 states.shape[0])
