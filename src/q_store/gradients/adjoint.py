"""Adjoint differentiation on the exact simulator: cost independent of the number of weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from q_store.errors import NotSupportedError
from q_store.execution.requests import AdjointRequest, Plan
from q_store.gradients.base import (
    Cotangent,
    GradientMethod,
    Problem,
    VJPResult,
    finish_jacobian,
)
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.statevector import StatevectorSimulator, parameter_map_for

__all__ = ["AdjointGradient"]

_JACOBIAN_OUTPUTS = 2  # up to this many outputs, one Jacobian sweep beats values + a VJP sweep


class AdjointGradient(GradientMethod):
    """Exact gradients from one forward and one backward sweep of the state vector.

    Planned as an :class:`~q_store.execution.requests.AdjointRequest`, which the exact local
    simulator answers, and the density-matrix simulator (``mock_noisy``) with its
    adjoint-channel sweep. With a cotangent (a loss's chain rule) and more than two outputs,
    one backward sweep carries all of them at once instead of one per output."""

    name = "adjoint"

    def __init__(self, simulator: StatevectorSimulator | DensityMatrixSimulator | None = None
                 ) -> None:
        sim = simulator or StatevectorSimulator()
        if not isinstance(sim, (StatevectorSimulator, DensityMatrixSimulator)):
            raise NotSupportedError(
                "adjoint differentiation needs the exact state-vector or density-matrix "
                "simulator; use 'parameter_shift', 'finite_difference' or 'spsa' with other "
                "executors")
        super().__init__(sim)
        self.simulator = sim

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        pm = parameter_map_for(problem.circuit)
        one_sweep = cotangent is not None and len(problem.observables) > _JACOBIAN_OUTPUTS
        request = AdjointRequest(problem.circuit, problem.observables, problem.batch,
                                 problem.initial_state, cotangent if one_sweep else None)
        evals = 2  # one forward and one backward sweep, with or without a cotangent

        def finish(answers: Sequence[Any]) -> Any:
            res = answers[0]
            gw, gx = pm.pullback(res.batch, res.d_angles, want_weights=problem.want_w,
                                 want_inputs=problem.want_x)
            if one_sweep:
                return VJPResult(res.values, gw, gx, evals)
            return finish_jacobian(problem, res.values, gw, gx, evals, cotangent)

        return Plan((request,), finish, state)
