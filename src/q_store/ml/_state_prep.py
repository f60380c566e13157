"""Exact state preparation from |0...0> with uniformly controlled rotations.

Möttönen, Vartiainen, Bergholm, Salomaa, "Transformation of quantum states using uniformly
controlled rotations", Quantum Inf. Comput. 5, 467 (2005), quant-ph/0407010. Level ``k`` (wire
``k``, wires ``0..k-1`` as controls, wire 0 the most significant bit) gets one RY per control
value, splitting the weight of each block of amplitudes between its two halves, then (for
complex targets) one RZ per control value fixing the relative phase of the halves. Each
uniformly controlled rotation with ``k`` controls is ``2**k`` rotations and ``2**k`` CNOTs along
a Gray code. Real targets need no RZ: the signs go into the last level's RY angles.

Cost on ``n`` qubits: ``2**n - 1`` RY and ``2**n - 2`` CNOT (real); complex adds ``2**n - 1`` RZ
and ``2**n - 2*n`` CNOT (the RZ stage runs its Gray code backwards so one CNOT pair cancels per
level). The prepared state equals the target up to a global phase.
"""

from __future__ import annotations

import numpy as np

from q_store.circuit.ir import Circuit, CircuitBuilder

__all__ = ["prepare_state_circuit", "uniformly_controlled_angles"]

_ZERO_ANGLE = 1e-14  # rotations smaller than this are left out (sparse inputs, e.g. images)


def _gray(i: np.ndarray | int) -> np.ndarray | int:
    return i ^ (i >> 1)


def uniformly_controlled_angles(thetas: np.ndarray) -> np.ndarray:
    """Rotation angles of the Gray-code decomposition: ``thetas[p]`` is the angle wanted for
    control value ``p``; returns ``phi`` with ``thetas = M @ phi``,
    ``M[p, i] = (-1)**popcount(gray(i) & p)``."""
    size = len(thetas)
    idx = np.arange(size)
    g = _gray(idx)
    both = np.bitwise_and.outer(idx, g)
    parity = np.zeros_like(both)
    for bit in range(max(size.bit_length() - 1, 0)):
        parity ^= (both >> bit) & 1
    m = 1.0 - 2.0 * parity
    return m.T @ thetas / size


def _ucr(b: CircuitBuilder, gate: str, target: int, thetas: np.ndarray,
         reverse: bool = False, skip_edge: bool = False) -> None:
    """Append a uniformly controlled ``gate`` rotation on ``target`` controlled by wires
    ``0..target-1``. ``reverse`` runs the Gray code backwards (same operator); ``skip_edge``
    leaves out the CNOT on wire 0 at the end (forward) or start (reverse) for cancellation."""
    k = target
    if k == 0:
        if abs(thetas[0]) > _ZERO_ANGLE:
            b.append(gate, target, float(thetas[0]))
        return
    phis = uniformly_controlled_angles(thetas)
    size = len(phis)
    steps = []
    for i in range(size):
        changed = int(_gray(i) ^ _gray((i + 1) % size))
        control = k - 1 - (changed.bit_length() - 1)
        steps.append((float(phis[i]), control))
    if not reverse:
        for i, (phi, control) in enumerate(steps):
            if abs(phi) > _ZERO_ANGLE:
                b.append(gate, target, phi)
            if not (skip_edge and i == size - 1):
                b.cnot(control, target)
    else:
        for i in range(size - 1, -1, -1):
            phi, control = steps[i]
            if not (skip_edge and i == size - 1):
                b.cnot(control, target)
            if abs(phi) > _ZERO_ANGLE:
                b.append(gate, target, phi)


def prepare_state_circuit(state: np.ndarray) -> Circuit:
    """A bound circuit taking |0...0> to ``state`` (normalised, length ``2**n``) up to a global
    phase."""
    state = np.asarray(state)
    dim = state.shape[0]
    n = dim.bit_length() - 1
    is_real = not np.iscomplexobj(state) or not np.any(state.imag)
    amps = state.real.astype(float) if is_real else state.astype(complex)
    mags = np.abs(amps)
    # block norms: norms[k][p] = norm of the amplitudes whose first k bits are p
    norms = [np.sqrt((mags**2).reshape(2**k, -1).sum(axis=1)) for k in range(n + 1)]
    if not is_real:
        phases = [np.zeros(1)] * (n + 1)
        phases[n] = np.where(mags > 0, np.angle(amps), 0.0)
        for k in range(n - 1, -1, -1):
            pair = phases[k + 1].reshape(-1, 2)
            phases[k] = pair.mean(axis=1)
    b = CircuitBuilder(n)
    for k in range(n):
        child = (amps if (is_real and k == n - 1) else norms[k + 1]).reshape(-1, 2)
        alphas = 2.0 * np.arctan2(child[:, 1], child[:, 0])
        _ucr(b, "RY", k, alphas, skip_edge=not is_real)
        if not is_real:
            pair = phases[k + 1].reshape(-1, 2)
            _ucr(b, "RZ", k, pair[:, 1] - pair[:, 0], reverse=True, skip_edge=True)
    return b.build()
