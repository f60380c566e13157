"""Adjoint differentiation on the exact simulator: cost independent of the number of weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.errors import NotSupportedError
from q_store.gradients.base import (
    GradientMethod,
    GradientResult,
    VJPResult,
    _check_wrt,
    _cotangent,
)
from q_store.sim.adjoint import adjoint_angles
from q_store.sim.statevector import StatevectorSimulator, _as_observables, parameter_map_for

__all__ = ["AdjointGradient"]


class AdjointGradient(GradientMethod):
    """Exact gradients from one forward and one backward sweep of the state vector."""

    name = "adjoint"

    def __init__(self, simulator: StatevectorSimulator | None = None) -> None:
        sim = simulator or StatevectorSimulator()
        if not isinstance(sim, StatevectorSimulator):
            raise NotSupportedError(
                "adjoint differentiation needs the exact state-vector simulator; use "
                "'parameter_shift', 'finite_difference' or 'spsa' with other executors")
        super().__init__(sim)
        self.simulator = sim

    def _jacobian(self, circuit: Circuit, obs: tuple[Observable, ...], weights: object,
                  inputs: object, want_w: bool, want_x: bool,
                  initial_state: np.ndarray | None = None) -> GradientResult:
        res = adjoint_angles(self.simulator, circuit, obs, weights, inputs,
                             initial_state=initial_state)
        gw, gx = parameter_map_for(circuit).pullback(res.batch, res.d_angles,
                                                     want_weights=want_w, want_inputs=want_x)
        return GradientResult(res.values, gw, gx, 2)

    def vjp(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
            weights: object, inputs: object, cotangent: np.ndarray, *,
            wrt: Sequence[str] = ("weights",),
            initial_state: np.ndarray | None = None) -> VJPResult:
        obs, _ = _as_observables(observables)
        want_w, want_x = _check_wrt(wrt)
        pm = parameter_map_for(circuit)
        # one sweep with lambda = sum_k c_k O_k psi; the cotangent shape is checked after values
        res = adjoint_angles(self.simulator, circuit, obs, weights, inputs,
                             cotangent=_LazyCotangent(cotangent), initial_state=initial_state)
        gw, gx = pm.pullback(res.batch, res.d_angles, want_weights=want_w, want_inputs=want_x)
        return VJPResult(res.values, gw, gx, 2)


class _LazyCotangent:
    """Defers broadcasting the cotangent until the value shape is known."""

    def __init__(self, c: object) -> None:
        self.c = c

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        return np.asarray(self.c, dtype=float)

    def resolve(self, shape: tuple[int, ...]) -> np.ndarray:
        return _cotangent(self.c, shape)
