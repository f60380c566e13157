"""CUDA kernels for the GPU state-vector path (CuPy): a k-qubit gate (k <= 3) applied in place
in one pass over the states, and one fused adjoint step per gate.

Why: applying a gate as a batched matrix product over a transposed state tensor
(:func:`q_store.sim.gpu.apply_matrices`) costs about three passes over the state per gate, and
the adjoint sweep three such products per weighted gate. Here each thread owns the ``2**k``
amplitudes a gate mixes, reads them once and writes them once; the adjoint step undoes the gate
on both sweep states and reads the gate's derivative terms in the same pass. Partial sums go
to a buffer reduced per state row afterwards (deterministic, no atomics).

Conventions are :mod:`q_store.sim.gpu`'s: states ``(R, 2**n)`` complex128, C-contiguous; wire
``w`` is bit ``n - 1 - w`` of the amplitude index; a gate's first wire is its matrix's most
significant bit; matrices ``(Rm, d, d)`` with ``R`` a multiple of ``Rm`` (row ``r`` uses matrix
``r % Rm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from q_store.errors import ValidationError

__all__ = ["MAX_KERNEL_QUBITS", "adjoint_step", "apply_gate", "row_sums"]

MAX_KERNEL_QUBITS = 3  # the widest gates in the gate table (Toffoli, CSWAP)
_BLOCK = 256
_CHUNK = 1024  # row_sums: elements summed per output of its first stage

_SOURCE = r"""
// amplitudes of one gate's group: the thread's group index with zeros inserted at the gate's
// bit positions (ascending), then the offsets of the group's 2**k members
template <int k>
__device__ __forceinline__ long long qs_base(long long j, int s0, int s1, int s2) {
    const int s[3] = {s0, s1, s2};
#pragma unroll
    for (int l = 0; l < k; ++l) {
        long long p = s[l];
        j = ((j >> p) << (p + 1)) | (j & ((1LL << p) - 1));
    }
    return j;
}

template <int k>
__device__ __forceinline__ long long qs_offset(long long base, int t, int p0, int p1, int p2) {
    const int p[3] = {p0, p1, p2};
    long long o = base;
#pragma unroll
    for (int l = 0; l < k; ++l)
        if ((t >> (k - 1 - l)) & 1) o |= 1LL << p[l];
    return o;
}

// out = m @ v for one group of K amplitudes; m is row-major (K, K) complex, interleaved re/im
template <int K>
__device__ __forceinline__ void qs_matvec(const double* m, const double* vr, const double* vi,
                                          double* outr, double* outi) {
#pragma unroll
    for (int a = 0; a < K; ++a) {
        double ar = 0.0, ai = 0.0;
#pragma unroll
        for (int b = 0; b < K; ++b) {
            double mr = m[2 * (a * K + b)], mi = m[2 * (a * K + b) + 1];
            ar += mr * vr[b] - mi * vi[b];
            ai += mr * vi[b] + mi * vr[b];
        }
        outr[a] = ar;
        outi[a] = ai;
    }
}

template <int k>
__device__ __forceinline__ void qs_apply_t(double* s, const double* m, long long total, int n,
                                          int p0, int p1, int p2, int s0, int s1, int s2,
                                          long long mrows) {
    const int K = 1 << k;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int g = n - k;
    long long r = idx >> g;
    long long base = qs_base<k>(idx & ((1LL << g) - 1), s0, s1, s2);
    double* row = s + 2 * (r << n);
    long long off[K];
    double vr[K], vi[K], wr[K], wi[K];
#pragma unroll
    for (int t = 0; t < K; ++t) {
        off[t] = qs_offset<k>(base, t, p0, p1, p2);
        vr[t] = row[2 * off[t]];
        vi[t] = row[2 * off[t] + 1];
    }
    qs_matvec<K>(m + 2 * (r % mrows) * K * K, vr, vi, wr, wi);
#pragma unroll
    for (int t = 0; t < K; ++t) {
        row[2 * off[t]] = wr[t];
        row[2 * off[t] + 1] = wi[t];
    }
}

