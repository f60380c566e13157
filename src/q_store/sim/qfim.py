"""Quantum Fisher information (Fubini-Study metric) of parametrised states, exact.

For ``|psi(w)>`` the Fubini-Study metric is
``g_ij = Re(<d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi>)`` and the quantum Fisher information
of a pure state is ``F = 4 g``. Tangent states ``d psi / d angle`` come from the kernel (each gate
replaced in turn by its derivative matrix) and are combined with the angle Jacobian.
"""

from __future__ import annotations

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.sim import kernels as K
from q_store.sim.statevector import StatevectorSimulator, parameter_map_for

__all__ = ["metric_tensor", "quantum_fisher_information"]


def metric_tensor(circuit: Circuit, weights: object = None, inputs: object = None, *,
                  simulator: StatevectorSimulator | None = None) -> np.ndarray:
    """Fubini-Study metric with respect to the weights: ``(n_w, n_w)`` or ``(B, n_w, n_w)``."""
    sim = simulator or StatevectorSimulator()
    own = getattr(sim, "metric_tensor", None)
    if own is not None:  # a simulator with its own tangent states (q_store.sim.gpu)
        return own(circuit, weights, inputs)
    n = circuit.n_qubits
    batch, tape = sim._prepare(circuit, weights, inputs, derivatives=True)
    pm = parameter_map_for(circuit)
    prog = sim.cache.get(circuit).program
    size = batch.size
    states, _ = sim._initial(n, size, None)
    sim._run(n, states, tape, True)
    q_rows = np.flatnonzero(pm.uses_weights[prog.par_col])  # parameter rows that carry weights
    nq = len(q_rows)
    if nq == 0:
        g = np.zeros((size, pm.n_weights, pm.n_weights))
        return g if batch.batched else g[0]
    bmap = np.repeat(np.arange(size) if tape.rows > 1 else np.zeros(size, np.int64), nq)
    tan = np.zeros((size * nq, 2**n), dtype=np.complex128)
    tan[:, 0] = 1.0
    K.forward_tangent_batch(tan, n, tape.blk, tape.pref, tape.mem, tape.par, tape.mats1, tape.mats2,
                            tape.dmats1, tape.dmats2, bmap,
                            np.tile(prog.par_member[q_rows], size), np.tile(q_rows, size))
    tan = tan.reshape(size, nq, 2**n)
    # d psi / d w_i = sum_q (d angle_q / d w_i) * tangent_q
    eye = np.zeros((size, nq, pm.n_params))
    eye[:, np.arange(nq), prog.par_col[q_rows]] = 1.0
    jac, _ = pm.pullback(batch, eye)  # (B, nq, n_w)
    dpsi = np.einsum("bqi,bqd->bid", jac, tan)
    overlap = np.einsum("bd,bid->bi", states.conj(), dpsi)  # <psi|d_i psi>
    gram = np.einsum("bid,bjd->bij", dpsi.conj(), dpsi)
    g = (gram - np.einsum("bi,bj->bij", overlap.conj(), overlap)).real
    return g if batch.batched else g[0]


def quantum_fisher_information(circuit: Circuit, weights: object = None, inputs: object = None,
                               *, simulator: StatevectorSimulator | None = None) -> np.ndarray:
    """Quantum Fisher information ``4 g`` with respect to the weights."""
    return 4.0 * metric_tensor(circuit, weights, inputs, simulator=simulator)
