"""Our circuits to and from IonQ's JSON circuit format, and IonQ's probability maps.

QIS gates carry ``rotation`` in radians; native gates (``gpi``, ``gpi2``, ``ms``, ``zz``) carry
phases and angles in turns, as our GPI/GPI2/MS/ZZ gates do. IonQ numbers qubits like we do but
keys results by the integer whose bit ``i`` (least significant first) is qubit ``i``; ours puts
wire 0 in the most significant bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from q_store.circuit.ir import Circuit, Operation
from q_store.errors import CircuitError

__all__ = [
    "NATIVE_GATES",
    "QIS_GATES",
    "circuit_from_ionq",
    "circuit_to_ionq",
    "count_ionq_gates",
    "gate_width",
    "gateset_of",
    "operation_to_ionq",
    "probabilities_from_ionq",
    "probabilities_to_ionq",
]

# our fixed gate -> IonQ QIS gate
_FIXED = {"X": "x", "Y": "y", "Z": "z", "H": "h", "S": "s", "Sdg": "si", "T": "t", "Tdg": "ti",
          "SX": "v"}
_ROT = {"RX": "rx", "RY": "ry", "RZ": "rz"}
_PAIR = {"RXX": "xx", "RYY": "yy", "RZZ": "zz"}
_CONTROLLED = {"CNOT": "x", "CZ": "z", "CRX": "rx", "CRY": "ry", "CRZ": "rz", "Toffoli": "x"}
QIS_GATES = ("x", "y", "z", "h", "s", "si", "t", "ti", "v", "vi", "rx", "ry", "rz", "not",
             "cnot", "swap", "xx", "yy", "zz")
NATIVE_GATES = ("gpi", "gpi2", "ms", "zz")
_OUR_NATIVE = ("GPI", "GPI2", "MS", "ZZ")


def gateset_of(circuit: Circuit) -> str:
    """``'native'`` if every gate is a native IonQ gate, ``'qis'`` if none is."""
    native = [op.gate in _OUR_NATIVE for op in circuit.operations if op.gate != "I"]
    if native and all(native):
        return "native"
    if any(native):
        raise CircuitError("a circuit mixes IonQ native gates (GPI, GPI2, MS, ZZ) with other "
                           "gates; compile it with IonQNativeGateCompiler or use only QIS gates")
    return "qis"


def _qis(g: str, w: list[int], p: list[float]) -> list[dict[str, Any]]:
    if g == "I":
        return []
    if g in _FIXED:
        return [{"gate": _FIXED[g], "target": w[0]}]
    if g in _ROT:
        return [{"gate": _ROT[g], "target": w[0], "rotation": p[0]}]
    if g == "PhaseShift":  # equal to RZ up to a global phase, which IonQ cannot observe
        return [{"gate": "rz", "target": w[0], "rotation": p[0]}]
    if g == "U3":  # U3 = e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam)
        theta, phi, lam = p
        return [{"gate": "rz", "target": w[0], "rotation": lam},
                {"gate": "ry", "target": w[0], "rotation": theta},
                {"gate": "rz", "target": w[0], "rotation": phi}]
    if g == "SWAP":
        return [{"gate": "swap", "targets": w}]
    if g in _PAIR:
        return [{"gate": _PAIR[g], "targets": w, "rotation": p[0]}]
    if g in _CONTROLLED:
        d: dict[str, Any] = {"gate": _CONTROLLED[g], "target": w[-1]}
        if len(w) == 2:
            d["control"] = w[0]
        else:
            d["controls"] = w[:-1]
        if p:
            d["rotation"] = p[0]
        return [d]
    raise CircuitError(f"gate {g} has no IonQ QIS form")


def _native(g: str, w: list[int], p: list[float]) -> dict[str, Any]:
    if g == "GPI":
        return {"gate": "gpi", "target": w[0], "phase": p[0]}
    if g == "GPI2":
        return {"gate": "gpi2", "target": w[0], "phase": p[0]}
    if g == "MS":
        return {"gate": "ms", "targets": w, "phases": [p[0], p[1]], "angle": p[2]}
    if g == "ZZ":
        return {"gate": "zz", "targets": w, "angle": p[0]}
    raise CircuitError(f"gate {g} is not an IonQ native gate")


def operation_to_ionq(op: Operation, params: Sequence[float] | None = None
                      ) -> list[dict[str, Any]]:
    """The IonQ JSON gates one operation is sent as: a native gate (GPI, GPI2, MS, ZZ) as
    itself, any other gate in QIS form (U3 as three rotations, the identity as nothing).
    ``params`` replaces the operation's parameter values (for counting gates of unbound
    circuits); by default they must be bound numbers."""
    values = [float(v) for v in (op.params if params is None else params)]
    wires = list(op.wires)
    if op.gate in _OUR_NATIVE:
        return [_native(op.gate, wires, values)]
    return _qis(op.gate, wires, values)


def gate_width(gate: Mapping[str, Any]) -> int:
    """How many qubits an IonQ JSON gate acts on (its targets and controls)."""
    n = 0
    for key, plural in (("target", "targets"), ("control", "controls")):
        if plural in gate:
            n += len(gate[plural])
        elif key in gate:
            n += 1
    return n


def count_ionq_gates(circuit: Circuit) -> tuple[int, int]:
    """``(one-qubit, two-qubit)`` counts of the gates :func:`circuit_to_ionq` sends for
    ``circuit``, as IonQ bills them: a gate on ``k >= 3`` qubits counts as ``6 * (k - 2)``
    two-qubit gates. Counted from the serializer's own output, so an estimate always counts
    what is sent (parameter values do not matter: unbound circuits are counted too)."""
    n1 = n2 = 0
    for op in circuit.operations:
        for gate in operation_to_ionq(op, (0.0,) * len(op.params)):
            k = gate_width(gate)
            if k == 1:
                n1 += 1
            elif k == 2:
                n2 += 1
            else:
                n2 += 6 * (k - 2)
    return n1, n2


def circuit_to_ionq(circuit: Circuit) -> tuple[str, list[dict[str, Any]]]:
    """``(gateset, gate list)`` of a bound circuit in IonQ's JSON circuit format."""
    if circuit.symbols:
        raise CircuitError("bind the circuit's weights and inputs before serializing it")
    gateset = gateset_of(circuit)
    return gateset, [d for op in circuit.operations for d in operation_to_ionq(op)]


