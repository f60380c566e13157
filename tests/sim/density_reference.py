"""The numpy density-matrix evolution that the compiled kernels replaced, kept as a reference.

A batch of density matrices is a tensor ``(B, 2, ..., 2)`` with ``2n`` wire axes after the batch
axis (ket wires, then bra wires, big-endian). Each gate and the channels after it are fused into
one superoperator ``sum_i K_i (x) conj(K_i) . (U (x) conj(U))`` built with tensor products and
contracted with the (ket, bra) axes of the gate's wires. It shares with the kernels only the gate
table and the noise model's ``channels_after``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from q_store.circuit.gates import gate_spec
from q_store.circuit.ir import Circuit
from q_store.circuit.params import parameter_map_for, resolve_batch
from q_store.sim.noise import KrausChannel, NoiseModel


def _apply(t: np.ndarray, mat: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """``mat (Bm, d, d)`` applied to the size-2 axes ``axes`` of ``t (B, ...)``."""
    rest = [a for a in range(1, t.ndim) if a not in axes]
    perm = [0, *rest, *axes]
    flat = t.transpose(perm).reshape(t.shape[0], -1, mat.shape[-1])
    out = np.matmul(flat, np.swapaxes(mat, -1, -2))
    shape = [t.shape[a] for a in perm[1:]]
    return out.reshape(out.shape[0], *shape).transpose(np.argsort(perm))


def _superop(u: np.ndarray, channels: list[tuple[KrausChannel, tuple[int, ...]]],
             wires: tuple[int, ...]) -> np.ndarray:
    bm, d = u.shape[0], u.shape[1]
    k = len(wires)
    s = np.einsum("bij,bkl->bikjl", u, u.conj()).reshape(bm, *(2,) * (2 * k), d * d)
    for ch, ws in channels:
        pos = [wires.index(w) for w in ws]
        s = _apply(s, ch.superop[None], [1 + j for j in pos] + [1 + k + j for j in pos])
    return s.reshape(bm, d * d, d * d)


def evolve_angles(circuit: Circuit, noise_model: NoiseModel, angles: np.ndarray,
                  states: np.ndarray | None = None) -> np.ndarray:
    """Final density matrices ``(R, 2**n, 2**n)`` for angle rows ``(R, P)`` (and optional
    initial state vectors ``(R, 2**n)``)."""
    n = circuit.n_qubits
    angles = np.atleast_2d(np.asarray(angles, dtype=float))
    if states is None:
        rho = np.zeros((1, 2**n, 2**n), dtype=np.complex128)
        rho[:, 0, 0] = 1.0
    else:
        states = np.atleast_2d(states)
        rho = states[:, :, None] * states[:, None, :].conj()
    rho = rho.reshape(rho.shape[0], *(2,) * (2 * n))
    col = 0
    for op in circuit.operations:
        spec = gate_spec(op.gate)
        p = angles[:, col:col + spec.num_params]
        col += spec.num_params
        mat = spec.matrix()[None] if spec.num_params == 0 else spec.matrix(p)
        sop = _superop(mat, noise_model.channels_after(spec.name, op.wires), op.wires)
        rho = _apply(rho, sop, [1 + w for w in op.wires] + [1 + n + w for w in op.wires])
    rows = max(rho.shape[0], angles.shape[0])
    return np.broadcast_to(rho.reshape(-1, 2**n, 2**n), (rows, 2**n, 2**n)).copy()


def reference_density(circuit: Circuit, noise_model: NoiseModel, weights: object = None,
                      inputs: object = None) -> np.ndarray:
    """Final density matrices ``(B, 2**n, 2**n)`` of a circuit template."""
    batch = resolve_batch(circuit, weights, inputs)
    return evolve_angles(circuit, noise_model, parameter_map_for(circuit).angles(batch))
