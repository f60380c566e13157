"""Immutable, hashable circuits: the one representation everything else produces or consumes.

A :class:`Circuit` is a template: gate angles are :mod:`expressions <q_store.circuit.expr>` over
trainable weights ``theta[i]`` and data inputs ``x[j]``. Equality and hash come from the value,
so a circuit is its own cache key. Build with chained calls, each returning a new circuit, or
with a mutable :class:`CircuitBuilder` for long circuits.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from q_store.circuit.expr import Const, Expr, Symbol, as_expr
from q_store.circuit.gates import GateSpec, gate_spec
from q_store.errors import BindingError, CircuitError

__all__ = ["Circuit", "CircuitBuilder", "Operation", "check_wires"]

Angle = Expr | float
_B = TypeVar("_B", bound="_GateMethods")


@dataclass(frozen=True, slots=True)
class Operation:
    """One gate on specific wires with its parameter expressions."""

    gate: str
    wires: tuple[int, ...]
    params: tuple[Expr, ...] = ()

    @staticmethod
    def make(gate: str, wires: Sequence[int] | int, params: Sequence[Any] = (),
             n_qubits: int | None = None) -> Operation:
        """A validated operation; with ``n_qubits`` the wires are also checked against the
        circuit's size."""
        spec = gate_spec(gate)
        ws = check_wires(spec.name, wires, n_qubits)
        if len(ws) != spec.num_wires:
            raise CircuitError(f"{spec.name} acts on {spec.num_wires} wire(s), got wires {ws}")
        if len(set(ws)) != len(ws):
            raise CircuitError(f"{spec.name}: wires must be distinct, got {ws}")
        ps = tuple(params)
        if len(ps) != spec.num_params:
            raise CircuitError(
                f"{spec.name} takes {spec.num_params} parameter(s) {spec.param_names}, "
                f"got {len(ps)}"
            )
        return Operation(spec.name, ws, tuple(as_expr(p) for p in ps))

    @property
    def spec(self) -> GateSpec:
        return gate_spec(self.gate)

    @property
    def is_parametric(self) -> bool:
        return any(not p.is_constant for p in self.params)

    def __str__(self) -> str:
        args = f"({', '.join(str(p) for p in self.params)})" if self.params else ""
        return f"{self.gate}{args} {list(self.wires)}"


