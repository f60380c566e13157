"""Adjoint (Heisenberg-picture) kernels for exact gradients of noisy expectation values.

With ``<O> = o . B_{T-1} ... B_0 c_0`` (PTM blocks ``B_t``, observable coefficients ``o``, see
:mod:`density_kernels`), the derivative in an angle of block ``t`` is
``lam_{t+1} . (dB_t) c_t`` where ``lam_{t+1} = B_{T-1}^T ... B_{t+1}^T o`` is the observable
pulled back through the adjoint channels and ``c_t`` the state before the block. Channels do not
depend on angles, so ``dB_t`` only differentiates the gate PTMs. One pass over a block's groups
collects the small cross matrices ``X[a, b] = sum lam'[a] c'[b]`` that every derivative of the
block contracts with, and pulls ``lam`` back through the block.

States before each block come from checkpoints: noise channels are not invertible in general
(amplitude damping with ``gamma = 1``), so they cannot be recovered from the final state. With
``seg`` blocks per segment the kernel keeps ``ceil(T / seg) - 1 + seg`` states and runs the
forward pass once more inside all segments but the last; ``seg = T`` keeps every state and
recomputes nothing (one forward pass, one backward pass).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from q_store.sim.density_kernels import (
    B_COL,
    B_DGOFF,
    B_GOFF,
    B_KIND,
    B_NPAR,
    B_NW,
    B_P0E,
    B_P0S,
    B_P1E,
    B_P1S,
    B_W0,
    M_COL,
    M_DOFF,
    M_KIND,
    M_NPAR,
    MEMBER_PARAM,
    P1,
    _ins2,
    _matmul,
    _pre2_rows,
    apply_block,
    block_ngroups,
    chain_ptm,
    group_layout,
    p1_range,
    sparse_rows,
)

_CACHE = True


@njit(cache=_CACHE)
def _chain_has_params(mem, lo, hi):
    for m in range(lo, hi):
        if mem[m, M_KIND] == MEMBER_PARAM and mem[m, M_NPAR] > 0:
            return True
    return False


@njit(cache=_CACHE)
def chain_grads(mem, lo, hi, mptm, mdptm, x, grad):
    """``grad[col] += sum (d chain / d angle) * x`` for every angle of the chain's gates, from
    the bound member PTMs and their derivatives."""
    length = hi - lo
    suffix = np.empty((length + 1, 4, 4))  # suffix[i] = R_{L-1} ... R_i
    suffix[length] = np.eye(4)
    for i in range(length - 1, -1, -1):
        _matmul(suffix[i + 1], mptm[lo + i], suffix[i], 4)
    prefix = np.eye(4)  # R_{i-1} ... R_0
    tmp = np.empty((4, 4))
    full = np.empty((4, 4))
    nxt = np.empty((4, 4))
    for i in range(length):
        m = lo + i
        if mem[m, M_KIND] == MEMBER_PARAM and mem[m, M_DOFF] >= 0:
            for j in range(mem[m, M_NPAR]):
                _matmul(mdptm[mem[m, M_DOFF] + j], prefix, tmp, 4)
                _matmul(suffix[i + 1], tmp, full, 4)
                grad[mem[m, M_COL] + j] += np.sum(full * x)
        _matmul(mptm[m], prefix, nxt, 4)
        prefix[:, :] = nxt


@njit(cache=_CACHE)
def _p1_cross(c, lam, n, w, x):
    """``x[a, b] = sum_i lam[i + a s] c[i + b s]`` over the groups of wire ``w``."""
    s = 1 << (2 * (n - 1 - w))
    for h in range(1 << (2 * w)):
        base = h * 4 * s
        for a in range(4):
            for b in range(4):
                acc = 0.0
                for i in range(base, base + s):
                    acc += lam[i + a * s] * c[i + b * s]
                x[a, b] += acc


_TILE = 64  # groups processed together, each one a column of a (4**k, _TILE) tile


@njit(cache=_CACHE, inline="always")
def _rows_dot(a, i, b, j, tl):
    s = 0.0
    for z in range(tl):
        s += a[i, z] * b[j, z]
    return s


@njit(cache=_CACHE)
def _group_backward(c, lam, k, off, pos, has0, r0, has1, r1, cols, vals, nnz, want0, want1,
                    wantg, x0, x1, xg, ngroups):
    """One pass over a multi-qubit block: cross matrices and ``lam <- B^T lam`` (``cols``,
    ``vals``, ``nnz``: the sparse rows of the gate PTM's transpose). One-qubit chains only ever
    precede two-qubit gates (``k == 2``). Groups are gathered into tiles with one group per
    column, so every arithmetic loop runs along a contiguous tile row."""
    dd = 1 << (2 * k)
    tl = min(ngroups, _TILE)
    r0t = r0.T.copy()
    r1t = r1.T.copy()
    lt = np.empty((dd, tl))
    ct = np.empty((dd, tl))
    mt = np.empty((dd, tl))
    nt = np.empty((dd, tl))
    bases = np.empty(tl, dtype=np.int64)
    for g0 in range(0, ngroups, tl):
        for z in range(tl):
            b = g0 + z
            for q in range(k):
                b = _ins2(b, pos[q])
            bases[z] = b
        for q in range(dd):
            o = off[q]
            for z in range(tl):
                lt[q, z] = lam[bases[z] + o]
                ct[q, z] = c[bases[z] + o]
        for q in range(dd):  # mu = G^T lam
            a = vals[q, 0] if nnz[q] > 0 else 0.0
            src = cols[q, 0] if nnz[q] > 0 else 0
            for z in range(tl):
                mt[q, z] = a * lt[src, z]
            for e in range(1, nnz[q]):
                a = vals[q, e]
                src = cols[q, e]
                for z in range(tl):
                    mt[q, z] += a * lt[src, z]
        if want0:
            nt[:, :] = ct
            _pre2_rows(nt, False, r0, has1, r1, tl)
            for a in range(4):
                for b in range(4):
                    for l1 in range(4):
                        x0[a, b] += _rows_dot(mt, 4 * a + l1, nt, 4 * b + l1, tl)
        if want1:
            nt[:, :] = ct
            _pre2_rows(nt, has0, r0, False, r1, tl)
            for a in range(4):
                for b in range(4):
                    for l0 in range(4):
                        x1[a, b] += _rows_dot(mt, 4 * l0 + a, nt, 4 * l0 + b, tl)
        if wantg:
            nt[:, :] = ct
            if k == 2:
                _pre2_rows(nt, has0, r0, has1, r1, tl)
            for a in range(dd):
                for b in range(dd):
                    xg[a, b] += _rows_dot(lt, a, nt, b, tl)
        if k == 2:
            _pre2_rows(mt, has0, r0t, has1, r1t, tl)
        for q in range(dd):
            o = off[q]
            for z in range(tl):
                lam[bases[z] + o] = mt[q, z]


@njit(cache=_CACHE)
def block_backward(c, lam, n, blk, t, mem, mptm, mdptm, gstore, dgstore, grad):
    """Derivatives of block ``t`` into ``grad`` and ``lam <- B_t^T lam``, given the state
    ``c`` before the block and one sample's bound matrices."""
    r0 = np.empty((4, 4))
    r1 = np.empty((4, 4))
    p0s, p0e, p1s, p1e = blk[t, B_P0S], blk[t, B_P0E], blk[t, B_P1S], blk[t, B_P1E]
    has0, has1 = p0e > p0s, p1e > p1s
    if has0:
        chain_ptm(mptm, p0s, p0e, r0)
    if has1:
        chain_ptm(mptm, p1s, p1e, r1)
    want0 = _chain_has_params(mem, p0s, p0e)
    want1 = _chain_has_params(mem, p1s, p1e)
    if blk[t, B_KIND] == P1:
        w = blk[t, B_W0]
        if want0:
            x = np.zeros((4, 4))
            _p1_cross(c, lam, n, w, x)
            chain_grads(mem, p0s, p0e, mptm, mdptm, x, grad)
        p1_range(lam, n, w, r0.T.copy(), 0, block_ngroups(n, blk, t))
        return
    k = blk[t, B_NW]
    dd = 1 << (2 * k)
    cols = np.empty((dd, dd), dtype=np.int64)
    vals = np.empty((dd, dd))
    nnz = np.empty(dd, dtype=np.int64)
    sparse_rows(gstore, blk[t, B_GOFF], dd, True, cols, vals, nnz)
    off = np.empty(dd, dtype=np.int64)
    pos = np.empty(k, dtype=np.int64)
    group_layout(n, blk[t, B_W0:B_W0 + k], k, off, pos)
    wantg = blk[t, B_NPAR] > 0
    x0 = np.zeros((4, 4))
    x1 = np.zeros((4, 4))
    xg = np.zeros((dd, dd))
    _group_backward(c, lam, k, off, pos, has0, r0, has1, r1, cols, vals, nnz, want0, want1,
                    wantg, x0, x1, xg, 1 << (2 * (n - k)))
    if want0:
        chain_grads(mem, p0s, p0e, mptm, mdptm, x0, grad)
    if want1:
        chain_grads(mem, p1s, p1e, mptm, mdptm, x1, grad)
    if wantg:
        for j in range(blk[t, B_NPAR]):
            o = blk[t, B_DGOFF] + j * dd * dd
            acc = 0.0
            for a in range(dd):
                for b in range(dd):
                    acc += dgstore[o + a * dd + b] * xg[a, b]
            grad[blk[t, B_COL] + j] += acc


@njit(cache=_CACHE)
def adjoint_sample(c0, obs, lams, n, blk, mem, mptm, mdptm, gstore, dgstore, seg, values,
                   grads):
    """Values ``obs[k] . c_T`` and the gradients ``(L, P)`` of ``lams[l] . c_T`` of one sample
    from state ``c0``; ``lams`` is overwritten by the pulled-back observables."""
    nblk = blk.shape[0]
    size = c0.shape[0]
    nseg = (nblk + seg - 1) // seg
    last = nseg - 1  # the last segment's states are kept by the first forward pass
    ck = np.empty((max(last, 1), size))
    buf = np.empty((seg, size))
    c = c0.copy()
    for t in range(nblk):
        if t % seg == 0 and t // seg < last:
            ck[t // seg, :] = c
        if t >= last * seg:
            buf[t - last * seg, :] = c
        apply_block(c, n, blk, t, mptm, gstore, 0, block_ngroups(n, blk, t))
    for q in range(obs.shape[0]):
        values[q] = np.dot(obs[q], c)
    for sg in range(last, -1, -1):
        t0 = sg * seg
        t1 = min(nblk, t0 + seg)
        if sg < last:
            c[:] = ck[sg]
            for t in range(t0, t1):
                buf[t - t0, :] = c
                if t < t1 - 1:
                    apply_block(c, n, blk, t, mptm, gstore, 0, block_ngroups(n, blk, t))
        for t in range(t1 - 1, t0 - 1, -1):
            for q in range(lams.shape[0]):
                block_backward(buf[t - t0], lams[q], n, blk, t, mem, mptm, mdptm, gstore,
                               dgstore, grads[q])


@njit(cache=_CACHE)
def _lams(obs, cot, b):
    if cot.shape[0] == 0:
        return obs.copy()
    lam = np.zeros((1, obs.shape[1]))
    for q in range(obs.shape[0]):
        lam[0] += cot[b, q] * obs[q]
    return lam


@njit(cache=_CACHE, parallel=True)
def adjoint_batch(c0s, srows, obs, cot, n, blk, mem, mptm, mdptm, gstore, dgstore, rows, seg,
                  values, grads):
    """Every sample ``b`` (state ``c0s[srows[b]]``, matrices bound for angle row ``rows[b]``):
    values ``(B, K)`` and, with ``cot (B, K)``, the vector-Jacobian product ``grads[b, 0]``,
    else the Jacobian ``grads[b] (K, P)``. One sample per thread."""
    for b in prange(values.shape[0]):
        r = rows[b]
        adjoint_sample(c0s[srows[b]], obs, _lams(obs, cot, b), n, blk, mem, mptm[r], mdptm[r],
                       gstore[r], dgstore[r], seg, values[b], grads[b])