// one adjoint step: phi <- G^dag phi, lam <- G^dag lam, and for every parameter j
// part[j, idx] = 2 Re <lam_before | dG_j phi_after> over the thread's group
template <int k>
__device__ __forceinline__ void qs_adjoint_t(double* phi, double* lam, const double* gdag,
                                             const double* dg, double* part, long long total,
                                             int n, int p0, int p1, int p2, int s0, int s1,
                                             int s2, long long mrows, int n_params) {
    const int K = 1 << k;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int g = n - k;
    long long r = idx >> g;
    long long base = qs_base<k>(idx & ((1LL << g) - 1), s0, s1, s2);
    double* prow = phi + 2 * (r << n);
    double* lrow = lam + 2 * (r << n);
    long long off[K];
    double vr[K], vi[K], ur[K], ui[K], wr[K], wi[K];
#pragma unroll
    for (int t = 0; t < K; ++t) {
        off[t] = qs_offset<k>(base, t, p0, p1, p2);
        vr[t] = prow[2 * off[t]];
        vi[t] = prow[2 * off[t] + 1];
        ur[t] = lrow[2 * off[t]];
        ui[t] = lrow[2 * off[t] + 1];
    }
    long long mi = (r % mrows) * K * K;
    qs_matvec<K>(gdag + 2 * mi, vr, vi, wr, wi);  // phi after the undo
#pragma unroll
    for (int t = 0; t < K; ++t) {
        prow[2 * off[t]] = wr[t];
        prow[2 * off[t] + 1] = wi[t];
    }
    for (int j = 0; j < n_params; ++j) {
        double mr[K], mm[K];
        qs_matvec<K>(dg + 2 * (j * mrows * K * K + mi), wr, wi, mr, mm);
        double acc = 0.0;
#pragma unroll
        for (int t = 0; t < K; ++t) acc += ur[t] * mr[t] + ui[t] * mm[t];
        part[j * total + idx] = 2.0 * acc;
    }
    qs_matvec<K>(gdag + 2 * mi, ur, ui, wr, wi);  // lam after the undo
#pragma unroll
    for (int t = 0; t < K; ++t) {
        lrow[2 * off[t]] = wr[t];
        lrow[2 * off[t] + 1] = wi[t];
    }
}

#define QS_APPLY_ARGS double* s, const double* m, long long total, int n, int p0, int p1, \
    int p2, int s0, int s1, int s2, long long mrows
#define QS_ADJOINT_ARGS double* phi, double* lam, const double* gdag, const double* dg, \
    double* part, long long total, int n, int p0, int p1, int p2, int s0, int s1, int s2, \
    long long mrows, int n_params
extern "C" __global__ void qs_apply1(QS_APPLY_ARGS) {
    qs_apply_t<1>(s, m, total, n, p0, p1, p2, s0, s1, s2, mrows); }
extern "C" __global__ void qs_apply2(QS_APPLY_ARGS) {
    qs_apply_t<2>(s, m, total, n, p0, p1, p2, s0, s1, s2, mrows); }
extern "C" __global__ void qs_apply3(QS_APPLY_ARGS) {
    qs_apply_t<3>(s, m, total, n, p0, p1, p2, s0, s1, s2, mrows); }
extern "C" __global__ void qs_adjoint1(QS_ADJOINT_ARGS) {
    qs_adjoint_t<1>(phi, lam, gdag, dg, part, total, n, p0, p1, p2, s0, s1, s2, mrows,
                    n_params); }
extern "C" __global__ void qs_adjoint2(QS_ADJOINT_ARGS) {
    qs_adjoint_t<2>(phi, lam, gdag, dg, part, total, n, p0, p1, p2, s0, s1, s2, mrows,
                    n_params); }
extern "C" __global__ void qs_adjoint3(QS_ADJOINT_ARGS) {
    qs_adjoint_t<3>(phi, lam, gdag, dg, part, total, n, p0, p1, p2, s0, s1, s2, mrows,
                    n_params); }
