"""Lowering a circuit under a noise model to the density-matrix tape of
:mod:`q_store.sim.density_kernels`.

Fusion rules (each one keeps the exact map, only regroups it):

* one-qubit gates and every one-qubit channel that follows them wait on their wire as a chain
  (one 4x4 superoperator per sample); the chain is applied inside the next multi-qubit block on
  that wire (same pass), or as its own pass at the end;
* a multi-qubit gate's channels up to its last multi-qubit channel are folded into the gate's
  PTM (depolarizing: a diagonal); the one-qubit channels after that wait on their wires;
* three-qubit gates (Toffoli) flush their wires' chains and run as a 64x64 PTM.

Channels never depend on angles, so their PTMs are built here once, and so are the PTMs of fixed
gates (with their channels); the PTMs of parametrised gates are built per call by
:class:`~q_store.sim.density_bind.Binder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from q_store.circuit.gates import GATES
from q_store.sim import density_kernels as D
from q_store.sim.density_bind import Binder, BoundMatrices, _ParamBlock, pauli_basis, unitary_ptm
from q_store.sim.noise import KrausChannel, NoiseModel

__all__ = ["NoisyTape", "channel_ptm", "lower"]


@dataclass(frozen=True)
class NoisyTape:
    """The lowered tape of one circuit structure under one noise model."""

    n_qubits: int
    blk: np.ndarray  # (T, BLOCK_COLS) int64
    mem: np.ndarray  # (M, MEMBER_COLS) int64: one-qubit chain members
    n_params: int
    binder: Binder

    def bind(self, angles: np.ndarray, derivatives: bool = False) -> BoundMatrices:
        """The per-sample matrices for angle rows ``(R, P)``."""
        return self.binder.bind(angles, derivatives)


def _embed(op: np.ndarray, pos: Sequence[int], k: int) -> np.ndarray:
    """``op`` on local wires ``pos`` of a k-wire space (big-endian), as a 2**k matrix."""
    r = len(pos)
    rest = [j for j in range(k) if j not in pos]
    full = np.kron(op, np.eye(2 ** (k - r))).reshape((2,) * (2 * k))
    perm = list(np.argsort([*pos, *rest]))
    return full.transpose(perm + [k + p for p in perm]).reshape(2**k, 2**k)


def channel_ptm(channels: Sequence[tuple[KrausChannel, Sequence[int]]], k: int) -> np.ndarray:
    """``(4**k, 4**k)`` PTM of channels applied in order, each on local positions of k wires:
    ``R[a, b] = Tr(P_a E(P_b)) / 2**k``."""
    basis = pauli_basis(k)
    out = basis.copy()
    for ch, pos in channels:
        ops = [_embed(op, pos, k) for op in ch.operators]
        out = np.array([sum(o @ m @ o.conj().T for o in ops) for m in out])
    return np.einsum("aij,bji->ab", basis, out).real / 2**k


class _Builder:
    def __init__(self) -> None:
        self.blocks: list[list[int]] = []
        self.members: list[tuple[str | None, int, np.ndarray | None]] = []  # gate, col, PTM
        self.pending: dict[int, list[tuple[str | None, int, np.ndarray | None]]] = {}
        self.chan: dict[int, np.ndarray] = {}
        self.gstore: list[np.ndarray] = []
        self.gsize = self.dgsize = 0
        self.param_blocks: list[_ParamBlock] = []

    def gate(self, w: int, gate: str, col: int) -> None:
        spec = GATES[gate]
        ptm = None if spec.num_params else unitary_ptm(spec.matrix()[None])[0]
        self.pending.setdefault(w, []).append((gate if spec.num_params else None, col, ptm))

    def channel(self, w: int, ch: KrausChannel) -> None:
        if id(ch) not in self.chan:
            self.chan[id(ch)] = channel_ptm([(ch, (0,))], 1)
        self.pending.setdefault(w, []).append((None, 0, self.chan[id(ch)]))

    def take(self, w: int) -> tuple[int, int]:
        """Member range of the chain waiting on ``w`` (empty if none), now consumed."""
        chain = self.pending.pop(w, [])
        lo = len(self.members)
        self.members += chain
        return lo, len(self.members)

    def block(self, kind: int, wires: Sequence[int], pre0: tuple[int, int],
              pre1: tuple[int, int], gate: str | None = None, col: int = 0,
              post: np.ndarray | None = None) -> None:
        row = [0] * D.BLOCK_COLS
        row[D.B_KIND], row[D.B_NW] = kind, len(wires)
        for j, w in enumerate(wires):
            row[D.B_W0 + j] = w
        row[D.B_P0S], row[D.B_P0E] = pre0
        row[D.B_P1S], row[D.B_P1E] = pre1
        row[D.B_GOFF] = row[D.B_DGOFF] = -1
        if gate is not None:
            spec = GATES[gate]
            size = 16**spec.num_wires
            row[D.B_COL], row[D.B_NPAR], row[D.B_GOFF] = col, spec.num_params, self.gsize
            if spec.num_params:
                row[D.B_DGOFF] = self.dgsize
                self.param_blocks.append(_ParamBlock(gate, col, spec.num_params, self.gsize,
                                                     self.dgsize, post))
                self.gstore.append(np.zeros(size))
                self.dgsize += size * spec.num_params
            else:
                g = unitary_ptm(spec.matrix()[None])[0]
                self.gstore.append((g if post is None else post @ g).reshape(-1))
            self.gsize += size
        self.blocks.append(row)

    def flush(self, w: int) -> None:
        if self.pending.get(w):
            self.block(D.P1, (w,), self.take(w), (0, 0))

    def binder(self) -> tuple[np.ndarray, Binder, int]:
        mem = np.zeros((len(self.members), D.MEMBER_COLS), dtype=np.int64)
        const = np.zeros((max(len(self.members), 1), 4, 4))
        groups: dict[str, list[int]] = {}
        n_dmem = 0
        for m, (gate, col, ptm) in enumerate(self.members):
            mem[m, D.M_DOFF] = -1
            if gate is None:
                const[m] = ptm
                continue
            npar = GATES[gate].num_params
            mem[m, D.M_COL], mem[m, D.M_NPAR], mem[m, D.M_DOFF] = col, npar, n_dmem
            n_dmem += npar
            groups.setdefault(gate, []).append(m)
        member_groups = []
        for gate, idx in groups.items():
            ix = np.array(idx, dtype=np.int64)
            cols = mem[ix, D.M_COL][:, None] + np.arange(GATES[gate].num_params)
            member_groups.append((gate, ix, cols, mem[ix, D.M_DOFF]))
        gstore = np.concatenate(self.gstore) if self.gstore else np.zeros(1)
        return mem, Binder(const, member_groups, gstore, self.param_blocks, n_dmem,
                           self.dgsize), n_dmem


def lower(n_qubits: int, operations: Sequence[tuple[str, tuple[int, ...]]],
          noise_model: NoiseModel) -> NoisyTape:
    """The tape of a circuit given as ``(gate name, wires)`` pairs (its angles are read per
    sample from the angle row, in operation order)."""
    b = _Builder()
    col = 0
    for gate, wires in operations:
        spec = GATES[gate]
        chans = noise_model.channels_after(gate, wires)
        if spec.num_wires == 1:
            b.gate(wires[0], gate, col)
            for ch, _ in chans:
                b.channel(wires[0], ch)
            col += spec.num_params
            continue
        k = spec.num_wires
        last = max((j for j, (ch, _) in enumerate(chans) if ch.num_qubits > 1), default=-1)
        inner = [(ch, [wires.index(w) for w in ws]) for ch, ws in chans[: last + 1]]
        post = channel_ptm(inner, k) if inner else None
        if k == 2:
            b.block(D.G2, wires, b.take(wires[0]), b.take(wires[1]), gate, col, post)
        else:
            for w in wires:
                b.flush(w)
            b.block(D.GEN, wires, (0, 0), (0, 0), gate, col, post)
        for ch, ws in chans[last + 1:]:
            b.channel(ws[0], ch)
        col += spec.num_params
    for w in sorted(b.pending):
        b.flush(w)
    mem, binder, _ = b.binder()
    blk = np.array(b.blocks, dtype=np.int64).reshape(-1, D.BLOCK_COLS)
    for row in mem:
        row[D.M_KIND] = D.MEMBER_PARAM if row[D.M_DOFF] >= 0 else D.MEMBER_FIXED
    return NoisyTape(n_qubits, blk, mem, col, binder)
