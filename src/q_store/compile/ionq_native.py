"""Compile any bound circuit to IonQ's native gates: GPI, GPI2 and MS (Aria) or ZZ (Forte).

How it works, in one pass over the gates with 2x2 algebra only:

- Every one-qubit gate is multiplied into a pending 2x2 unitary of its wire. Pending unitaries
  are emitted only when a two-qubit gate (or the end) needs them, as at most two GPI2 or one
  GPI plus a *virtual Z* that stays pending (:mod:`q_store.compile.passes`); Z rotations are
  never emitted, they end up in the phases of later GPI/GPI2/MS gates. Before an MS at most
  one GPI2 is needed: the RX part of the run commutes with the MS and stays pending.
- Every two-qubit gate is one Pauli interaction ``exp(-i theta/2 P(x)Q)`` between local gates
  (table :data:`_INTERACTIONS`; controlled rotations ``CR_P(t) = R_P(t/2)_target .
  exp(+i t/4 Z (x) P)``, ``CNOT = RZ(pi/2) (x) RX(pi/2) . exp(+i pi/4 Z (x) X)`` up to phase).
  Local Cliffords turn ``P(x)Q`` into ``X(x)X`` (MS) or ``Z(x)Z`` (ZZ) and join the pending
  unitaries, so each such gate costs exactly one MS or ZZ, or none at a multiple of pi.
  Angles are reduced to ``|angle| <= 1/4`` turn (a half-turn is local Paulis); a negative MS
  angle is a phase shift of 1/2 on the first ion, a negative ZZ angle is conjugated by X on
  one qubit (IonQ documents angles in ``[0, 1/4]``).
- SWAP is free on all-to-all hardware: later gates are relabelled (``relabel_swaps=True``, the
  default) and :attr:`CompiledCircuit.output_permutation` records where each original qubit
  ends; with ``relabel_swaps=False`` it costs three interactions (XX, YY and ZZ at pi/2).
- Toffoli: the textbook six-CNOT, seven-T decomposition (Nielsen & Chuang, Fig. 4.9), so six
  two-qubit native gates, the number IonQ bills for a three-qubit gate.
- The Z rotations still pending at the end are dropped: measurement in the computational basis
  cannot see them. :attr:`CompiledCircuit.final_z_turns` keeps them, so
  :meth:`CompiledCircuit.circuit_with_final_z` is unitarily equal to the input (up to global
  phase and the output permutation).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from q_store.backends.cost import count_billed_gates
from q_store.circuit.expr import Const
from q_store.circuit.gates import GATES
from q_store.circuit.ir import Circuit, Operation
from q_store.compile.passes import (
    ATOL,
    TWO_PI,
    native_before_xx,
    native_single_qubit,
    normalize_turns,
    rz_matrix,
)
from q_store.errors import CircuitError, ConfigError, ValidationError

__all__ = ["NATIVE_GATES", "CompiledCircuit", "IonQNativeGateCompiler", "parse_target"]

NATIVE_GATES = {"aria": ("GPI", "GPI2", "MS"), "forte": ("GPI", "GPI2", "ZZ")}
_TARGET_RE = re.compile(r"^(?:qpu\.)?(aria|forte)(?:-[a-z0-9][a-z0-9-]*)?$")
_ALLOWED = "'aria', 'forte', or an IonQ backend name such as 'qpu.aria-1' or 'qpu.forte-1'"

_I = np.eye(2, dtype=complex)
_PAULI = {"X": GATES["X"].matrix(), "Y": GATES["Y"].matrix(), "Z": GATES["Z"].matrix()}
_FIXED_1Q = {n: s.matrix() for n, s in GATES.items() if s.num_wires == 1 and not s.num_params}


def _rot(name: str, angle: float) -> np.ndarray:
    return GATES[name].matrix(np.array([angle]))


# Clifford M with M P M^dag = C: turns a P(x)Q interaction into the target's C(x)C
_TO_CORE = {
    "X": {"X": _I, "Y": rz_matrix(-0.5 * math.pi), "Z": _rot("RY", 0.5 * math.pi)},
    "Z": {"Z": _I, "X": _rot("RY", -0.5 * math.pi), "Y": _rot("RX", 0.5 * math.pi)},
}

Local = tuple[np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class Interaction:
    """``after . exp(-i theta/2 P(x)Q) . before`` (``after``/``before``: one 2x2 or None per
    wire), equal to a two-qubit gate up to global phase."""

    paulis: str
    theta: float
    before: Local = (None, None)
    after: Local = (None, None)


def _controlled(pauli: str) -> Callable[[tuple[float, ...]], Interaction]:
    return lambda p: Interaction("Z" + pauli, -0.5 * p[0],
                                 after=(None, _rot("R" + pauli, 0.5 * p[0])))


def _ms(p: tuple[float, ...]) -> Interaction:
    f0, f1 = TWO_PI * p[0], TWO_PI * p[1]
    return Interaction("XX", TWO_PI * p[2], (rz_matrix(-f0), rz_matrix(-f1)),
                       (rz_matrix(f0), rz_matrix(f1)))


_INTERACTIONS: dict[str, Callable[[tuple[float, ...]], Interaction]] = {
    "CNOT": lambda p: Interaction("ZX", -0.5 * math.pi,
                                  after=(rz_matrix(0.5 * math.pi), _rot("RX", 0.5 * math.pi))),
    "CZ": lambda p: Interaction("ZZ", -0.5 * math.pi,
                                after=(rz_matrix(0.5 * math.pi), rz_matrix(0.5 * math.pi))),
    "RXX": lambda p: Interaction("XX", p[0]),
    "RYY": lambda p: Interaction("YY", p[0]),
    "RZZ": lambda p: Interaction("ZZ", p[0]),
    "CRX": _controlled("X"),
    "CRY": _controlled("Y"),
    "CRZ": _controlled("Z"),
    "MS": _ms,
    "ZZ": lambda p: Interaction("ZZ", TWO_PI * p[0]),
}
_SWAP = (Interaction("XX", 0.5 * math.pi), Interaction("YY", 0.5 * math.pi),
         Interaction("ZZ", 0.5 * math.pi))
# Toffoli(c0, c1, t) on local wires 0, 1, 2, in time order
_TOFFOLI = (("H", (2,)), ("CNOT", (1, 2)), ("Tdg", (2,)), ("CNOT", (0, 2)), ("T", (2,)),
            ("CNOT", (1, 2)), ("Tdg", (2,)), ("CNOT", (0, 2)), ("T", (1,)), ("T", (2,)),
            ("H", (2,)), ("CNOT", (0, 1)), ("T", (0,)), ("Tdg", (1,)), ("CNOT", (0, 1)))


def parse_target(target: str) -> str:
    """``'aria'`` or ``'forte'`` for a target or IonQ backend name (``'qpu.forte-1'``)."""
    m = _TARGET_RE.match(str(target).strip().lower()) if isinstance(target, str) else None
    if m is None:
        raise ConfigError(f"unknown IonQ native-gate target {target!r}; allowed: {_ALLOWED}")
    return m.group(1)


@dataclass(frozen=True)
class CompiledCircuit:
    """A native-gate circuit plus what is needed to relate it to the input circuit.

    ``circuit`` acts on compiled wires. It equals the input up to (1) the dropped final Z
    rotations ``final_z_turns`` (per compiled wire, turns) and (2) the relabelling
    ``output_permutation[w]`` = the original wire whose state ends on compiled wire ``w``.
    Measured probabilities need only (2): use :meth:`restore_probabilities`.
    """

    circuit: Circuit
    target: str
    final_z_turns: tuple[float, ...]
    output_permutation: tuple[int, ...]
    gate_counts_before: Mapping[str, int] = field(hash=False)
    gate_counts_after: Mapping[str, int] = field(hash=False)
    one_qubit_before: int
    one_qubit_after: int
    two_qubit_before: int
    two_qubit_after: int

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    @property
    def is_permuted(self) -> bool:
        return self.output_permutation != tuple(range(self.n_qubits))

    def circuit_with_final_z(self) -> Circuit:
        """``circuit`` followed by the dropped RZ gates: unitarily equal to the input up to
        global phase and ``output_permutation`` (not native: for checking, not for hardware)."""
        ops = [Operation("RZ", (w,), (Const(TWO_PI * t),))
               for w, t in enumerate(self.final_z_turns) if t]
        return Circuit(self.n_qubits, self.circuit.operations + tuple(ops))

    def restore_probabilities(self, values: np.ndarray) -> np.ndarray:
        """Reorder ``(..., 2**n)`` probabilities (or amplitudes) of the compiled circuit into
        the input circuit's wire order (big-endian, wire 0 the most significant bit)."""
        arr = np.asarray(values)
        n = self.n_qubits
        if arr.ndim < 1 or arr.shape[-1] != 2**n:
            raise ValidationError(
                f"expected an array shaped (..., {2**n}) for {n} qubits, got {arr.shape}")
        if not self.is_permuted:
            return arr.copy()
        lead = arr.ndim - 1
        where = [0] * n  # original wire -> compiled wire
        for w, orig in enumerate(self.output_permutation):
            where[orig] = w
        t = arr.reshape(*arr.shape[:-1], *(2,) * n)
        axes = (*range(lead), *(lead + where[orig] for orig in range(n)))
        return np.transpose(t, axes).reshape(arr.shape)

    @property
    def stats(self) -> dict[str, int]:
        """Billed gate counts before and after compilation."""
        return {"one_qubit_before": self.one_qubit_before, "one_qubit_after": self.one_qubit_after,
                "two_qubit_before": self.two_qubit_before, "two_qubit_after": self.two_qubit_after}

    def report(self) -> str:
        """One line: billed one- and two-qubit gate counts before -> after."""
        return (f"IonQ {self.target} native: 1q {self.one_qubit_before} -> {self.one_qubit_after}, "
                f"2q {self.two_qubit_before} -> {self.two_qubit_after}, "
                f"gates {sum(self.gate_counts_before.values())} -> "
                f"{sum(self.gate_counts_after.values())}")


