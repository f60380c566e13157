"""A slow, obviously-correct dense reference simulator used only by tests.

It embeds every gate matrix into the full ``2**n`` space with explicit index arithmetic, so it
shares nothing with the fast kernels except the gate table.
"""

from __future__ import annotations

import numpy as np

from q_store.circuit import Circuit

PAULI = {"X": np.array([[0, 1], [1, 0]], dtype=complex),
         "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
         "Z": np.diag([1.0, -1.0]).astype(complex)}


def embed(matrix: np.ndarray, wires: tuple[int, ...], n: int) -> np.ndarray:
    """Full-space matrix of a gate on ``wires`` (big-endian: wire 0 is the top bit)."""
    dim = 2**n
    k = len(wires)
    out = np.zeros((dim, dim), dtype=complex)
    for col in range(dim):
        bits = [(col >> (n - 1 - w)) & 1 for w in range(n)]
        local_in = 0
        for w in wires:
            local_in = 2 * local_in + bits[w]
        for local_out in range(2**k):
            amp = matrix[local_out, local_in]
            if amp == 0:
                continue
            nb = list(bits)
            for j, w in enumerate(wires):
                nb[w] = (local_out >> (k - 1 - j)) & 1
            row = 0
            for b in nb:
                row = 2 * row + b
            out[row, col] += amp
    return out


def reference_unitary(circuit: Circuit, weights=None, inputs=None) -> np.ndarray:
    bound = circuit.bind(weights, inputs)
    u = np.eye(2**circuit.n_qubits, dtype=complex)
    for op in bound.operations:
        params = np.array([float(p) for p in op.params])
        u = embed(op.spec.matrix(params), op.wires, circuit.n_qubits) @ u
    return u


def reference_state(circuit: Circuit, weights=None, inputs=None) -> np.ndarray:
    return reference_unitary(circuit, weights, inputs)[:, 0]


def random_circuit(n_qubits: int, n_ops: int, rng: np.random.Generator,
                   gates: tuple[str, ...] | None = None, symbolic: bool = False) -> Circuit:
    """A random circuit over the whole gate table (or ``gates``); angles are random constants,
    or with ``symbolic`` expressions ``a*theta[i] + b`` over fresh weights."""
    from q_store.circuit import GATES, theta

    names = [g for g in (gates or tuple(GATES)) if GATES[g].num_wires <= n_qubits]
    b = Circuit.builder(n_qubits)
    k = 0
    for _ in range(n_ops):
        spec = GATES[names[rng.integers(len(names))]]
        wires = tuple(int(w) for w in rng.choice(n_qubits, spec.num_wires, replace=False))
        params = []
        for _p in range(spec.num_params):
            if symbolic:
                params.append(float(rng.uniform(0.5, 1.5)) * theta[k] + float(rng.normal()))
                k += 1
            else:
                params.append(float(rng.uniform(-np.pi, np.pi)))
        b.append(spec.name, wires, *params)
    return b.build()


# -- tensor reference for large states ------------------------------------------------------------
# ``embed`` builds 2**n x 2**n matrices; from 14 qubits on, gates are applied to the state viewed
# as an n-index tensor instead (still nothing shared with the kernels but the gate table).


def apply_matrix(state: np.ndarray, matrix: np.ndarray, wires: tuple[int, ...],
                 n: int) -> np.ndarray:
    """``matrix`` on ``wires`` (first wire most significant) applied to ``state (2**n,)``."""
    k = len(wires)
    psi = state.reshape((2,) * n)
    gate = np.asarray(matrix, dtype=complex).reshape((2,) * (2 * k))
    out = np.tensordot(gate, psi, axes=(list(range(k, 2 * k)), list(wires)))
    return np.moveaxis(out, list(range(k)), list(wires)).reshape(-1)


def reference_evolve(circuit: Circuit, weights=None, inputs=None, initial=None,
                     derivative: tuple[int, int] | None = None) -> np.ndarray:
    """The final state by tensor contraction; with ``derivative = (op, k)``, the tangent state:
    op's matrix replaced by its derivative with respect to its parameter k."""
    n = circuit.n_qubits
    if initial is None:
        state = np.zeros(2**n, dtype=complex)
        state[0] = 1.0
    else:
        state = np.array(initial, dtype=complex)
    for i, op in enumerate(circuit.bind(weights, inputs).operations):
        params = np.array([float(p) for p in op.params])
        if derivative is not None and derivative[0] == i:
            m = op.spec.derivative(params, derivative[1])
        else:
            m = op.spec.matrix(params)
        state = apply_matrix(state, m, op.wires, n)
    return state


def reference_angle_gradient(circuit: Circuit, paulis: dict[int, np.ndarray], weights=None,
                             inputs=None, initial=None) -> tuple[float, np.ndarray]:
    """``<O>`` and ``d<O>/d angle`` for every gate angle (ops in order, their parameters in
    order), ``O`` the product of ``paulis[wire]``: ``2 Re <O psi | d psi>`` from tangent states."""
    n = circuit.n_qubits
    psi = reference_evolve(circuit, weights, inputs, initial)
    o_psi = psi
    for w, m in paulis.items():
        o_psi = apply_matrix(o_psi, m, (w,), n)
    grads = [2.0 * np.vdot(o_psi, reference_evolve(circuit, weights, inputs, initial, (i, k))).real
             for i, op in enumerate(circuit.operations) for k in range(len(op.params))]
    return float(np.vdot(psi, o_psi).real), np.array(grads)
