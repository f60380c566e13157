"""Rewrites of bound circuits that run fewer gates and compute the same thing.

Exact up to global phase (the circuit's unitary is unchanged; tested on random circuits):

- :func:`remove_identities`: gates whose matrix is a multiple of the identity (``I``,
  rotations by multiples of 2 pi, controlled rotations by multiples of 4 pi, ``RZZ(0)`` ...).
- :func:`cancel_and_merge`: a gate and the next gate on exactly the same wires (nothing in
  between on those wires; gates on other wires commute past) cancel when their product is a
  multiple of the identity (``H H``, ``CNOT CNOT``, ``S Sdg``, ``RXX(a) RXX(-a)`` ...), or merge
  when they are rotations about the same generator (``RX(a) RX(b) = RX(a + b)``,
  ``CRZ(a) CRZ(b) = CRZ(a + b)``, ``RZZ`` on either wire order ...).
- :func:`fuse_single_qubit_runs`: a run of one-qubit gates on a wire becomes the fewest Pauli
  rotations with the same product (:mod:`q_store.compile.euler`), or one ``U3`` where that is
  shorter, but only where neither the gate count nor the count IonQ bills (``U3`` is sent as
  three rotations) grows.

Exact for what a computational-basis measurement sees:

- :func:`remove_final_diagonal`: diagonal gates followed, on every wire they can reach, only by
  gates that map basis states to basis states (CNOT, X, SWAP, CZ, RZ ...): such a gate moves to
  the end as another diagonal gate, which changes no probability.
- :func:`prune_light_cone`: gates outside the backward light cone of the measured wires. A gate
  whose wires no later kept gate connects to a measured wire acts, after reordering, on the
  unmeasured wires only, at the end: the marginal distribution of the measured wires is
  unchanged (the full distribution is not, so use it only where only those wires are read).

Approximate, only when asked: :func:`drop_small_entanglers` removes two-qubit rotations within
a tolerance of the identity; :func:`state_fidelity` measures what that costs.

All passes take and return :class:`~q_store.circuit.ir.Circuit` values with numeric angles and
never add a gate. IonQ native gates (GPI, GPI2, MS, ZZ) are cancelled, merged and removed but
never fused into QIS rotations (IonQ refuses circuits that mix the two gate sets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

from q_store.circuit.expr import Const
from q_store.circuit.gates import gate_spec
from q_store.circuit.ir import Circuit, Operation
from q_store.compile.euler import equal_up_to_phase, fewest_rotations, rotation_matrix
from q_store.errors import CircuitError

__all__ = [
    "ATOL",
    "billed_weight",
    "cancel_and_merge",
    "drop_small_entanglers",
    "fuse_runs",
    "fuse_single_qubit_runs",
    "is_identity",
    "operation_matrix",
    "prune_light_cone",
    "remove_final_diagonal",
    "remove_identities",
    "state_fidelity",
]

ATOL = 1e-12  # a gate this close to the identity (matrix entries) is the identity
TWO_PI = 2.0 * math.pi
NATIVE = frozenset({"GPI", "GPI2", "MS", "ZZ"})
# rotations whose product with the same gate on the same wires adds the angles
_ADDITIVE = frozenset({"RX", "RY", "RZ", "PhaseShift", "RXX", "RYY", "RZZ", "CRX", "CRY",
                       "CRZ", "ZZ"})
_SYMMETRIC = frozenset({"RXX", "RYY", "RZZ", "ZZ", "CZ", "SWAP"})
_AXIS = {"RX": "X", "RY": "Y", "RZ": "Z"}
# two-qubit rotations for approximate pruning: angle in radians from the parameter, and the
# period after which the gate is the identity up to phase
_ENTANGLER_ANGLE: dict[str, tuple[Callable[[tuple[float, ...]], float], float]] = {
    "RXX": (lambda p: p[0], TWO_PI), "RYY": (lambda p: p[0], TWO_PI),
    "RZZ": (lambda p: p[0], TWO_PI), "CRX": (lambda p: p[0], 2 * TWO_PI),
    "CRY": (lambda p: p[0], 2 * TWO_PI), "CRZ": (lambda p: p[0], 2 * TWO_PI),
    "ZZ": (lambda p: TWO_PI * p[0], TWO_PI), "MS": (lambda p: TWO_PI * p[2], TWO_PI),
}


# -- gate algebra ---------------------------------------------------------------------------------

def _values(op: Operation) -> tuple[float, ...]:
    if all(isinstance(p, Const) for p in op.params):
        return tuple(p.value for p in op.params)  # type: ignore[attr-defined]
    if not all(p.is_constant for p in op.params):
        raise CircuitError(f"circuit optimisation needs bound circuits; {op} has a free "
                           "parameter (bind weights and inputs first)")
    return tuple(float(p) for p in op.params)


@lru_cache(maxsize=4096)
def _matrix(gate: str, params: tuple[float, ...]) -> np.ndarray:
    if gate in _AXIS:  # the hot path: rotations with fresh angles in every bound circuit
        m = rotation_matrix(_AXIS[gate], params[0])
    else:
        m = gate_spec(gate).matrix(np.array(params) if params else None)
    m.setflags(write=False)
    return m


def operation_matrix(op: Operation) -> np.ndarray:
    """The matrix of a bound operation (big-endian in its wire order)."""
    return _matrix(op.gate, _values(op))


def is_identity(m: np.ndarray, atol: float = ATOL) -> bool:
    """Whether ``m`` is a phase times the identity."""
    d = m[0, 0]
    if abs(abs(d) - 1.0) > atol:
        return False
    if len(m) == 2:
        return abs(m[0, 1]) <= atol and abs(m[1, 0]) <= atol and abs(m[1, 1] - d) <= atol
    return bool(np.max(np.abs(m - d * np.eye(len(m)))) <= atol)


def _is_identity_op(op: Operation) -> bool:
    if op.gate in _AXIS:  # R_P(t) is -I at t = 2 pi: the identity up to phase
        return abs(math.remainder(_values(op)[0], TWO_PI)) <= ATOL
    return is_identity(operation_matrix(op))


def billed_weight(op: Operation) -> int:
    """Gates IonQ bills for ``op`` (U3 goes as three rotations, I as nothing)."""
    return {"U3": 3, "I": 0}.get(op.gate, 1)


@lru_cache(maxsize=4096)
def _structure(gate: str, params: tuple[float, ...]) -> str:
    """'diagonal', 'monomial' (one nonzero per row: a permutation times phases) or 'other'."""
    if gate in _AXIS:
        t = abs(math.remainder(params[0], TWO_PI))
        if gate == "RZ" or t <= ATOL:
            return "diagonal"
        return "monomial" if abs(t - math.pi) <= ATOL else "other"
    m = np.abs(_matrix(gate, params)) > ATOL
    if not np.any(m & ~np.eye(len(m), dtype=bool)):
        return "diagonal"
    return "monomial" if np.all(m.sum(axis=0) == 1) and np.all(m.sum(axis=1) == 1) else "other"


def _in_order(m: np.ndarray, wires: tuple[int, ...], order: tuple[int, ...]) -> np.ndarray:
    """``m`` (acting on ``wires``) rewritten for the wire order ``order`` (same set)."""
    if wires == order:
        return m
    k = len(wires)
    perm = [wires.index(w) for w in order]
    t = m.reshape((2,) * 2 * k).transpose(perm + [k + p for p in perm])
    return t.reshape(2**k, 2**k)


def _op(gate: str, wires: tuple[int, ...], params: Iterable[float]) -> Operation:
    return Operation(gate, wires, tuple(Const(float(p)) for p in params))


def _rebuild(circuit: Circuit, ops: Iterable[Operation]) -> Circuit:
    return Circuit(circuit.n_qubits, tuple(ops), circuit.n_weights, circuit.n_inputs)


# -- exact passes ----------------------------------------------------------------------------------

def remove_identities(circuit: Circuit, *, min_wires: int = 1) -> Circuit:
    """Drop gates on at least ``min_wires`` wires that are the identity up to phase."""
    keep = [op for op in circuit.operations
            if len(op.wires) < min_wires or not _is_identity_op(op)]
    return circuit if len(keep) == len(circuit.operations) else _rebuild(circuit, keep)


def _combine(a: Operation, b: Operation, *, cancel: bool, merge: bool
             ) -> tuple[str, Operation | None]:
    """What ``a`` then ``b`` (same wire set, adjacent on all of them) become: ('cancel',
    None), ('merge', gate) or ('keep', None)."""
    if merge and a.gate == b.gate and a.gate in _ADDITIVE and (
            a.wires == b.wires or (a.gate in _SYMMETRIC and set(a.wires) == set(b.wires))):
        merged = _op(a.gate, a.wires, (_values(a)[0] + _values(b)[0],))
        return ("cancel", None) if is_identity(operation_matrix(merged)) else ("merge", merged)
    if cancel:
        mb = _in_order(operation_matrix(b), b.wires, a.wires)
        if is_identity(mb @ operation_matrix(a)):
            return "cancel", None
    return "keep", None


def cancel_and_merge(circuit: Circuit, *, cancel: bool = True, merge: bool = True) -> Circuit:
    """Cancel inverse pairs and merge same-generator rotations that are adjacent on their wires;
    cascades (``H X X H`` is cancelled completely)."""
    out: list[Operation | None] = []
    last: list[list[int]] = [[] for _ in range(circuit.n_qubits)]  # kept op indices per wire
    changed = False
    for op in circuit.operations:
        tops = {last[w][-1] if last[w] else -1 for w in op.wires}
        if len(tops) == 1 and (i := tops.pop()) >= 0:
            prev = out[i]
            assert prev is not None
            if set(prev.wires) == set(op.wires):
                action, merged = _combine(prev, op, cancel=cancel, merge=merge)
                if action != "keep":
                    changed = True
                    if action == "merge":
                        out[i] = merged
                    else:
                        out[i] = None
                        for w in op.wires:
                            last[w].pop()
                    continue
        for w in op.wires:
            last[w].append(len(out))
        out.append(op)
    return _rebuild(circuit, (op for op in out if op is not None)) if changed else circuit


def fuse_single_qubit_runs(circuit: Circuit) -> Circuit:
    """Each maximal run of one-qubit gates on a wire replaced by the fewest rotations (or one
    U3) with the same product up to phase, where that lowers the gate count without raising
    the billed count (and the reverse)."""
    return fuse_runs(circuit)[0]


def fuse_runs(circuit: Circuit) -> tuple[Circuit, bool]:
    """:func:`fuse_single_qubit_runs`, and whether a run vanished (was the identity), which
    can make two-qubit gates adjacent that were not."""
    ops = circuit.operations
    slots: list[list[Operation]] = [[op] for op in ops]
    runs: dict[int, list[int]] = {}
    changed = vanished = False

    def close(w: int) -> None:
        nonlocal changed, vanished
        run = runs.pop(w, None)
        if not run or len(run) < 2:
            return
        new = _fused(tuple(ops[i] for i in run))
        if new is not None:
            for i in run:
                slots[i] = []
            slots[run[-1]] = list(new)
            changed = True
            vanished = vanished or not new

    for i, op in enumerate(ops):
        if len(op.wires) == 1:
            runs.setdefault(op.wires[0], []).append(i)
        else:
            for w in op.wires:
                close(w)
    for w in list(runs):
        close(w)
    if not changed:
        return circuit, False
    return _rebuild(circuit, (op for s in slots for op in s)), vanished


@lru_cache(maxsize=8192)
def _fused(run: tuple[Operation, ...]) -> tuple[Operation, ...] | None:
    """The replacement of a run of one-qubit gates on one wire, or None if it cannot get
    cheaper (cached: a run that cannot improve is met again at the next round)."""
    if any(op.gate in NATIVE for op in run):
        return None
    w = run[0].wires
    u = np.eye(2, dtype=complex)
    for op in run:
        u = operation_matrix(op) @ u
    new = [_op(g, w, (t,)) for g, t in fewest_rotations(u)]
    if len(new) == 3:
        new = [_op("U3", w, _u3_angles(u))]
    old_cost = (sum(billed_weight(op) for op in run), len(run))
    new_cost = (sum(billed_weight(op) for op in new), len(new))
    if all(n <= o for n, o in zip(new_cost, old_cost, strict=True)) and new_cost != old_cost:
        return tuple(new)
    return None


def _u3_angles(u: np.ndarray) -> tuple[float, float, float]:
    """``(theta, phi, lam)`` with ``U3(theta, phi, lam) = e^{ig} u``."""
    theta = 2.0 * math.atan2(abs(u[1, 0]), abs(u[0, 0]))
    if abs(u[0, 0]) > 1e-9 and abs(u[1, 0]) > 1e-9:
        g = np.angle(u[0, 0])
        phi, lam = np.angle(u[1, 0]) - g, np.angle(-u[0, 1]) - g
    elif abs(u[1, 0]) <= 1e-9:  # diagonal
        phi, lam = 0.0, np.angle(u[1, 1]) - np.angle(u[0, 0])
    else:  # anti-diagonal
        phi, lam = np.angle(u[1, 0]) - np.angle(-u[0, 1]), 0.0
    out = (theta, float(phi), float(lam))
    assert equal_up_to_phase(_matrix("U3", out), u), "U3 angles must rebuild the run"
    return out


def remove_final_diagonal(circuit: Circuit, *, min_wires: int = 1) -> Circuit:
    """Drop diagonal gates (on at least ``min_wires`` wires) after which only basis-permuting
    gates touch the wires they reach (computational-basis probabilities are unchanged)."""
    ops = circuit.operations
    quantum: set[int] = set()  # wires whose future holds a gate that mixes basis states
    keep = [True] * len(ops)
    for i in range(len(ops) - 1, -1, -1):
        op = ops[i]
        kind = _structure(op.gate, _values(op))
        touches = not quantum.isdisjoint(op.wires)
        if kind == "diagonal" and not touches and len(op.wires) >= min_wires:
            keep[i] = False
        elif kind == "other" or touches:
            quantum.update(op.wires)
    if all(keep):
        return circuit
    return _rebuild(circuit, (op for op, k in zip(ops, keep, strict=True) if k))


def prune_light_cone(circuit: Circuit, measured: Iterable[int]) -> Circuit:
    """Only the gates in the backward light cone of the ``measured`` wires (their marginal
    distribution is unchanged)."""
    cone = set(measured)
    keep = []
    for op in reversed(circuit.operations):
        if not cone.isdisjoint(op.wires):
            cone.update(op.wires)
            keep.append(op)
    if len(keep) == len(circuit.operations):
        return circuit
    return _rebuild(circuit, reversed(keep))


# -- approximate -----------------------------------------------------------------------------------

def drop_small_entanglers(circuit: Circuit, tolerance: float) -> Circuit:
    """Remove two-qubit rotations (RXX, RYY, RZZ, CRX, CRY, CRZ, ZZ, MS) whose angle is within
    ``tolerance`` radians of a multiple of the gate's identity period. Not exact: measure the
    cost with :func:`state_fidelity`."""
    keep = []
    for op in circuit.operations:
        rule = _ENTANGLER_ANGLE.get(op.gate)
        if rule is not None:
            angle, period = rule[0](_values(op)), rule[1]
            if abs(math.remainder(angle, period)) <= tolerance:
                continue
        keep.append(op)
    return circuit if len(keep) == len(circuit.operations) else _rebuild(circuit, keep)


def state_fidelity(a: Circuit, b: Circuit) -> float:
    """``|<0|A^dag B|0>|^2``: how close the states the two circuits prepare are (simulated)."""
    from q_store.sim.statevector import StatevectorSimulator

    sim = StatevectorSimulator()
    return float(abs(np.vdot(sim.state(a), sim.state(b))) ** 2)