class IonQNativeGateCompiler:
    """Compile bound circuits to IonQ native gates for ``target`` (``'aria'``: GPI, GPI2, MS;
    ``'forte'``: GPI, GPI2, ZZ; IonQ backend names such as ``'qpu.aria-1'`` accepted)."""

    def __init__(self, target: str = "aria", *, relabel_swaps: bool = True,
                 atol: float = ATOL) -> None:
        self.target = parse_target(target)
        self.relabel_swaps = bool(relabel_swaps)
        if not (isinstance(atol, (int, float)) and 0.0 <= atol < 1e-6):
            raise ConfigError(f"atol must be a number in [0, 1e-6), got {atol!r}")
        self.atol = float(atol)

    @property
    def native_gates(self) -> tuple[str, ...]:
        return NATIVE_GATES[self.target]

    def __repr__(self) -> str:
        return (f"IonQNativeGateCompiler(target={self.target!r}, "
                f"relabel_swaps={self.relabel_swaps})")

    def compile(self, circuit: Circuit) -> CompiledCircuit:
        """Compile a bound circuit; see the module docstring for what is guaranteed.

        Results are memoised by content (the circuit and this compiler's settings; bounded,
        thread-safe): pricing a job and building its request compile the same circuits."""
        if not isinstance(circuit, Circuit):
            raise CircuitError(f"expected a q_store Circuit, got {type(circuit).__name__}")
        if circuit.symbols:
            names = ", ".join(str(s) for s in sorted(circuit.symbols)[:5])
            raise CircuitError(f"the circuit has unbound symbols ({names}); bind weights and "
                               "inputs with circuit.bind(...) before compiling to native gates")
        return _compile(circuit, self.target, self.relabel_swaps, self.atol)

    def compile_circuit(self, circuit: Circuit) -> Circuit:
        """Just the native circuit, with the same measured probabilities as the input: final
        Z dropped, SWAPs always compiled to gates (three interactions each) since no
        permutation is returned; :meth:`compile` relabels them for free."""
        if not self.relabel_swaps:
            return self.compile(circuit).circuit
        no_relabel = IonQNativeGateCompiler(self.target, relabel_swaps=False, atol=self.atol)
        return no_relabel.compile(circuit).circuit


