"""Lowering a circuit to the kernel tape, and binding per-call gate matrices.

Lowering (once per circuit, cached): runs of one-qubit gates on a wire are fused into one block
(the kernel multiplies members on the fly and differentiates each member separately), fixed
controlled gates use the controlled kernel, every other multi-qubit gate the dense kernel.
Binding (once per call): gate matrices and derivative matrices are computed vectorised per gate
type, shared across the batch where the angles do not vary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from q_store.circuit.gates import gate_spec
from q_store.circuit.ir import Circuit
from q_store.sim import kernels as K

__all__ = ["BoundTape", "Program", "program_for"]


@dataclass(frozen=True)
class BoundTape:
    """Everything the kernels need for one call."""

    blk: np.ndarray
    mem: np.ndarray
    par: np.ndarray
    mats1: np.ndarray
    mats2: np.ndarray
    dmats1: np.ndarray
    dmats2: np.ndarray
    rows: int  # matrix-batch rows (1 if no gate varies across the batch)


class Program:
    """The lowered tape of one circuit."""

    def __init__(self, circuit: Circuit) -> None:
        n = circuit.n_qubits
        self.n_qubits = n
        self.circuit = circuit
        offsets = np.cumsum([0] + [len(op.params) for op in circuit.operations])
        blocks: list[list[int]] = []  # each: list of op indices
        kinds: list[int] = []
        pending: dict[int, list[int]] = {}

        def flush(w: int) -> None:
            run = pending.pop(w, None)
            if run:
                blocks.append(run)
                kinds.append(0)

        for i, op in enumerate(circuit.operations):
            spec = op.spec
            if spec.num_wires == 1:
                pending.setdefault(op.wires[0], []).append(i)
                continue
            for w in op.wires:
                flush(w)
            blocks.append([i])
            kinds.append(2 if spec.controlled_base is not None else 1)
        for w in sorted(pending):
            flush(w)

        self.block_ops = blocks
        member_ops = [i for blk in blocks for i in blk]
        self.member_ops = np.array(member_ops, dtype=np.int64)
        blk = np.zeros((len(blocks), K.BLOCK_COLS), dtype=np.int64)
        mstart = 0
        for t, (ops, kind) in enumerate(zip(blocks, kinds, strict=True)):
            op = circuit.operations[ops[0]]
            pos = [n - 1 - w for w in op.wires]
            blk[t, K.K_KIND] = kind
            blk[t, K.K_MSTART] = mstart
            blk[t, K.K_MEND] = mstart + len(ops)
            mstart += len(ops)
            blk[t, K.K_HASPAR] = int(any(circuit.operations[i].params for i in ops))
            if kind == 0:
                blk[t, K.K_A] = pos[0]
            elif kind == 1:
                blk[t, K.K_A], blk[t, K.K_B] = pos
            else:
                blk[t, K.K_A] = pos[-1]  # target
                srt = sorted(pos)
                blk[t, K.K_NPOS] = len(pos)
                blk[t, K.K_S0 : K.K_S0 + len(pos)] = srt
                blk[t, K.K_CMASK] = sum(1 << p for p in pos[:-1])
        self.blk = blk
        # members and their parameters
        self.mem_pstart = np.zeros(len(member_ops), dtype=np.int64)
        self.mem_pend = np.zeros(len(member_ops), dtype=np.int64)
        par_col, par_k, par_member = [], [], []
        for m, i in enumerate(member_ops):
            op = circuit.operations[i]
            self.mem_pstart[m] = len(par_col)
            for k in range(len(op.params)):
                par_col.append(int(offsets[i]) + k)
                par_k.append(k)
                par_member.append(m)
            self.mem_pend[m] = len(par_col)
        self.par_col = np.array(par_col, dtype=np.int64)
        self.par_k = np.array(par_k, dtype=np.int64)
        self.par_member = np.array(par_member, dtype=np.int64)
        self.param_offsets = offsets
        # group members by gate type for vectorised matrix construction
        groups: dict[str, list[int]] = {}
        for m, i in enumerate(member_ops):
            groups.setdefault(circuit.operations[i].gate, []).append(m)
        self.groups = {g: np.array(ms, dtype=np.int64) for g, ms in groups.items()}

    @property
    def n_blocks(self) -> int:
        return len(self.blk)

    def bind(self, angles: np.ndarray, batched_cols: np.ndarray, *,
             derivatives: bool = False) -> BoundTape:
        """Gate matrices for ``angles (Ba, n_params)``; columns flagged in ``batched_cols`` vary
        per row, all others are read from row 0."""
        rows = angles.shape[0]
        n_mem = len(self.member_ops)
        mem = np.zeros((n_mem, 4), dtype=np.int64)
        mem[:, K.M_PSTART] = self.mem_pstart
        mem[:, K.M_PEND] = self.mem_pend
        par = np.zeros((len(self.par_col), 4), dtype=np.int64)
        par[:, K.P_COL] = self.par_col
        par[:, K.P_K] = self.par_k
        chunks1: list[np.ndarray] = []
        chunks2: list[np.ndarray] = []
        dchunks1: list[np.ndarray] = []
        dchunks2: list[np.ndarray] = []
        size = {1: 0, 2: 0}
        dsize = {1: 0, 2: 0}
        for gate, members in self.groups.items():
            spec = gate_spec(gate)
            d = 1 if spec.num_wires == 1 or spec.controlled_base is not None else 2
            store, dstore = (chunks1, dchunks1) if d == 1 else (chunks2, dchunks2)
            if spec.num_params == 0:
                mat = spec.controlled_base if spec.controlled_base is not None else spec.matrix()
                store.append(np.asarray(mat, dtype=np.complex128)[None])
                mem[members, K.M_OFF] = size[d]
                mem[members, K.M_STRIDE] = 0
                size[d] += 1
                continue
            cols = (self.param_offsets[self.member_ops[members]][:, None]
                    + np.arange(spec.num_params)[None, :])
            varies = batched_cols[cols].any(axis=1)
            for flag in (False, True):
                sel = members[varies == flag]
                if len(sel) == 0:
                    continue
                scols = cols[varies == flag]
                r = rows if flag else 1
                p = angles[:r][:, scols]  # (r, m, P)
                flat = p.reshape(r * len(sel), spec.num_params)
                mats = spec.matrix_fn(flat)
                store.append(mats)
                mem[sel, K.M_OFF] = size[d] + np.arange(len(sel))
                mem[sel, K.M_STRIDE] = len(sel) if flag else 0
                size[d] += len(mats)
                if not derivatives:
                    continue
                for k in range(spec.num_params):
                    dm = spec.deriv_fn(flat, k)
                    dstore.append(dm)
                    q = self._param_index(sel, k)
                    par[q, K.P_OFF] = dsize[d] + np.arange(len(sel))
                    par[q, K.P_STRIDE] = len(sel) if flag else 0
                    dsize[d] += len(dm)
        return BoundTape(
            self.blk, mem, par,
            _stack(chunks1, 2), _stack(chunks2, 4), _stack(dchunks1, 2), _stack(dchunks2, 4),
            rows,
        )

    def _param_index(self, members: np.ndarray, k: int) -> np.ndarray:
        return self.mem_pstart[members] + k


def _stack(chunks: list[np.ndarray], d: int) -> np.ndarray:
    if not chunks:
        return np.zeros((1, d, d), dtype=np.complex128)
    return np.ascontiguousarray(np.concatenate(chunks, axis=0), dtype=np.complex128)


@lru_cache(maxsize=256)
def program_for(circuit: Circuit) -> Program:
    """The lowered program of a circuit, cached by circuit value (the template cache)."""
    return Program(circuit)
