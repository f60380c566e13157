"""Finite-difference gradients (forward or central) on weights and inputs, any executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit.params import Batch
from q_store.errors import ValidationError
from q_store.execution.requests import Plan
from q_store.gradients.base import (
    AngleExecutor,
    Cotangent,
    GradientMethod,
    Problem,
    expectation_request,
    finish_jacobian,
)
from q_store.sim.statevector import parameter_map_for

__all__ = ["FiniteDifferenceGradient"]


class FiniteDifferenceGradient(GradientMethod):
    """``(f(v + h e_i) - f(v - h e_i)) / 2h`` (central) or ``(f(v + h e_i) - f(v)) / h``.

    The default steps balance truncation against rounding error in double precision
    (about 1e-5 central, 1e-7 forward); with shot noise use a step near 0.1 or SPSA.
    """

    name = "finite_difference"

    def __init__(self, executor: AngleExecutor | None = None, *, method: str = "central",
                 step: float | None = None) -> None:
        if method not in ("central", "forward"):
            raise ValidationError(f"method must be 'central' or 'forward', got {method!r}")
        h = step if step is not None else (1e-5 if method == "central" else 1e-7)
        if not (isinstance(h, (int, float)) and np.isfinite(h) and h > 0):
            raise ValidationError(f"step must be a positive finite number, got {step!r}")
        super().__init__(executor)
        self.method, self.step = method, float(h)

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        batch, size = problem.batch, problem.size
        pm = parameter_map_for(problem.circuit)
        w = np.broadcast_to(batch.weights, (size, batch.weights.shape[1]))
        xv = np.broadcast_to(batch.inputs, (size, batch.inputs.shape[1]))
        signs = (1.0, -1.0) if self.method == "central" else (1.0,)
        rows: list[np.ndarray] = [pm.angles(Batch(w, xv, size, True))]
        steps: list[tuple[str, int]] = []
        for kind, arr, want in (("w", w, problem.want_w), ("x", xv, problem.want_x)):
            if not want:
                continue
            for i in range(arr.shape[1]):
                steps.append((kind, i))
                for sgn in signs:
                    p = arr.copy()
                    p[:, i] += sgn * self.step
                    b = Batch(p, xv, size, True) if kind == "w" else Batch(w, p, size, True)
                    rows.append(np.broadcast_to(pm.angles(b), (size, pm.n_params)))
        angles = np.concatenate([np.broadcast_to(r, (size, pm.n_params)) for r in rows])
        request = expectation_request(problem, angles, len(rows), "gradient")
        n_obs, h, central = len(problem.observables), self.step, self.method == "central"

        def finish(answers: Sequence[Any]) -> Any:
            out = np.asarray(answers[0]).reshape(len(rows), size, n_obs)
            values = out[0]
            jw = np.zeros((size, n_obs, w.shape[1])) if problem.want_w else None
            jx = np.zeros((size, n_obs, xv.shape[1])) if problem.want_x else None
            for n, (kind, i) in enumerate(steps):
                if central:
                    d = (out[1 + 2 * n] - out[2 + 2 * n]) / (2 * h)
                else:
                    d = (out[1 + n] - values) / h
                target = jw if kind == "w" else jx
                target[:, :, i] = d  # type: ignore[index]
            return finish_jacobian(problem, values, jw, jx, len(rows), cotangent)

        return Plan((request,), finish, state)

    def __repr__(self) -> str:
        return f"FiniteDifferenceGradient(method={self.method!r}, step={self.step})"
