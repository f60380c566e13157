"""Plain-text circuit drawings: one line per wire, gates packed into columns.

Each operation goes into the earliest column free on every wire its span covers (a multi-wire
gate blocks the wires between its ends, where its vertical connector ``┼`` crosses them).
Controls are ``●``, CNOT/Toffoli targets ``X``, SWAP ends ``×``; other gates show their label,
e.g. ``RY(theta[0])``, on each wire they act on.
"""

from __future__ import annotations

from q_store.circuit.expr import Expr
from q_store.circuit.ir import Circuit, Operation
from q_store.circuit.qasm import expr_to_text

__all__ = ["draw_text"]

_WIRE, _CROSS, _CONTROL = "─", "┼", "●"
_SHORT = {"PhaseShift": "P"}
# gate -> symbols on its wires; gates not listed show their label on every wire
_SYMBOLS: dict[str, tuple[str, ...]] = {
    "CNOT": (_CONTROL, "X"), "Toffoli": (_CONTROL, _CONTROL, "X"), "CZ": (_CONTROL, _CONTROL),
    "SWAP": ("×", "×"),
}
_CONTROLLED = {"CRX", "CRY", "CRZ"}


def _angle(p: Expr) -> str:
    return expr_to_text(p, number=lambda v: f"{v:.4g}")


def _label(op: Operation) -> str:
    name = _SHORT.get(op.gate, op.gate)
    if not op.params:
        return name
    return f"{name}({', '.join(_angle(p) for p in op.params)})"


def _cells(op: Operation) -> dict[int, str]:
    """What to draw on each wire of the operation's span."""
    lo, hi = min(op.wires), max(op.wires)
    cells = dict.fromkeys(range(lo, hi + 1), _CROSS)
    if op.gate in _SYMBOLS:
        cells.update(zip(op.wires, _SYMBOLS[op.gate], strict=True))
    elif op.gate in _CONTROLLED:
        cells[op.wires[0]] = _CONTROL
        cells[op.wires[1]] = _label(op)[1:]  # CRX(a) -> RX(a) on the target
    else:
        label = _label(op)
        cells.update(dict.fromkeys(op.wires, label))
    return cells


def _pad(text: str, width: int) -> str:
    left = (width - len(text)) // 2
    return _WIRE * left + text + _WIRE * (width - len(text) - left)


def draw_text(circuit: Circuit) -> str:
    """Text drawing of ``circuit``: ``n_qubits`` lines of equal width, wire 0 on top."""
    n = circuit.n_qubits
    columns: list[dict[int, str]] = []
    last = [-1] * n  # last column used on each wire
    for op in circuit.operations:
        cells = _cells(op)
        col = 1 + max(last[w] for w in cells)
        if col == len(columns):
            columns.append({})
        columns[col].update(cells)
        for w in cells:
            last[w] = col
    names = [f"q{w}" for w in range(n)]
    name_w = max(len(s) for s in names)
    lines = []
    for w in range(n):
        parts = [names[w].ljust(name_w) + ": "]
        for column in columns:
            width = max(len(s) for s in column.values())
            parts.append(_WIRE + _pad(column.get(w, ""), width) + _WIRE)
        parts.append(_WIRE)
        lines.append("".join(parts))
    return "\n".join(lines)
