"""Lowering a circuit to the kernel tape, and binding per-call gate matrices.

Lowering (once per circuit, cached): runs of one-qubit gates on a wire are fused into one block
(the kernel multiplies members on the fly and differentiates each member separately), fixed
controlled gates use the controlled kernel, every other multi-qubit gate the dense kernel.
Binding (once per call): gate matrices and derivative matrices are computed vectorised per gate
type, shared across the batch where the angles do not vary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.sim import kernels as K
from q_store.sim.gatemath import CODES, FIXED, fill_matrices

__all__ = ["BoundTape", "Program"]


@dataclass(frozen=True)
class BoundTape:
    """Everything the kernels need for one call."""

    blk: np.ndarray
    pref: np.ndarray
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
        # product-state prefix: the first block on a wire, if it is a one-qubit block
        self.pref = np.full(n, -1, dtype=np.int64)
        seen: set[int] = set()
        for t, ops in enumerate(blocks):
            wires = circuit.operations[ops[0]].wires
            if kinds[t] == 0 and wires[0] not in seen:
                self.pref[wires[0]] = t
                blk[t, K.K_PREFIX] = 1
            seen.update(wires)
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
        # member tables for the compiled matrix fill
        ops = [circuit.operations[i] for i in member_ops]
        self.mem_code = np.array([CODES[op.gate] for op in ops], dtype=np.int64)
        self.mem_col = np.array([offsets[i] for i in member_ops], dtype=np.int64)
        self.mem_nparams = np.array([len(op.params) for op in ops], dtype=np.int64)
        self.mem_store = np.array(
            [1 if op.spec.num_wires == 1 or op.spec.controlled_base is not None else 2
             for op in ops], dtype=np.int64)
        n_cols = int(offsets[-1])
        self.mem_cols3 = np.full((len(ops), 3), n_cols, dtype=np.int64)  # n_cols = "never"
        for m, op in enumerate(ops):
            self.mem_cols3[m, : len(op.params)] = self.mem_col[m] + np.arange(len(op.params))
        self._layouts: dict[tuple[bytes, int], tuple[np.ndarray, ...]] = {}

    @property
    def n_blocks(self) -> int:
        return len(self.blk)

    def bind(self, angles: np.ndarray, batched_cols: np.ndarray, *,
             derivatives: bool = False) -> BoundTape:
        """Gate matrices for ``angles (Ba, n_params)``; columns flagged in ``batched_cols`` vary
        per row, all others are read from row 0 and shared by the batch."""
        rows = angles.shape[0]
        key = (batched_cols.tobytes(), rows)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = self._layout(batched_cols, rows)
            if len(self._layouts) > 64:
                self._layouts.pop(next(iter(self._layouts)))
        mem, par, mem_rows, sizes = layout
        mats1 = np.empty((max(1, sizes[0]), 2, 2), dtype=np.complex128)
        mats2 = np.empty((max(1, sizes[1]), 4, 4), dtype=np.complex128)
        if derivatives:
            dmats1 = np.empty((max(1, sizes[2]), 2, 2), dtype=np.complex128)
            dmats2 = np.empty((max(1, sizes[3]), 4, 4), dtype=np.complex128)
        else:
            dmats1, dmats2 = mats1[:1], mats2[:1]
        fill_matrices(np.ascontiguousarray(angles, dtype=np.float64), self.mem_code,
                      self.mem_col, self.mem_nparams, self.mem_store, mem[:, K.M_OFF], mem_rows,
                      FIXED, mats1, mats2, self.par_member, self.par_k, par[:, K.P_OFF], dmats1,
                      dmats2, derivatives)
        return BoundTape(self.blk, self.pref, mem, par, mats1, mats2, dmats1, dmats2, rows)

    def _layout(self, batched_cols: np.ndarray, rows: int) -> tuple[np.ndarray, ...]:
        """Where each member's (and parameter's) matrices live in the stores."""
        padded = np.append(batched_cols, False)
        varies = padded[self.mem_cols3].any(axis=1) & (rows > 1)
        mem_rows = np.where(varies, rows, 1).astype(np.int64)
        mem = np.zeros((len(self.member_ops), 4), dtype=np.int64)
        mem[:, K.M_PSTART] = self.mem_pstart
        mem[:, K.M_PEND] = self.mem_pend
        mem[:, K.M_STRIDE] = varies
        par = np.zeros((len(self.par_col), 4), dtype=np.int64)
        par[:, K.P_COL] = self.par_col
        par[:, K.P_K] = self.par_k
        par[:, K.P_STRIDE] = varies[self.par_member]
        sizes = []
        for rows_of, store_of, table, col in (
            (mem_rows, self.mem_store, mem, K.M_OFF),
            (mem_rows[self.par_member], self.mem_store[self.par_member], par, K.P_OFF),
        ):
            for store in (1, 2):
                sel = store_of == store
                counts = rows_of[sel]
                table[sel, col] = np.cumsum(counts) - counts
                sizes.append(int(counts.sum()))
        return mem, par, mem_rows, (sizes[0], sizes[1], sizes[2], sizes[3])
