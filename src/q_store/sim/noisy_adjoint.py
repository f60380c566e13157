"""Exact gradients of noisy expectation values by adjoint (Heisenberg-picture) sweeps.

``<O>`` as the density-matrix simulator reports it (readout errors included) is a linear
function ``o . c`` of the final Pauli coefficients, so
``d<O>/d angle = lam_{t+1} . (dB_t / d angle) c_t`` with ``lam`` the observable pulled back
through the transposed channels (:mod:`density_grad_kernels`). The cost is about three forward
passes whatever the number of angles, against ``2P`` circuit runs for parameter shift. It holds
for any angle-independent noise: the channels after a gate are fixed maps, so only the gate's
own PTM is differentiated.
"""

from __future__ import annotations

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.circuit.params import parameter_map_for, resolve_batch
from q_store.errors import StateError, ValidationError
from q_store.sim import density_grad_kernels as G
from q_store.sim.adjoint import AdjointResult, _resolve_cotangent
from q_store.sim.density import (
    MAX_QUBITS,
    DensityMatrixSimulator,
    _parity,
    kernel_threads,
    tape_for,
)
from q_store.sim.density_measure import functional, states_to_coeffs, term_basis, zero_state
from q_store.sim.measure import _diagonal
from q_store.sim.noise import NoiseModel

__all__ = ["noisy_adjoint_angles", "observable_coefficients"]

_STORE_BYTES = 2**26  # states one thread may keep (64 MiB) before checkpointing segments


def observable_coefficients(observables: tuple[Observable, ...], n: int,
                            noise_model: NoiseModel) -> np.ndarray:
    """``(K, 4**n)``: ``o_k`` with ``<O_k> = o_k . c`` as measured by
    :class:`DensityMatrixSimulator` (readout errors included)."""
    out = np.zeros((len(observables), 4**n))
    for k, obs in enumerate(observables):
        diag = _diagonal(obs, n)
        if diag is not None:
            idx, h = functional(n, range(n), (3,) * n, diag, noise_model)
            out[k, idx] += h
            continue
        for term in obs.terms if isinstance(obs, PauliSum) else (obs,):
            if isinstance(term, PauliString) and not term.paulis:
                out[k, 0] += term.coeff  # c_I = Tr(rho) = 1
                continue
            wires, letters = term_basis(term)
            if isinstance(term, Projector):
                f = np.zeros(2 ** len(wires))
                f[int("".join(map(str, term.bits)), 2)] = 1.0
            else:
                f = term.coeff * _parity(len(wires))
            idx, h = functional(n, wires, letters, f, noise_model)
            out[k, idx] += h
    return out


def _segment(n_blocks: int, n: int) -> int:
    """Blocks per checkpoint segment: keep every state when they fit, else ``sqrt(T)``."""
    if (n_blocks + 1) * 8 * 4**n <= _STORE_BYTES:
        return max(n_blocks, 1)
    return max(1, int(np.ceil(np.sqrt(n_blocks))))


def noisy_adjoint_angles(sim: DensityMatrixSimulator, circuit: Circuit,
                         observables: tuple[Observable, ...], weights: object = None,
                         inputs: object = None, cotangent: object = None,
                         initial_state: object = None) -> AdjointResult:
    """Noisy expectations and their exact derivatives with respect to every gate angle.

    Without ``cotangent``: the Jacobian ``(B, K, P)``. With ``cotangent (B, K)``: the
    vector-Jacobian product ``(B, P)`` in one backward sweep. Same conventions as
    :func:`q_store.sim.adjoint.adjoint_angles`.
    """
    if not isinstance(sim, DensityMatrixSimulator):
        raise ValidationError(f"expected a DensityMatrixSimulator, got {type(sim).__name__}")
    if not isinstance(circuit, Circuit):
        raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
    n = circuit.n_qubits
    if n > MAX_QUBITS:
        raise ValidationError(f"{n} qubits exceed the density-matrix limit of {MAX_QUBITS}; "
                                  "beyond it, sample with Monte-Carlo trajectories "
                                  "(TrajectorySimulator, backend 'mock_noisy_trajectories')")
    obs, _ = sim._observables(observables, n)
    batch = resolve_batch(circuit, weights, inputs)
    angles = np.ascontiguousarray(parameter_map_for(circuit).angles(batch), dtype=np.float64)
    states = sim._initial(n, initial_state)
    size = max(batch.size, 1 if states is None else states.shape[0])
    if states is not None and 1 < batch.size != states.shape[0] > 1:
        raise StateError(f"initial_state batch {states.shape[0]} does not match batch "
                         f"{batch.size}")
    c0s = (zero_state(n)[None] if states is None else states_to_coeffs(states, n))
    tape = tape_for(circuit, sim.noise_model)
    o = observable_coefficients(obs, n, sim.noise_model)
    n_obs, n_params = len(obs), tape.n_params
    if cotangent is not None:
        cot = _resolve_cotangent(cotangent, (size, n_obs))
        grads = np.zeros((size, 1, n_params))
    else:
        cot = np.zeros((0, n_obs))
        grads = np.zeros((size, n_obs, n_params))
    values = np.zeros((size, n_obs))
    rows = np.arange(size) if angles.shape[0] > 1 else np.zeros(size, dtype=np.int64)
    srows = (np.arange(size) if c0s.shape[0] > 1 else np.zeros(size, dtype=np.int64))
    m = tape.bind(angles, derivatives=True)
    args = (c0s, srows, o, cot, n, tape.blk, tape.mem, m.mptm, m.mdptm, m.gstore, m.dgstore,
            rows, _segment(len(tape.blk), n), values, grads)
    with kernel_threads(sim.threads if size > 1 else 1):
        G.adjoint_batch(*args)
    return AdjointResult(values, grads[:, 0] if cotangent is not None else grads, batch)
