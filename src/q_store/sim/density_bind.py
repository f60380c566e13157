"""Binding a noisy tape to angles: every per-sample matrix the density kernels read, built with
vectorised numpy from the gate table (one call per gate type, whatever the batch).

Keeping gate matrices out of the compiled passes keeps those kernels small, so that they
compile in seconds on first use instead of carrying the whole gate table into every entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from q_store.circuit.gates import GATES

__all__ = ["Binder", "BoundMatrices", "pauli_basis", "unitary_ptm"]

_LETTERS = (np.eye(2, dtype=complex), np.array([[0, 1], [1, 0]], dtype=complex),
            np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0]).astype(complex))


@lru_cache(maxsize=4)
def pauli_basis(k: int) -> np.ndarray:
    """``(4**k, 2**k, 2**k)``: the k-qubit Pauli words, word ``a`` with letter
    ``(a >> 2(k-1-j)) & 3`` (I, X, Y, Z) on wire ``j``."""
    out = np.ones((1, 1, 1), dtype=complex)
    for _ in range(k):
        out = np.einsum("aij,bkl->abikjl", out, np.array(_LETTERS)).reshape(
            len(out) * 4, 2 * out.shape[1], 2 * out.shape[1])
    out.setflags(write=False)
    return out


def unitary_ptm(u: np.ndarray, v: np.ndarray | None = None, scale: float = 1.0) -> np.ndarray:
    """``scale Re Tr(P_a u P_b v^dag) / d`` for a stack ``u (N, d, d)``: the PTMs of the
    unitaries (``v = u``), or of their derivatives (``u = dU``, ``v = U``, ``scale = 2``)."""
    d = u.shape[-1]
    p = pauli_basis(d.bit_length() - 1)
    v = u if v is None else v
    upb = np.einsum("njk,bkl->nbjl", u, p)
    m = np.einsum("nbjl,nil->nbji", upb, v.conj())
    return np.einsum("aij,nbji->nab", p, m).real * (scale / d)


@dataclass(frozen=True)
class BoundMatrices:
    """Per angle row: member PTMs ``(R, M, 4, 4)``, block PTMs ``(R, S)`` and, for gradients,
    their derivatives in every gate parameter (``(R, Q, 4, 4)``, ``(R, Sd)``)."""

    mptm: np.ndarray
    gstore: np.ndarray
    mdptm: np.ndarray
    dgstore: np.ndarray


@dataclass(frozen=True)
class _ParamBlock:
    gate: str
    col: int
    npar: int
    goff: int
    dgoff: int
    post: np.ndarray | None


class Binder:
    """What binding needs from a lowered tape: the angle-independent matrices (channels, fixed
    gates) and where each parametrised gate's matrices go."""

    def __init__(self, const_mptm: np.ndarray, member_groups: list[tuple[str, np.ndarray,
                 np.ndarray, np.ndarray]], const_gstore: np.ndarray,
                 param_blocks: list[_ParamBlock], n_dmem: int, dgsize: int) -> None:
        self.const_mptm = const_mptm
        self.member_groups = member_groups  # (gate, member indices, angle columns, doff)
        self.const_gstore = const_gstore
        self.param_blocks = param_blocks
        self.n_dmem = n_dmem
        self.dgsize = dgsize

    def bind(self, angles: np.ndarray, derivatives: bool = False) -> BoundMatrices:
        r = angles.shape[0]
        mptm = np.array(np.broadcast_to(self.const_mptm, (r, *self.const_mptm.shape)))
        gstore = np.array(np.broadcast_to(self.const_gstore, (r, len(self.const_gstore))))
        mdptm = np.zeros((r, max(self.n_dmem, 1) if derivatives else 1, 4, 4))
        dgstore = np.zeros((r, max(self.dgsize, 1) if derivatives else 1))
        for gate, idx, cols, doff in self.member_groups:
            spec = GATES[gate]
            p = angles[:, cols].reshape(-1, spec.num_params)
            u = spec.matrix(p)
            mptm[:, idx] = unitary_ptm(u).reshape(r, len(idx), 4, 4)
            if derivatives:
                for j in range(spec.num_params):
                    du = unitary_ptm(spec.derivative(p, j), u, 2.0)
                    mdptm[:, doff + j] = du.reshape(r, len(idx), 4, 4)
        for blk in self.param_blocks:
            spec = GATES[blk.gate]
            p = angles[:, blk.col:blk.col + blk.npar]
            u = spec.matrix(p)
            g = unitary_ptm(u)
            if blk.post is not None:
                g = blk.post @ g
            size = g.shape[-1] ** 2
            gstore[:, blk.goff:blk.goff + size] = g.reshape(r, size)
            if derivatives:
                for j in range(blk.npar):
                    dg = unitary_ptm(spec.derivative(p, j), u, 2.0)
                    if blk.post is not None:
                        dg = blk.post @ dg
                    o = blk.dgoff + j * size
                    dgstore[:, o:o + size] = dg.reshape(r, size)
        return BoundMatrices(mptm, gstore, mdptm, dgstore)