@functools.lru_cache(maxsize=4096)
def _compile(circuit: Circuit, target: str, relabel_swaps: bool, atol: float) -> CompiledCircuit:
    """The compilation behind :meth:`IonQNativeGateCompiler.compile` (pure: its inputs decide
    the output, so it is memoised)."""
    run = _Run(circuit.n_qubits, target, relabel_swaps, atol)
    for op in circuit.operations:
        run.apply(op.gate, op.wires,
                  tuple(p.value if isinstance(p, Const) else float(p) for p in op.params))
    frames = run.finish()
    out = Circuit(circuit.n_qubits, tuple(run.ops))
    perm = [0] * circuit.n_qubits
    for orig, w in enumerate(run.phys):
        perm[w] = orig
    b1, b2 = count_billed_gates(circuit)
    a1, a2 = count_billed_gates(out)
    return CompiledCircuit(
        out, target, tuple(normalize_turns(f / TWO_PI, 1.0, atol) for f in frames),
        tuple(perm), circuit.count_ops(), out.count_ops(), b1, a1, b2, a2)


class _Run:
    """State of one compilation: pending 2x2 unitary per compiled wire, logical -> compiled
    wire map, emitted operations."""

    def __init__(self, n: int, target: str, relabel_swaps: bool, atol: float) -> None:
        self.pending = [_I.copy() for _ in range(n)]
        self.phys = list(range(n))
        self.core = "X" if target == "aria" else "Z"
        self.relabel_swaps = relabel_swaps
        self.atol = atol
        self.ops: list[Operation] = []

    def apply(self, gate: str, wires: tuple[int, ...], params: tuple[float, ...]) -> None:
        if len(wires) == 1:
            if gate == "I":
                return
            m = _FIXED_1Q.get(gate)
            if m is None:
                m = GATES[gate].matrix(np.asarray(params))
            q = self.phys[wires[0]]
            self.pending[q] = m @ self.pending[q]
            return
        if gate == "Toffoli":
            for g, local in _TOFFOLI:
                self.apply(g, tuple(wires[i] for i in local), ())
            return
        a, b = self.phys[wires[0]], self.phys[wires[1]]
        if gate == "SWAP":
            if self.relabel_swaps:
                self.phys[wires[0]], self.phys[wires[1]] = b, a
            else:
                for inter in _SWAP:
                    self._interact(a, b, inter)
            return
        self._interact(a, b, _INTERACTIONS[gate](params))

    def _interact(self, a: int, b: int, inter: Interaction) -> None:
        to_core = _TO_CORE[self.core]
        ma, mb = to_core[inter.paulis[0]], to_core[inter.paulis[1]]
        for q, m, before in ((a, ma, inter.before[0]), (b, mb, inter.before[1])):
            u = self.pending[q] if before is None else before @ self.pending[q]
            self.pending[q] = u if m is _I else m @ u
        t = inter.theta / TWO_PI  # exp(-i pi t C(x)C), t in turns
        k = round(2.0 * t)
        t -= 0.5 * k  # exp(-i pi/2 C(x)C) = -i C(x)C is local
        if t < self.atol - 0.25:  # a full negative turn: +1/4 and local Paulis, no sign flip
            t, k = t + 0.5, k - 1
        t = min(t, 0.25)  # now -1/4 < t <= 1/4
        post = [_I, _I] if k % 2 == 0 else [_PAULI[self.core], _PAULI[self.core]]
        if abs(t) > self.atol:
            self._emit_core(a, b, t, post)
        for i, (q, m, after) in enumerate(((a, ma, inter.after[0]), (b, mb, inter.after[1]))):
            u = self.pending[q] if post[i] is _I else post[i] @ self.pending[q]
            if m is not _I:
                u = m.conj().T @ u
            self.pending[q] = u if after is None else after @ u

    def _emit_core(self, a: int, b: int, t: float, post: list[np.ndarray]) -> None:
        """Emit ``exp(-i pi t C(x)C)`` (|t| <= 1/4) after the pending gates of a and b."""
        if self.core == "Z":
            if t < 0.0:  # X_f exp(-i pi |t| ZZ) X_f = exp(+i pi |t| ZZ)
                f = a if _is_diagonal(self.pending[b], self.atol) else b
                self.pending[f] = _PAULI["X"] @ self.pending[f]
                post[0 if f == a else 1] = post[0 if f == a else 1] @ _PAULI["X"]
            self._flush(a)
            self._flush(b)
            self.ops.append(Operation("ZZ", (a, b), (Const(abs(t)),)))
            return
        fa, fb = self._flush_before_xx(a), self._flush_before_xx(b)
        base0 = 0.5 if t < 0.0 else 0.0  # (-X)(x)X: the phase pi on ion a flips the sign
        p0 = normalize_turns(base0 - fa / TWO_PI, 1.0, self.atol)
        p1 = normalize_turns(-fb / TWO_PI, 1.0, self.atol)
        self.ops.append(Operation("MS", (a, b), (Const(p0), Const(p1), Const(abs(t)))))

    def _flush(self, q: int) -> float:
        """Emit wire q's pending unitary; its virtual Z (returned, radians) stays pending."""
        pulses, frame = native_single_qubit(self.pending[q], self.atol)
        for g, phase in pulses:
            self.ops.append(Operation(g, (q,), (Const(phase),)))
        self.pending[q] = rz_matrix(frame)
        return frame

    def _flush_before_xx(self, q: int) -> float:
        """Emit at most one GPI2 of wire q's pending unitary before an MS; the part that
        passes the MS stays pending, its Z frame (radians) is returned for the MS phase."""
        pulses, deferred, frame = native_before_xx(self.pending[q], self.atol)
        for g, phase in pulses:
            self.ops.append(Operation(g, (q,), (Const(phase),)))
        self.pending[q] = deferred
        return frame

    def finish(self) -> list[float]:
        """Emit every pending unitary; the final virtual Z per compiled wire (radians)."""
        return [self._flush(q) for q in range(len(self.pending))]


def _is_diagonal(u: np.ndarray, atol: float) -> bool:
    return abs(u[1, 0]) <= atol and abs(u[0, 1]) <= atol

