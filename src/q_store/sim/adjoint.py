"""Adjoint differentiation: exact gradients of expectation values in one forward and one
backward sweep, whatever the number of parameters (simulator only).

``d<O>/d angle = 2 Re <psi| O U_after dG U_before |psi_0>``: the kernel carries ``phi`` (the state)
and ``lam`` (``O psi`` pulled back) backwards through the tape and reads each parameter's term
off the reduced transition matrix of its block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.circuit.params import Batch
from q_store.errors import ValidationError
from q_store.sim import blocked as BL
from q_store.sim import kernels as K
from q_store.sim import simd as S
from q_store.sim import simd_fused as F
from q_store.sim.measure import apply_observable, expectations, observable_terms
from q_store.sim.program import BoundTape
from q_store.sim.statevector import (
    StatevectorSimulator,
    _chunked,
    _serial,
    check_circuit,
    parameter_map_for,
    simd_parallel,
    simd_path,
    simd_tile,
    tile_types,
)

__all__ = ["AdjointResult", "adjoint_angles", "adjoint_batch"]



@dataclass(frozen=True)
class AdjointResult:
    """Values ``(B, K)`` and derivatives with respect to every gate angle: ``(B, K, P)`` for a
    Jacobian, ``(B, P)`` for a vector-Jacobian product."""

    values: np.ndarray
    d_angles: np.ndarray
    batch: Batch


def _sweep(sim: StatevectorSimulator, n: int, phis: np.ndarray, lams: np.ndarray,
           tape: BoundTape, bmap: np.ndarray, n_params: int, from_zero: bool) -> np.ndarray:
    grads = np.zeros((phis.shape[0], n_params))
    args = (n, tape.blk, tape.pref, from_zero, tape.mem, tape.par, tape.mats1, tape.mats2,
            tape.dmats1, tape.dmats2)
    threads = numba.get_num_threads()
    if _chunked(phis.shape[0], n, sim.threads):
        real, cplx = tile_types(phis.dtype)
        for r in range(phis.shape[0]):
            BL.adjoint_blocked(phis[r], lams[r], *args, int(bmap[r]), grads[r], threads,
                               *BL.tile_bits(n, phis.itemsize, adjoint=True), real, cplx)
    elif threads == 1 or _serial(phis.shape[0], n, len(tape.blk)):
        K.adjoint_batch_serial(phis, lams, *args, grads, bmap)
    else:
        K.adjoint_batch(phis, lams, *args, grads, bmap)
    return grads


def adjoint_angles(sim: StatevectorSimulator, circuit: Circuit,
                   observables: tuple[Observable, ...], weights: object = None,
                   inputs: object = None, cotangent: object = None,
                   initial_state: object = None) -> AdjointResult:
    """Expectations and their derivatives with respect to every gate angle.

    Without ``cotangent``: the full Jacobian ``(B, K, P)``. With ``cotangent (B, K)``: the
    vector-Jacobian product ``sum_k c_bk d<O_k>_b / d angle`` as ``(B, P)``, in one sweep.
    ``cotangent`` may also be a function of the values ``(B, K) -> (B, K)`` (a loss's chain
    rule): it is called between the forward and the backward sweep, so values and VJP take one
    forward and one backward sweep.
    """
    own = getattr(sim, "adjoint_angles", None)
    if own is not None:  # a simulator with its own sweep (q_store.sim.gpu)
        return own(circuit, observables, weights, inputs, cotangent, initial_state)
    batch, tape = sim._prepare(circuit, weights, inputs, derivatives=True)
    return _adjoint(sim, circuit, observables, batch, tape, cotangent, initial_state)


def adjoint_batch(sim: StatevectorSimulator, circuit: Circuit,
                  observables: tuple[Observable, ...], batch: Batch, cotangent: object = None,
                  initial_state: object = None) -> AdjointResult:
    """:func:`adjoint_angles` for a batch already resolved for ``circuit`` (an
    :class:`~q_store.execution.requests.AdjointRequest`'s): weights and inputs are not
    validated again."""
    own = getattr(sim, "adjoint_angles", None)
    if own is not None:
        return own(circuit, observables, batch.weights, batch.inputs, cotangent, initial_state)
    check_circuit(circuit)
    tape = sim._bind(circuit, batch, derivatives=True)
    return _adjoint(sim, circuit, observables, batch, tape, cotangent, initial_state)


def _adjoint(sim: StatevectorSimulator, circuit: Circuit, observables: tuple[Observable, ...],
             batch: Batch, tape: BoundTape, cotangent: object, initial_state: object
             ) -> AdjointResult:
    n = circuit.n_qubits
    from_zero = initial_state is None
    if from_zero and simd_path(n, batch.size) and not _is_function(cotangent):
        # the one-pass kernels build |0...0> as a product state and never read the states
        return _batched(sim, circuit, observables, np.empty((batch.size, 0), sim.dtype), tape,
                        batch, cotangent, from_zero)
    states, _ = sim._initial(n, batch.size, initial_state)
    size = states.shape[0]
    if simd_path(n, size):
        return _batched(sim, circuit, observables, states, tape, batch, cotangent, from_zero)
    sim._run(n, states, tape, from_zero)
    values = expectations(states, observables, n)
    n_params = parameter_map_for(circuit).n_params
    rows = np.arange(size) if tape.rows > 1 else np.zeros(size, dtype=np.int64)
    if cotangent is not None:
        c = _cotangent_for(cotangent, values)
        lams = np.zeros_like(states)
        for k, o in enumerate(observables):
            lams += c[:, k, None] * apply_observable(states, o, n)
        grads = _sweep(sim, n, states, lams, tape, rows, n_params, from_zero)
        return AdjointResult(values, grads, batch)
    n_obs = len(observables)
    lams = np.concatenate([apply_observable(states, o, n) for o in observables], axis=0)
    phis = np.tile(states, (n_obs, 1))
    grads = _sweep(sim, n, phis, lams, tape, np.tile(rows, n_obs), n_params, from_zero)
    jac = grads.reshape(n_obs, size, n_params).transpose(1, 0, 2)
    return AdjointResult(values, jac, batch)


def _is_function(cotangent: object) -> bool:
    """Whether the cotangent is a function of the values (else an array or resolvable)."""
    return callable(cotangent) and not hasattr(cotangent, "resolve")


def _cotangent_for(cotangent: object, values: np.ndarray) -> np.ndarray:
    """The cotangent ``(B, K)``: given, resolved to the values' shape, or computed from them."""
    if _is_function(cotangent):
        c = np.asarray(cotangent(values), dtype=float)
        if c.shape != values.shape:
            raise ValidationError(f"the cotangent function returned shape {c.shape} for values "
                                  f"of shape {values.shape}")
        return np.ascontiguousarray(c)
    return _resolve_cotangent(cotangent, values.shape)


def _batched(sim: StatevectorSimulator, circuit: Circuit, observables: tuple[Observable, ...],
             states: np.ndarray, tape: BoundTape, batch: Batch, cotangent: object,
             from_zero: bool) -> AdjointResult:
    """Batches of small states: the batch-inner kernels (:mod:`q_store.sim.simd`). With the
    cotangent known beforehand (or none: the Jacobian), forward and backward sweeps run tile by
    tile in one pass (:mod:`q_store.sim.simd_fused`). A cotangent function: one forward sweep
    yields the values and final states; then the cotangent; then one backward sweep."""
    n, size = circuit.n_qubits, states.shape[0]
    n_params = parameter_map_for(circuit).n_params
    threads = numba.get_num_threads()
    parallel = simd_parallel(size, n, len(tape.blk), threads)
    tile = simd_tile(size, threads if parallel else 1)
    terms = observable_terms(observables, n)
    values = np.zeros((size, len(observables)))
    if cotangent is None or not _is_function(cotangent):  # known before the forward sweep
        n_out = len(observables)
        jacobian = cotangent is None
        cot = (np.zeros((size, n_out)) if jacobian
               else _resolve_cotangent(cotangent, (size, n_out)))
        grads = np.zeros((n_out if jacobian else 1, size, n_params))
        F.simd_adjoint(states, n, tape.blk, tape.pref, from_zero, tape.mem, tape.par,
                       tape.mats1, tape.mats2, tape.dmats1, tape.dmats2, *terms, cot, jacobian,
                       values, grads, tile, parallel)
        return AdjointResult(values, grads.transpose(1, 0, 2) if jacobian else grads[0], batch)
    S.simd_forward(states, n, tape.blk, tape.pref, from_zero, tape.mem, tape.par, tape.mats1,
                   tape.mats2, *terms, values, True, tile, parallel)
    grads = np.zeros((size, n_params))
    S.simd_backward(states, n, tape.blk, tape.pref, from_zero, tape.mem, tape.par, tape.mats1,
                    tape.mats2, tape.dmats1, tape.dmats2, *terms,
                    _cotangent_for(cotangent, values), grads, tile, parallel)
    return AdjointResult(values, grads, batch)


def _resolve_cotangent(cotangent: object, shape: tuple[int, ...]) -> np.ndarray:
    resolve = getattr(cotangent, "resolve", None)
    c = resolve(shape) if resolve else np.asarray(cotangent, dtype=float)
    if c.shape != shape:
        raise ValidationError(f"cotangent must have shape {shape}, got {c.shape}")
    return np.ascontiguousarray(c, dtype=np.float64)
