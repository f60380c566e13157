"""What gradient methods ask the execution engine to run, and the plans they make of it.

A gradient method does not run circuits: it turns one circuit template, its observables and a
batch into a :class:`Plan` (PennyLane's ``tapes, fn = param_shift(tape)``): requests for the
engine and a function that turns the engine's answers into a result. Counting circuits or
estimating cost is ``len(plan)``; caching, batching, shot allocation and multi-backend execution
apply to every method's circuits alike.

Three kinds of request:

* :class:`ExpectationRequest`: ``<O_k>`` at explicit gate angles, one row per circuit run. Any
  backend can answer it.
* :class:`AdjointRequest`: values and exact derivatives with respect to every gate angle by
  adjoint differentiation; the exact local simulator answers it, and the density-matrix
  simulator (``mock_noisy``) with its adjoint-channel sweep.
* :class:`MetricRequest`: the exact Fubini-Study metric from tangent states (local simulator).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.circuit.params import Batch

__all__ = ["AdjointRequest", "ExpectationRequest", "MetricRequest", "Plan", "Request"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class ExpectationRequest:
    """``<O_k>`` of ``circuit`` with its gate parameters set to each row of ``angles (R, P)``;
    answered with ``(R, K)``. ``initial_state (R, 2**n)`` replaces ``|0...0>`` (amplitude
    encoding); ``role`` says what the rows are for (``values``, ``gradient``, ``metric``) in
    telemetry."""

    circuit: Circuit
    angles: np.ndarray
    observables: tuple[Observable, ...]
    initial_state: np.ndarray | None = None
    role: str = "values"

    @property
    def rows(self) -> int:
        return int(self.angles.shape[0])


@dataclass(frozen=True, eq=False)
class AdjointRequest:
    """Values ``(B, K)`` and derivatives with respect to every gate angle, by one forward and
    one backward sweep: ``(B, K, P)``, or ``(B, P)`` for ``sum_k c_bk <O_k>`` when ``cotangent``
    maps the values to ``c (B, K)`` (a loss's chain rule, one sweep for all outputs). Answered
    with an :class:`~q_store.sim.adjoint.AdjointResult`."""

    circuit: Circuit
    observables: tuple[Observable, ...]
    batch: Batch
    initial_state: np.ndarray | None = None
    cotangent: Callable[[np.ndarray], np.ndarray] | None = None
    role: str = "gradient"

    @property
    def rows(self) -> int:
        """Sweeps per sample: forward and backward (a cotangent function is applied to the
        forward's values before the backward sweep)."""
        return 2 * int(self.batch.size)


@dataclass(frozen=True, eq=False)
class MetricRequest:
    """The exact Fubini-Study metric of ``circuit`` with respect to its weights, averaged over
    the batch: ``(n_w, n_w)``."""

    circuit: Circuit
    batch: Batch
    role: str = "metric"

    @property
    def rows(self) -> int:  # one tangent state per weight-carrying gate angle and sample
        return int(self.batch.size) * max(1, self.circuit.num_gate_params)


Request = ExpectationRequest | AdjointRequest | MetricRequest


@dataclass(frozen=True, eq=False)
class Plan(Generic[T]):
    """Requests to run, ``finish(answers) -> result`` (answers in request order), and the
    method's state after this step (optax style: state in, state out). Where that state
    depends on what was measured (a running metric estimate), ``advance(result)`` gives it;
    read it with :meth:`next_state`."""

    requests: tuple[Request, ...]
    finish: Callable[[Sequence[Any]], T]
    state: Any = None
    notes: dict[str, Any] = field(default_factory=dict)
    advance: Callable[[T], Any] | None = None

    def next_state(self, result: T) -> Any:
        """The method's state after this plan ran and finished with ``result``."""
        return self.state if self.advance is None else self.advance(result)

    def __len__(self) -> int:
        """Circuit runs this plan costs (rows of every request)."""
        return sum(r.rows for r in self.requests)

    @property
    def circuits_per_sample(self) -> float:
        """Circuit runs per sample of the batch the plan was made for."""
        size = self.notes.get("batch_size", 1)
        return len(self) / max(1, size)
