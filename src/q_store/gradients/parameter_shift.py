"""Parameter-shift gradients: exact derivatives from shifted circuit runs on any executor.

For a gate parameter whose expectation is a trigonometric polynomial with frequencies
``omega, 2 omega, ..., R omega`` (the gate table's spectra), the general shift rule
(Wierichs, Izaac, Wang, Lin, Quantum 6, 677 (2022)) gives

    f'(0) = omega * sum_{mu=1}^{2R} (-1)^(mu-1) / (4 R sin^2(x_mu / 2)) * f(x_mu / omega),
    x_mu = (2 mu - 1) pi / (2R),

two terms (shifts +-pi/2) for Pauli rotations and four for controlled rotations.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from q_store.execution.requests import Plan
from q_store.gradients.base import (
    AngleExecutor,
    Cotangent,
    GradientMethod,
    Problem,
    base_angles,
    expectation_request,
    finish_jacobian,
)

__all__ = ["ParameterShiftGradient", "shift_rule"]


@lru_cache(maxsize=64)
def shift_rule(omega: float, r: int) -> tuple[np.ndarray, np.ndarray]:
    """``(shifts, coefficients)`` with ``f'(0) = sum c_i f(s_i)`` for frequencies
    ``omega .. r*omega``."""
    mu = np.arange(1, 2 * r + 1)
    x = (2 * mu - 1) * np.pi / (2 * r)
    coef = omega * (-1.0) ** (mu - 1) / (4 * r * np.sin(x / 2) ** 2)
    x = np.where(x > np.pi, x - 2 * np.pi, x)  # the same point one period earlier
    return x / omega, coef


class ParameterShiftGradient(GradientMethod):
    """Exact gradients from ``2R`` shifted runs per gate parameter, in one request."""

    name = "parameter_shift"

    def __init__(self, executor: AngleExecutor | None = None) -> None:
        super().__init__(executor)

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        circuit, batch = problem.circuit, problem.batch
        pm, angles = base_angles(circuit, batch)
        needed = np.zeros(pm.n_params, dtype=bool)
        if problem.want_w:
            needed |= pm.uses_weights
        if problem.want_x:
            needed |= pm.uses_inputs
        specs = [(op.spec, k) for op in circuit.operations for k in range(len(op.params))]
        cols, shifts, coefs = [], [], []
        for j in np.flatnonzero(needed):
            spec, k = specs[j]
            s, c = shift_rule(*spec.frequencies[k])
            cols.extend([j] * len(s))
            shifts.extend(s)
            coefs.extend(c)
        n_runs, size, n_obs = len(cols), batch.size, len(problem.observables)
        runs = np.repeat(angles[None], n_runs + 1, axis=0)  # (n_runs + 1, B, P); row 0 = values
        runs[1 + np.arange(n_runs), :, cols] += np.asarray(shifts)[:, None]
        request = expectation_request(problem, runs.reshape(-1, pm.n_params), n_runs + 1,
                                      "gradient")

        def finish(answers: Sequence[Any]) -> Any:
            out = np.asarray(answers[0]).reshape(n_runs + 1, size, n_obs)
            d_angles = np.zeros((size, n_obs, pm.n_params))
            if n_runs:
                contrib = out[1:] * np.asarray(coefs)[:, None, None]  # (n_runs, B, K)
                np.add.at(d_angles, (slice(None), slice(None), np.asarray(cols)),
                          contrib.transpose(1, 2, 0))
            gw, gx = pm.pullback(batch, d_angles, want_weights=problem.want_w,
                                 want_inputs=problem.want_x)
            return finish_jacobian(problem, out[0], gw, gx, n_runs + 1, cotangent)

        return Plan((request,), finish, state)