def _qubit(q: object) -> int:
    if not isinstance(q, int) or isinstance(q, bool):
        raise CircuitError(f"qubit indices must be JSON integers, got {q!r}")
    return q


def _number(v: object, what: str) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise CircuitError(f"{what} must be a JSON number, got {v!r}")
    return float(v)


def _wires(d: Mapping[str, Any], key: str, plural: str) -> list[int]:
    if plural in d:
        if not isinstance(d[plural], list):
            raise CircuitError(f"{plural!r} must be a list of qubit indices")
        return [_qubit(q) for q in d[plural]]
    if key in d:
        return [_qubit(d[key])]
    return []


def circuit_from_ionq(n_qubits: int, gates: Sequence[Mapping[str, Any]],
                      gateset: str = "qis") -> Circuit:
    """Parse IonQ's JSON circuit (as the local IonQ-compatible server receives it)."""
    if gateset not in ("qis", "native"):
        raise CircuitError(f"unknown gateset {gateset!r}; use 'qis' or 'native'")
    b = Circuit.builder(n_qubits)
    for i, d in enumerate(gates):
        if not isinstance(d, Mapping):
            raise CircuitError(f"gate {i} must be a JSON object, got {d!r}")
        try:
            name = str(d["gate"]).lower()
            targets = _wires(d, "target", "targets")
            controls = _wires(d, "control", "controls")
            allowed = NATIVE_GATES if gateset == "native" else QIS_GATES
            if name not in allowed:
                raise CircuitError(f"gate {name!r} is not in the {gateset} gateset "
                                   f"({', '.join(allowed)})")
            if gateset == "native":
                if name in ("gpi", "gpi2"):
                    b.append(name.upper(), targets, _number(d["phase"], "phase"))
                elif name == "ms":
                    ph = d.get("phases", [0.0, 0.0])
                    b.append("MS", targets, _number(ph[0], "phases"), _number(ph[1], "phases"),
                             _number(d.get("angle", 0.25), "angle"))
                else:
                    b.append("ZZ", targets, _number(d["angle"], "angle"))
                continue
            rot = d.get("rotation")
            if rot is not None:
                rot = _number(rot, "rotation")
            if name in ("xx", "yy", "zz"):
                b.append("R" + name.upper(), targets, float(rot))
            elif name == "swap":
                b.append("SWAP", targets)
            elif name in ("not", "cnot"):
                b.append({0: "X", 1: "CNOT", 2: "Toffoli"}[len(controls)], controls + targets)
            elif controls:
                gate = {("x", 1): "CNOT", ("x", 2): "Toffoli", ("z", 1): "CZ",
                        ("rx", 1): "CRX", ("ry", 1): "CRY", ("rz", 1): "CRZ"}[name, len(controls)]
                b.append(gate, controls + targets, *(() if rot is None else (float(rot),)))
            elif name in ("rx", "ry", "rz"):
                b.append(name.upper(), targets, float(rot))
            elif name == "vi":
                b.append("SX", targets).append("X", targets)  # SX^dag = X SX
            else:
                inverse = {v: k for k, v in _FIXED.items()}
                b.append(inverse[name], targets)
        except CircuitError as exc:
            raise CircuitError(f"gate {i}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CircuitError(f"gate {i} ({dict(d)!r}) is malformed: {exc!r}") from None
    return b.build()


def _reverse_bits(idx: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros_like(idx)
    for i in range(n):
        out |= ((idx >> i) & 1) << (n - 1 - i)
    return out


def probabilities_from_ionq(probs: Mapping[str, float], n_qubits: int) -> np.ndarray:
    """IonQ's ``{"<int>": p}`` (qubit 0 least significant) to our big-endian array."""
    keys = np.fromiter((int(k) for k in probs), dtype=np.int64, count=len(probs))
    if keys.size and (keys.min() < 0 or keys.max() >= 2**n_qubits):
        raise CircuitError(f"result keys out of range for {n_qubits} qubits")
    out = np.zeros(2**n_qubits)
    out[_reverse_bits(keys, n_qubits)] = np.fromiter(probs.values(), dtype=float,
                                                     count=len(probs))
    return out


def probabilities_to_ionq(probs: np.ndarray, n_qubits: int, tol: float = 0.0
                          ) -> dict[str, float]:
    """Our big-endian probabilities to IonQ's map (entries at most ``tol`` dropped)."""
    idx = np.flatnonzero(np.asarray(probs) > tol)
    keys = _reverse_bits(idx, n_qubits)
    return {str(int(k)): float(probs[i]) for k, i in zip(keys, idx, strict=True)}

