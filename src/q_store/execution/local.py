"""Answering execution requests on this machine: the exact simulator (with adjoint derivatives
and the exact metric), its shot sampler, or any synchronous executor with
``expectation_angles`` (for example a :class:`~q_store.sim.DensityMatrixSimulator`, which also
answers adjoint requests exactly with its adjoint-channel sweep)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.errors import NotSupportedError
from q_store.execution.requests import AdjointRequest, ExpectationRequest, MetricRequest, Request
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["answer", "answer_all"]


def answer(request: Request, executor: Any, *, shots: int | None = None,
           rng: np.random.Generator | None = None) -> Any:
    """The answer to one request from ``executor``: ``(R, K)`` expectations, an
    :class:`~q_store.sim.adjoint.AdjointResult` or an ``(n_w, n_w)`` metric.

    ``shots`` samples expectations from the simulator's exact states (seeded by ``rng``)."""
    if isinstance(request, ExpectationRequest):
        options: dict[str, Any] = {}
        if request.initial_state is not None:
            options["initial_state"] = request.initial_state
        if shots is not None:
            options.update(shots=shots, seed=rng)
        return np.asarray(executor.expectation_angles(request.circuit, request.angles,
                                                      request.observables, **options))
    if isinstance(request, AdjointRequest) and shots is None and _is_density(executor):
        return _noisy_adjoint(request, executor)
    sim = _exact_simulator(executor, request, shots)
    if isinstance(request, AdjointRequest):
        from q_store.sim.adjoint import adjoint_batch

        # a cotangent function is applied to the values between the forward and backward sweep
        return adjoint_batch(sim, request.circuit, request.observables, request.batch,
                             cotangent=request.cotangent, initial_state=request.initial_state)
    if isinstance(request, MetricRequest):
        from q_store.sim.qfim import metric_tensor

        b = request.batch
        g = metric_tensor(request.circuit, b.weights, b.inputs, simulator=sim)
        return g.mean(axis=0) if g.ndim == 3 else g
    raise TypeError(f"not an execution request: {type(request).__name__}")  # pragma: no cover


def answer_all(requests: Sequence[Request], executor: Any, *, shots: int | None = None,
               rng: np.random.Generator | None = None) -> list[Any]:
    return [answer(r, executor, shots=shots, rng=rng) for r in requests]


def _is_density(executor: Any) -> bool:
    from q_store.sim.density import DensityMatrixSimulator

    return isinstance(executor, DensityMatrixSimulator)


def _noisy_adjoint(request: AdjointRequest, sim: Any) -> Any:
    """Exact noisy derivatives by the adjoint-channel sweep of the density-matrix simulator."""
    from q_store.sim.noisy_adjoint import noisy_adjoint_angles

    b, cot = request.batch, None
    if request.cotangent is not None:  # values first: the cotangent depends on them
        values = sim.expectation(request.circuit, request.observables, b.weights, b.inputs,
                                 initial_state=request.initial_state)
        cot = np.asarray(request.cotangent(np.atleast_2d(values)), dtype=float)
    return noisy_adjoint_angles(sim, request.circuit, request.observables, b.weights, b.inputs,
                                cotangent=cot, initial_state=request.initial_state)


def _exact_simulator(executor: Any, request: Request, shots: int | None
                     ) -> StatevectorSimulator:
    what = ("adjoint differentiation" if isinstance(request, AdjointRequest)
            else "the exact quantum metric")
    if not isinstance(executor, StatevectorSimulator) or shots is not None:
        where = "with shots" if shots is not None else f"on {type(executor).__name__}"
        raise NotSupportedError(
            f"{what} needs exact state vectors on the local simulator; it cannot run {where}. "
            "Use gradient_method 'parameter_shift', 'finite_difference', 'spsa' or 'adaptive' "
            "(natural gradient: metric='block_diagonal' or 'spsa')")
    return executor

