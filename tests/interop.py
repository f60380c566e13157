"""Test-only converters of bound circuits to Qiskit and Cirq, gate by gate with each library's
own gate classes, so their simulators are independent references for ours."""

from __future__ import annotations

import numpy as np

from q_store.circuit import Circuit

QISKIT_GATES = ("I", "X", "Y", "Z", "H", "S", "Sdg", "T", "Tdg", "SX", "RX", "RY", "RZ",
                "PhaseShift", "U3", "CNOT", "CZ", "SWAP", "RXX", "RYY", "RZZ", "CRX", "CRY",
                "CRZ", "Toffoli")
CIRQ_GATES = QISKIT_GATES


def to_qiskit(circuit: Circuit):
    """A Qiskit circuit with the same unitary (qubit q of ours is qubit q of theirs)."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.n_qubits)
    for op in circuit.operations:
        p = [float(v) for v in op.params]
        w = op.wires
        name = op.gate
        simple = {"I": qc.id, "X": qc.x, "Y": qc.y, "Z": qc.z, "H": qc.h, "S": qc.s,
                  "Sdg": qc.sdg, "T": qc.t, "Tdg": qc.tdg, "SX": qc.sx}
        if name in simple:
            simple[name](w[0])
        elif name in ("RX", "RY", "RZ"):
            getattr(qc, name.lower())(p[0], w[0])
        elif name == "PhaseShift":
            qc.p(p[0], w[0])
        elif name == "U3":
            qc.u(p[0], p[1], p[2], w[0])
        elif name == "CNOT":
            qc.cx(*w)
        elif name == "CZ":
            qc.cz(*w)
        elif name == "SWAP":
            qc.swap(*w)
        elif name in ("RXX", "RYY", "RZZ", "CRX", "CRY", "CRZ"):
            getattr(qc, name.lower())(p[0], *w)
        elif name == "Toffoli":
            qc.ccx(*w)
        else:
            raise KeyError(name)
    return qc


def qiskit_state(circuit: Circuit) -> np.ndarray:
    """Qiskit's final state, reordered to our big-endian convention."""
    from qiskit.quantum_info import Statevector

    n = circuit.n_qubits
    sv = Statevector(to_qiskit(circuit)).data
    return sv.reshape((2,) * n).transpose(tuple(range(n - 1, -1, -1))).reshape(-1)


def to_cirq(circuit: Circuit):
    import cirq

    q = cirq.LineQubit.range(circuit.n_qubits)
    ops = []
    for op in circuit.operations:
        p = [float(v) for v in op.params]
        w = [q[i] for i in op.wires]
        name = op.gate
        fixed = {"I": cirq.I, "X": cirq.X, "Y": cirq.Y, "Z": cirq.Z, "H": cirq.H, "S": cirq.S,
                 "Sdg": cirq.S**-1, "T": cirq.T, "Tdg": cirq.T**-1, "SX": cirq.X**0.5,
                 "CNOT": cirq.CNOT, "CZ": cirq.CZ, "SWAP": cirq.SWAP, "Toffoli": cirq.TOFFOLI}
        if name in fixed:
            ops.append(fixed[name].on(*w))
        elif name in ("RX", "RY", "RZ"):
            ops.append(getattr(cirq, name.lower().capitalize())(rads=p[0]).on(*w))
        elif name == "PhaseShift":
            ops.append(cirq.ZPowGate(exponent=p[0] / np.pi).on(*w))
        elif name == "U3":
            th, ph, la = p
            # U3 = e^{i(ph+la)/2} RZ(ph) RY(th) RZ(la)
            ops += [cirq.rz(la).on(*w), cirq.ry(th).on(*w), cirq.rz(ph).on(*w),
                    cirq.global_phase_operation(np.exp(0.5j * (ph + la)))]
        elif name in ("RXX", "RYY", "RZZ"):
            gate = {"RXX": cirq.XXPowGate, "RYY": cirq.YYPowGate, "RZZ": cirq.ZZPowGate}[name]
            ops.append(gate(exponent=p[0] / np.pi, global_shift=-0.5).on(*w))
        elif name in ("CRX", "CRY", "CRZ"):
            rot = {"CRX": cirq.rx, "CRY": cirq.ry, "CRZ": cirq.rz}[name](p[0])
            ops.append(rot.controlled().on(*w))
        else:
            raise KeyError(name)
    return cirq.Circuit(ops), q


def cirq_state(circuit: Circuit) -> np.ndarray:
    import cirq

    c, q = to_cirq(circuit)
    res = cirq.Simulator(dtype=np.complex128).simulate(c, qubit_order=q)
    return res.final_state_vector