def _is_wire(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_wires(gate: str, wires: object, n_qubits: int | None = None) -> tuple[int, ...]:
    """``wires`` (one integer or a sequence of integers) as a tuple of ints, or a
    :class:`CircuitError` that names the gate, the bad wire and what is allowed."""
    allowed = (f"an integer in [0, {n_qubits})" if n_qubits is not None
               else "a non-negative integer")
    if _is_wire(wires):
        items: tuple[object, ...] = (wires,)
    elif isinstance(wires, (str, bytes)) or not isinstance(wires, Iterable):
        raise CircuitError(f"{gate}: wire must be {allowed}; got {wires!r}")
    else:
        try:
            items = tuple(wires)
        except TypeError:
            raise CircuitError(f"{gate}: wire must be {allowed}; got {wires!r}") from None
    for w in items:
        if not _is_wire(w):
            raise CircuitError(f"{gate}: wire must be {allowed}; got {w!r}")
        if w < 0 or (n_qubits is not None and w >= n_qubits):  # type: ignore[operator]
            raise CircuitError(f"{gate}: wire {w} is out of range; a wire must be {allowed}; "
                               f"got {w!r}")
    return tuple(int(w) for w in items)  # type: ignore[call-overload]


class _GateMethods:
    """Named gate methods shared by :class:`Circuit` (returns a copy) and the builder."""

    n_qubits: int

    def append(self: _B, gate: str, wires: Sequence[int] | int, *params: Any) -> _B:
        """Add ``gate`` on ``wires`` (an integer or a sequence of integers in
        ``[0, n_qubits)``) with its parameters; every named gate method goes through here."""
        return self._with(Operation.make(gate, wires, params, self.n_qubits))

    def _with(self: _B, op: Operation) -> _B:  # pragma: no cover - overridden
        raise NotImplementedError

    # fixed one-qubit gates
    def i(self: _B, w: int) -> _B:
        return self.append("I", (w,))

    def x(self: _B, w: int) -> _B:
        return self.append("X", (w,))

    def y(self: _B, w: int) -> _B:
        return self.append("Y", (w,))

    def z(self: _B, w: int) -> _B:
        return self.append("Z", (w,))

    def h(self: _B, w: int) -> _B:
        return self.append("H", (w,))

    def s(self: _B, w: int) -> _B:
        return self.append("S", (w,))

    def sdg(self: _B, w: int) -> _B:
        return self.append("Sdg", (w,))

    def t(self: _B, w: int) -> _B:
        return self.append("T", (w,))

    def tdg(self: _B, w: int) -> _B:
        return self.append("Tdg", (w,))

    def sx(self: _B, w: int) -> _B:
        return self.append("SX", (w,))

    # rotations
    def rx(self: _B, w: int, angle: Angle) -> _B:
        return self.append("RX", (w,), angle)

    def ry(self: _B, w: int, angle: Angle) -> _B:
        return self.append("RY", (w,), angle)

    def rz(self: _B, w: int, angle: Angle) -> _B:
        return self.append("RZ", (w,), angle)

    def phase(self: _B, w: int, angle: Angle) -> _B:
        return self.append("PhaseShift", (w,), angle)

    def u3(self: _B, w: int, theta: Angle, phi: Angle, lam: Angle) -> _B:
        return self.append("U3", (w,), theta, phi, lam)

    # two- and three-qubit gates
    def cnot(self: _B, control: int, target: int) -> _B:
        return self.append("CNOT", (control, target))

    cx = cnot

    def cz(self: _B, a: int, b: int) -> _B:
        return self.append("CZ", (a, b))

    def swap(self: _B, a: int, b: int) -> _B:
        return self.append("SWAP", (a, b))

    def rxx(self: _B, a: int, b: int, angle: Angle) -> _B:
        return self.append("RXX", (a, b), angle)

    def ryy(self: _B, a: int, b: int, angle: Angle) -> _B:
        return self.append("RYY", (a, b), angle)

    def rzz(self: _B, a: int, b: int, angle: Angle) -> _B:
        return self.append("RZZ", (a, b), angle)

    def crx(self: _B, control: int, target: int, angle: Angle) -> _B:
        return self.append("CRX", (control, target), angle)

    def cry(self: _B, control: int, target: int, angle: Angle) -> _B:
        return self.append("CRY", (control, target), angle)

    def crz(self: _B, control: int, target: int, angle: Angle) -> _B:
        return self.append("CRZ", (control, target), angle)

    def toffoli(self: _B, c0: int, c1: int, target: int) -> _B:
        return self.append("Toffoli", (c0, c1, target))

    ccx = toffoli

    # IonQ native gates (phases and angles in turns)
    def gpi(self: _B, w: int, phase: Angle) -> _B:
        return self.append("GPI", (w,), phase)

    def gpi2(self: _B, w: int, phase: Angle) -> _B:
        return self.append("GPI2", (w,), phase)

    def ms(self: _B, a: int, b: int, phase0: Angle, phase1: Angle, angle: Angle = 0.25) -> _B:
        return self.append("MS", (a, b), phase0, phase1, angle)

    def zz(self: _B, a: int, b: int, angle: Angle) -> _B:
        return self.append("ZZ", (a, b), angle)


@dataclass(frozen=True, eq=True)
class Circuit(_GateMethods):
    """An immutable circuit template on ``n_qubits`` wires.

    ``n_weights`` / ``n_inputs`` default to one more than the largest symbol index used; pass
    larger values to declare symbols the gates do not (yet) use.
    """

    n_qubits: int
    operations: tuple[Operation, ...] = ()
    n_weights: int | None = None
    n_inputs: int | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False,
                                   hash=False)

    def __post_init__(self) -> None:
        if not _is_wire(self.n_qubits) or self.n_qubits < 1:
            raise CircuitError(f"n_qubits must be a positive integer, got {self.n_qubits!r}")
        ops = tuple(self.operations)
        for op in ops:
            if not isinstance(op, Operation):
                raise CircuitError(f"operations must be Operation values, got {op!r}")
            bad = [w for w in op.wires if w >= self.n_qubits]
            if bad:
                raise CircuitError(
                    f"{op.gate} on wires {list(op.wires)}: wire {bad[0]} is out of range for a "
                    f"{self.n_qubits}-qubit circuit (allowed 0..{self.n_qubits - 1})"
                )
        object.__setattr__(self, "operations", ops)
        used_w = 1 + max((s.index for s in self.symbols if s.kind == "theta"), default=-1)
        used_x = 1 + max((s.index for s in self.symbols if s.kind == "x"), default=-1)
        for name, used in (("n_weights", used_w), ("n_inputs", used_x)):
            given = getattr(self, name)
            if given is None:
                object.__setattr__(self, name, used)
            elif not isinstance(given, numbers.Integral) or given < used:
                raise CircuitError(f"{name}={given!r} but the gates use {used}")

    def __hash__(self) -> int:
        h = self._cache.get("hash")
        if h is None:
            h = self._cache["hash"] = hash(
                (self.n_qubits, self.operations, self.n_weights, self.n_inputs))
        return h

    # -- construction -----------------------------------------------------------------------
    def _with(self, op: Operation) -> Circuit:
        syms = op.params and frozenset().union(*(p.symbols() for p in op.params))
        nw, nx = self.n_weights or 0, self.n_inputs or 0
        for s in syms or ():
            if s.kind == "theta":
                nw = max(nw, s.index + 1)
            else:
                nx = max(nx, s.index + 1)
        return Circuit(self.n_qubits, (*self.operations, op), nw, nx)

    @staticmethod
    def builder(n_qubits: int) -> CircuitBuilder:
        return CircuitBuilder(n_qubits)

    def compose(self, other: Circuit) -> Circuit:
        """This circuit followed by ``other`` (on the same or fewer qubits)."""
        if other.n_qubits > self.n_qubits:
            raise CircuitError(
                f"cannot append a {other.n_qubits}-qubit circuit to a {self.n_qubits}-qubit one")
        return Circuit(self.n_qubits, self.operations + other.operations,
                       max(self.n_weights or 0, other.n_weights or 0),
                       max(self.n_inputs or 0, other.n_inputs or 0))

    def __add__(self, other: Circuit) -> Circuit:
        return self.compose(other)

    def __len__(self) -> int:
        return len(self.operations)

    def __iter__(self) -> Any:
        return iter(self.operations)

    # -- introspection ------------------------------------------------------------------------
    @cached_property
    def symbols(self) -> frozenset[Symbol]:
        out: set[Symbol] = set()
        for op in self.operations:
            for p in op.params:
                out |= p.symbols()
        return frozenset(out)

    @property
    def param_exprs(self) -> tuple[Expr, ...]:
        """Every gate parameter in order (operation by operation): the columns of angle arrays."""
        return tuple(p for op in self.operations for p in op.params)

    @property
    def num_gate_params(self) -> int:
        return sum(len(op.params) for op in self.operations)

    def count_ops(self) -> dict[str, int]:
        return dict(Counter(op.gate for op in self.operations))

    @property
    def depth(self) -> int:
        level = [0] * self.n_qubits
        for op in self.operations:
            d = 1 + max(level[w] for w in op.wires)
            for w in op.wires:
                level[w] = d
        return max(level, default=0)

    @property
    def num_two_qubit_gates(self) -> int:
        return sum(1 for op in self.operations if len(op.wires) >= 2)

    # -- binding ------------------------------------------------------------------------------
    def bind(self, weights: Iterable[float] | None = None,
             inputs: Iterable[float] | None = None) -> Circuit:
        """A copy with every angle replaced by its numeric value."""
        w = _vector(weights, self.n_weights, "weights")
        xv = _vector(inputs, self.n_inputs, "inputs")
        ops = tuple(
            Operation(op.gate, op.wires, tuple(Const(p.bind(w, xv)) for p in op.params))
            for op in self.operations
        )
        return Circuit(self.n_qubits, ops)

    # -- views --------------------------------------------------------------------------------
    def draw(self) -> str:
        """A text drawing, one line per wire."""
        from q_store.circuit.draw import draw_text

        return draw_text(self)

    def to_qasm(self, version: int = 3) -> str:
        """OpenQASM 2 (bound circuits only) or 3 (symbols kept as ``input`` arrays)."""
        from q_store.circuit.qasm import to_qasm

        return to_qasm(self, version=version)

    @staticmethod
    def from_qasm(text: str) -> Circuit:
        from q_store.circuit.qasm import from_qasm

        return from_qasm(text)

    def __str__(self) -> str:
        return self.draw()

    def __repr__(self) -> str:
        return (f"Circuit(n_qubits={self.n_qubits}, ops={len(self.operations)}, "
                f"n_weights={self.n_weights}, n_inputs={self.n_inputs})")


