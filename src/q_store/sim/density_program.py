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
multi-qubit gates with their channels; other gate PTMs are built per sample inside the kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from q_store.circuit.gates import GATES
from q_store.sim import density_kernels as D
from q_store.sim.gatemath import CODES
from q_store.sim.noise import KrausChannel, NoiseModel

__all__ = ["FIXED_FULL", "NoisyTape", "channel_ptm", "lower", "pauli_basis"]


def _fixed_full() -> np.ndarray:
    out = np.zeros((len(GATES), 8, 8), dtype=np.complex128)
    for name, spec in GATES.items():
        if spec.num_params == 0:
            m = spec.matrix()
            out[CODES[name], : len(m), : len(m)] = m
    return out


FIXED_FULL = _fixed_full()


@dataclass(frozen=True)
class NoisyTape:
    """The lowered tape of one circuit structure under one noise model."""

    n_qubits: int
    blk: np.ndarray  # (T, BLOCK_COLS) int64
    mem: np.ndarray  # (M, 4) int64: one-qubit chain members
    chan1: np.ndarray  # (C, 4, 4) one-qubit channel PTMs
    ptms: np.ndarray  # (rows, 64) stacked PTMs of multi-qubit blocks' channels / fixed blocks
    n_params: int

    def args(self) -> tuple[np.ndarray, ...]:
        """The trailing kernel arguments after the angles."""
        return (FIXED_FULL, self.chan1, self.ptms, D.PAULI_PERM, D.PAULI_PHASE)


def pauli_basis(k: int) -> np.ndarray:
    """``(4**k, 2**k, 2**k)``: the k-qubit Pauli words in PTM index order."""
    d = 2**k
    out = np.zeros((4**k, d, d), dtype=np.complex128)
    for a in range(4**k):
        out[a, np.arange(d), D.PAULI_PERM[k, a, :d]] = D.PAULI_PHASE[k, a, :d]
    return out


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
        self.members: list[tuple[int, int, int, int]] = []
        self.pending: dict[int, list[tuple[int, int, int, int]]] = {}
        self.chan_index: dict[int, int] = {}
        self.chan1: list[np.ndarray] = []
        self.ptms: list[np.ndarray] = []
        self.ptm_rows = 0

    def channel(self, ch: KrausChannel) -> int:
        if id(ch) not in self.chan_index:
            self.chan_index[id(ch)] = len(self.chan1)
            self.chan1.append(channel_ptm([(ch, (0,))], 1))
        return self.chan_index[id(ch)]

    def take(self, w: int) -> tuple[int, int]:
        """Member range of the chain waiting on ``w`` (empty if none), now consumed."""
        chain = self.pending.pop(w, [])
        lo = len(self.members)
        self.members += chain
        return lo, len(self.members)

    def store(self, r: np.ndarray) -> int:
        row = self.ptm_rows
        padded = np.zeros((len(r), 64))
        padded[:, : len(r)] = r
        self.ptms.append(padded)
        self.ptm_rows += len(r)
        return row

    def block(self, kind: int, wires: Sequence[int], pre0: tuple[int, int],
              pre1: tuple[int, int], code: int = -1, col: int = 0, npar: int = 0,
              post: int = -1, const: int = -1) -> None:
        row = [0] * D.BLOCK_COLS
        row[D.B_KIND], row[D.B_NW] = kind, len(wires)
        for j, w in enumerate(wires):
            row[D.B_W0 + j] = w
        row[D.B_P0S], row[D.B_P0E] = pre0
        row[D.B_P1S], row[D.B_P1E] = pre1
        row[D.B_CODE], row[D.B_COL], row[D.B_NPAR] = code, col, npar
        row[D.B_POST], row[D.B_CONST] = post, const
        self.blocks.append(row)

    def flush(self, w: int) -> None:
        if self.pending.get(w):
            self.block(D.P1, (w,), self.take(w), (0, 0))


def _fixed_ptm(code: int, k: int, post: np.ndarray | None) -> np.ndarray:
    g = np.empty((4**k, 4**k))
    u = FIXED_FULL[code]
    D.ptm_pair(u, u, k, D.PAULI_PERM, D.PAULI_PHASE, 1.0, g)
    return g if post is None else post @ g


def lower(n_qubits: int, operations: Sequence[tuple[str, tuple[int, ...]]],
          noise_model: NoiseModel) -> NoisyTape:
    """The tape of a circuit given as ``(gate name, wires)`` pairs (its angles are read per
    sample from the angle row, in operation order)."""
    b = _Builder()
    col = 0
    for gate, wires in operations:
        spec = GATES[gate]
        code, npar = CODES[gate], spec.num_params
        chans = noise_model.channels_after(gate, wires)
        if spec.num_wires == 1:
            chain = b.pending.setdefault(wires[0], [])
            chain.append((D.MEMBER_GATE, code, col, npar))
            chain += [(D.MEMBER_CHANNEL, b.channel(ch), 0, 0) for ch, _ in chans]
            col += npar
            continue
        k = spec.num_wires
        last = max((j for j, (ch, _) in enumerate(chans) if ch.num_qubits > 1), default=-1)
        inner = [(ch, [wires.index(w) for w in ws]) for ch, ws in chans[: last + 1]]
        post = channel_ptm(inner, k) if inner else None
        if npar == 0:
            where = {"const": b.store(_fixed_ptm(code, k, post))}
        else:
            where = {"post": -1 if post is None else b.store(post)}
        if k == 2:
            b.block(D.G2, wires, b.take(wires[0]), b.take(wires[1]), code, col, npar, **where)
        else:
            for w in wires:
                b.flush(w)
            b.block(D.GEN, wires, (0, 0), (0, 0), code, col, npar, **where)
        for ch, ws in chans[last + 1:]:
            b.pending.setdefault(ws[0], []).append((D.MEMBER_CHANNEL, b.channel(ch), 0, 0))
        col += npar
    for w in sorted(b.pending):
        b.flush(w)
    blk = np.array(b.blocks, dtype=np.int64).reshape(-1, D.BLOCK_COLS)
    mem = np.array(b.members, dtype=np.int64).reshape(-1, 4)
    chan1 = np.array(b.chan1) if b.chan1 else np.zeros((1, 4, 4))
    ptms = np.concatenate(b.ptms) if b.ptms else np.zeros((1, 64))
    return NoisyTape(n_qubits, blk, mem, chan1, ptms, col)
