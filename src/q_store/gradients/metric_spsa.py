"""The 2-SPSA estimate of the Fubini-Study metric from fidelities (Gacon, Zoufal, Carleo, Woerner,
Quantum 5, 567 (2021)), on any backend.

The fidelity ``F(d) = |<psi(w)|psi(w + d)>|^2 = 1 - d^T g d + O(|d|^3)`` is measured as the
probability of ``0...0`` after ``U(w + d)`` followed by ``U(w)^dagger`` (compute-uncompute: one
circuit of twice the depth). With two Rademacher directions ``D1, D2`` and

    dF = F(e D1 + e D2) - F(e D1) - F(-e D1 + e D2) + F(-e D1),

``g_hat = -dF / (4 e^2) * (D1 D2^T + D2 D1^T) / 2`` is an unbiased estimate of ``g`` up to
``O(e^2)`` (for a quadratic ``F``, ``dF = -4 e^2 D1^T g D2`` exactly). Four circuits per sample
and resampling, whatever the number of weights. The natural-gradient method averages the
estimates over steps and makes them positive definite (``|g| + beta I``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from q_store.circuit.ir import Circuit, Operation
from q_store.circuit.observables import Projector
from q_store.circuit.params import Batch
from q_store.errors import NotSupportedError
from q_store.execution.requests import ExpectationRequest
from q_store.sim.statevector import parameter_map_for

__all__ = ["fidelity_circuit", "inverse_operations", "metric_estimates",
           "spsa_metric_requests"]

_SELF_INVERSE = frozenset({"I", "X", "Y", "Z", "H", "CNOT", "CZ", "SWAP", "Toffoli", "GPI"})
_SWAPPED = {"S": "Sdg", "Sdg": "S", "T": "Tdg", "Tdg": "T"}
_NEGATED = frozenset({"RX", "RY", "RZ", "RXX", "RYY", "RZZ", "CRX", "CRY", "CRZ", "PhaseShift",
                      "ZZ"})


def _inverse(op: Operation) -> Operation:
    """An operation equal to ``op^dagger`` up to a global phase (fidelities do not see it)."""
    g, p = op.gate, op.params
    if g in _SELF_INVERSE:
        return op
    if g in _SWAPPED:
        return Operation(_SWAPPED[g], op.wires)
    if g in _NEGATED:
        return Operation(g, op.wires, (-p[0],))
    if g == "SX":  # SX = e^{i pi/4} RX(pi/2)
        return Operation.make("RX", op.wires, (-np.pi / 2,))
    if g == "U3":  # U3(t, f, l)^dagger = U3(-t, -l, -f)
        return Operation("U3", op.wires, (-p[0], -p[2], -p[1]))
    if g == "GPI2":  # GPI2(p)^dagger = GPI2(p + 1/2)
        return Operation("GPI2", op.wires, (p[0] + 0.5,))
    if g == "MS":  # MS(p0, p1, t) = exp(-i pi t A(p0, p1)): the inverse negates t
        return Operation("MS", op.wires, (p[0], p[1], -p[2]))
    raise NotSupportedError(f"no inverse known for gate {g}; the 2-SPSA metric needs one")


def inverse_operations(circuit: Circuit) -> tuple[Operation, ...]:
    """``circuit^dagger`` (up to a global phase) as operations over the same symbols."""
    return tuple(_inverse(op) for op in reversed(circuit.operations))


@lru_cache(maxsize=64)
def fidelity_circuit(circuit: Circuit) -> Circuit:
    """``U(w')`` then ``U(w)^dagger`` as one template; its angle columns are the forward
    angles at ``w'`` followed by the inverse's at ``w``."""
    return Circuit(circuit.n_qubits, circuit.operations + inverse_operations(circuit),
                   circuit.n_weights, circuit.n_inputs)


@lru_cache(maxsize=64)
def _inverse_map(circuit: Circuit) -> Circuit:
    """The inverse half alone, as a template over the original weights and inputs."""
    return Circuit(circuit.n_qubits, inverse_operations(circuit), circuit.n_weights,
                   circuit.n_inputs)


def _angles(circuit: Circuit, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    size = max(len(weights), len(inputs))
    a = parameter_map_for(circuit).angles(Batch(weights, inputs, size, True))
    return np.broadcast_to(a, (size, a.shape[1]))


def spsa_metric_requests(circuit: Circuit, batch: Batch, deltas: np.ndarray, epsilon: float
                         ) -> tuple[tuple[ExpectationRequest, ...],
                                    Callable[[Sequence[Any]], np.ndarray]]:
    """One request for ``deltas (S, 2, n_w)`` (``S`` pairs of directions): ``4 S B`` fidelity
    circuits; finish gives the average of the ``S`` estimates ``(n_w, n_w)``."""
    fid = fidelity_circuit(circuit)
    size = int(batch.size)
    n_w = batch.weights.shape[1]
    w = np.broadcast_to(batch.weights, (size, n_w))
    xv = np.broadcast_to(batch.inputs, (size, batch.inputs.shape[1]))
    back = _angles(_inverse_map(circuit), w, xv)  # U(w)^dagger, per sample
    e = float(epsilon)
    rows = []
    for d1, d2 in deltas:
        for shift in (d1 + d2, d1, -d1 + d2, -d1):
            rows.append(np.concatenate([_angles(circuit, w + e * shift, xv), back], axis=1))
    angles = np.ascontiguousarray(np.concatenate(rows))
    zero = Projector("0" * circuit.n_qubits, range(circuit.n_qubits))
    request = ExpectationRequest(fid, angles, (zero,), None, "metric")
    n_pairs = len(deltas)
    deltas = np.asarray(deltas, dtype=float)

    def finish(answers: Sequence[Any]) -> np.ndarray:
        f = np.asarray(answers[0]).reshape(n_pairs, 4, size).mean(axis=2)  # batch mean
        return metric_estimates(f, deltas, e).mean(axis=0)

    return (request,), finish


def metric_estimates(fidelities: np.ndarray, deltas: np.ndarray, epsilon: float
                     ) -> np.ndarray:
    """The 2-SPSA estimates ``(S, n_w, n_w)`` from fidelities ``(S, 4)`` (in the order
    ``D1 + D2, D1, -D1 + D2, -D1``) and directions ``(S, 2, n_w)``."""
    f = np.asarray(fidelities, dtype=float)
    df = f[:, 0] - f[:, 1] - f[:, 2] + f[:, 3]
    outer = np.einsum("si,sj->sij", deltas[:, 0], deltas[:, 1])
    return (-df / (4 * epsilon * epsilon))[:, None, None] * 0.5 * (
        outer + np.swapaxes(outer, 1, 2))