class CircuitBuilder(_GateMethods):
    """Mutable builder for long circuits: same gate methods, ``build()`` returns a Circuit."""

    def __init__(self, n_qubits: int) -> None:
        if not _is_wire(n_qubits) or n_qubits < 1:
            raise CircuitError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        self.n_qubits = int(n_qubits)
        self._ops: list[Operation] = []

    def _with(self, op: Operation) -> CircuitBuilder:
        bad = [w for w in op.wires if w >= self.n_qubits]
        if bad:
            raise CircuitError(
                f"{op.gate}: wire {bad[0]} is out of range for a {self.n_qubits}-qubit circuit "
                f"(allowed 0..{self.n_qubits - 1})")
        self._ops.append(op)
        return self

    def extend(self, ops: Iterable[Operation]) -> CircuitBuilder:
        for op in ops:
            self._with(op)
        return self

    def build(self, n_weights: int | None = None, n_inputs: int | None = None) -> Circuit:
        return Circuit(self.n_qubits, tuple(self._ops), n_weights, n_inputs)


def _vector(values: Iterable[float] | None, n: int | None, what: str) -> np.ndarray:
    n = n or 0
    if values is None:
        if n:
            raise BindingError(f"the circuit needs {n} {what}, none given")
        return np.zeros(0)
    from q_store.circuit.params import as_real_array

    arr = as_real_array(list(values) if not isinstance(values, np.ndarray) else values, what)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise BindingError(f"the circuit needs {n} {what}, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise BindingError(f"{what} must be finite, got NaN or infinity")
    return arr
