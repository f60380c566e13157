"""Natural gradient: the loss gradient preconditioned by the quantum metric.

``w <- w - lr (g + eps I)^-1 grad``, with ``g`` the Fubini-Study metric (a quarter of the
quantum Fisher information) of the circuit's state, averaged over the batch (Stokes, Izaac,
Killoran, Carleo, Quantum 4, 269 (2020)). The plan is the base method's plan plus a request for
the metric; the result carries the preconditioner, which the trainer applies to the loss
gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from q_store.errors import NotSupportedError, ValidationError
from q_store.execution.requests import MetricRequest, Plan
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.base import Cotangent, GradientMethod, Problem

__all__ = ["NaturalGradient"]


class NaturalGradient(GradientMethod):
    """Values and gradients from ``base`` (default: adjoint), preconditioned by the exact
    metric plus ``regularization`` times the identity."""

    name = "natural_gradient"

    def __init__(self, executor: Any = None, *, base: GradientMethod | None = None,
                 regularization: float = 0.01) -> None:
        if not (isinstance(regularization, int | float) and np.isfinite(regularization)
                and regularization >= 0):
            raise ValidationError(f"regularization must be a non-negative finite number, got "
                                  f"{regularization!r}")
        self.base = base or AdjointGradient(executor)
        self.regularization = float(regularization)
        super().__init__(self.base.executor)

    def init(self) -> Any:
        return self.base.init()

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        if problem.initial_state is not None:
            raise NotSupportedError("natural_gradient with amplitude encoding (initial states) "
                                    "is not supported yet; use an angle, basis or ZZ encoding")
        inner = self.base._plan(problem, state, cotangent)
        metric = MetricRequest(problem.circuit, problem.batch)
        reg = self.regularization
        n_inner = len(inner.requests)

        def finish(answers: Sequence[Any]) -> Any:
            res = inner.finish(answers[:n_inner])
            g = np.asarray(answers[n_inner])
            lhs = g + reg * np.eye(len(g))

            def precondition(grad: np.ndarray) -> np.ndarray:
                return np.linalg.lstsq(lhs, grad, rcond=None)[0]

            return replace(res, precondition=precondition,
                           evaluations=res.evaluations + metric.rows // max(1, problem.size))

        return Plan((*inner.requests, metric), finish, inner.state)