"""


@lru_cache(maxsize=1)
def _kernels(cupy: ModuleType) -> dict[str, Any]:
    """The compiled kernels by name (compiled once per process; CuPy caches them on disk)."""
    module = cupy.RawModule(code=_SOURCE)
    return {f"{kind}{k}": module.get_function(f"qs_{kind}{k}")
            for kind in ("apply", "adjoint") for k in range(1, MAX_KERNEL_QUBITS + 1)}


def _layout(states: Any, mats: Any, wires: Sequence[int], n: int
            ) -> tuple[int, int, tuple[Any, ...]]:
    """``(total, mrows, bit arguments)`` for a launch; checks the shapes the kernels assume."""
    rows, k = states.shape[0], len(wires)
    if not 1 <= k <= MAX_KERNEL_QUBITS or states.shape[1] != 2**n:
        raise ValidationError(f"kernel gates act on 1..{MAX_KERNEL_QUBITS} of n={n} wires")
    if states.dtype != np.complex128 or not states.flags.c_contiguous:
        raise ValidationError("kernel states must be C-contiguous complex128")
    mrows = mats.shape[-3]
    if rows % mrows:
        raise ValidationError(f"{rows} state rows do not repeat {mrows} matrix rows")
    pos = [n - 1 - int(w) for w in wires] + [0] * (MAX_KERNEL_QUBITS - k)
    srt = sorted(pos[:k]) + [0] * (MAX_KERNEL_QUBITS - k)
    bits = (np.int32(n), *map(np.int32, pos), *map(np.int32, srt))
    return rows << (n - k), mrows, bits


def row_sums(xp: ModuleType, a: Any) -> Any:
    """Sums over the last axis of ``a (M, G)`` in two stages (chunks of ``_CHUNK``, then the
    chunk sums) for G a power of two: a reduction to few outputs then spreads over many GPU
    blocks instead of one per output."""
    rows, size = a.shape
    if size <= _CHUNK:
        return a.sum(axis=1)
    return a.reshape(rows, size // _CHUNK, _CHUNK).sum(axis=2).sum(axis=1)


def _grid(total: int) -> tuple[tuple[int], tuple[int]]:
    return ((total + _BLOCK - 1) // _BLOCK,), (_BLOCK,)


def apply_gate(cupy: ModuleType, states: Any, mats: Any, wires: Sequence[int], n: int) -> Any:
    """``states (R, 2**n)`` with ``mats (Rm, d, d)`` applied on ``wires``, in place; returns
    ``states``."""
    total, mrows, bits = _layout(states, mats, wires, n)
    m = cupy.ascontiguousarray(mats, dtype=np.complex128)
    _kernels(cupy)[f"apply{len(wires)}"](*_grid(total),
                                         (states, m, np.int64(total), *bits, np.int64(mrows)))
    return states


def adjoint_step(cupy: ModuleType, phi: Any, lam: Any, mats: Any, derivs: Any,
                 wires: Sequence[int], n: int) -> Any:
    """Undo the gate ``mats (Rm, d, d)`` on ``phi`` and ``lam`` in place and return
    ``2 Re <lam| dG_j |phi'>`` per state row for the derivatives ``derivs (P, Rm, d, d)``:
    ``(R, P)`` on the device (``lam`` read before, ``phi'`` after the undo)."""
    total, mrows, bits = _layout(phi, mats, wires, n)
    if lam.shape != phi.shape or lam.dtype != phi.dtype or not lam.flags.c_contiguous:
        raise ValidationError("kernel sweep states must have the same shape and layout")
    n_params = derivs.shape[0]
    if n_params and derivs.shape[1] != mrows:
        raise ValidationError(f"derivatives have {derivs.shape[1]} matrix rows, the gate {mrows}")
    gdag = cupy.ascontiguousarray(cupy.conj(cupy.swapaxes(mats, -1, -2)), dtype=np.complex128)
    dg = cupy.ascontiguousarray(derivs, dtype=np.complex128)
    part = cupy.empty((n_params, total) if n_params else (1,))
    _kernels(cupy)[f"adjoint{len(wires)}"](
        *_grid(total), (phi, lam, gdag, dg, part, np.int64(total), *bits, np.int64(mrows),
                        np.int32(n_params)))
    if not n_params:
        return cupy.zeros((phi.shape[0], 0))
    rows = phi.shape[0]
    return row_sums(cupy, part.reshape(n_params * rows, -1)).reshape(n_params, rows).T
