"""Library converters to Qiskit and Cirq, shaped for the simulator tests that use their
simulators as independent references for ours."""

from __future__ import annotations

import numpy as np

from q_store.backends.qiskit import QISKIT_NAMES
from q_store.backends.qiskit import to_qiskit as to_qiskit
from q_store.circuit import Circuit

# gates with a standard gate of the same unitary in both libraries (IonQ natives excluded)
QISKIT_GATES = tuple(g for g in QISKIT_NAMES if g not in ("GPI", "GPI2", "MS", "ZZ"))
CIRQ_GATES = QISKIT_GATES

__all__ = ["CIRQ_GATES", "QISKIT_GATES", "cirq_state", "qiskit_state", "to_cirq", "to_qiskit"]


def qiskit_state(circuit: Circuit) -> np.ndarray:
    """Qiskit's final state, reordered to our big-endian convention."""
    from qiskit.quantum_info import Statevector

    n = circuit.n_qubits
    sv = Statevector(to_qiskit(circuit)).data
    return sv.reshape((2,) * n).transpose(tuple(range(n - 1, -1, -1))).reshape(-1)


def to_cirq(circuit: Circuit):
    """``(cirq circuit, LineQubits in wire order)``."""
    import cirq

    from q_store.backends.cirq import to_cirq as convert

    return convert(circuit), cirq.LineQubit.range(circuit.n_qubits)


def cirq_state(circuit: Circuit) -> np.ndarray:
    import cirq

    c, q = to_cirq(circuit)
    res = cirq.Simulator(dtype=np.complex128).simulate(c, qubit_order=q)
    return res.final_state_vector
