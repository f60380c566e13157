"""Circuit model: immutable circuits, symbolic angles, gates, observables, QASM, drawing."""

from q_store.circuit.expr import Const, Expr, Func, Symbol, SymbolVector, as_expr, theta, x
from q_store.circuit.gates import GATES, GateSpec, gate_spec
from q_store.circuit.ir import Circuit, CircuitBuilder, Operation
from q_store.circuit.observables import (
    I,
    Observable,
    PauliString,
    PauliSum,
    Projector,
    X,
    Y,
    Z,
    as_observable,
)

__all__ = [
    "GATES",
    "Circuit",
    "CircuitBuilder",
    "Const",
    "Expr",
    "Func",
    "GateSpec",
    "I",
    "Observable",
    "Operation",
    "PauliString",
    "PauliSum",
    "Projector",
    "Symbol",
    "SymbolVector",
    "X",
    "Y",
    "Z",
    "as_expr",
    "as_observable",
    "gate_spec",
    "theta",
    "x",
]
