"""Natural gradient: the loss gradient preconditioned by the quantum metric, on every backend.

``w <- w - lr (g + eps I)^-1 grad`` with ``g`` the Fubini-Study metric (a quarter of the quantum
Fisher information) of the circuit's state, averaged over the batch (Stokes, Izaac, Killoran,
Carleo, Quantum 4, 269 (2020)). Three estimators of ``g``, chosen by ``metric``:

* ``"exact"``: from tangent states (a :class:`~q_store.execution.requests.MetricRequest`), on the
  exact local simulator only;
* ``"block_diagonal"``: the layer blocks of ``g`` measured as generator covariances
  (:mod:`~q_store.gradients.metric_blocks`), one circuit per layer and sample, any backend;
* ``"spsa"``: 2-SPSA from compute-uncompute fidelities (:mod:`~q_store.gradients.metric_spsa`),
  four circuits per sample and resampling, any backend, averaged over steps (the running mean
  ``g_k = (k g_(k-1) + g_hat_k) / (k + 1)`` lives in the method's state) and made positive
  definite as ``|g_k| + eps I`` (Gacon, Zoufal, Carleo, Woerner, Quantum 5, 567 (2021)).

The plan is the base method's plan plus the metric's requests (so ``len(plan)`` counts the
metric circuits); the result carries the preconditioner, which the trainer applies to the loss
gradient, and the metric. ``cache_size`` keeps metrics for reuse (:mod:`metric_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from q_store.errors import NotSupportedError, ValidationError
from q_store.execution.requests import MetricRequest, Plan, Request
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.base import Cotangent, GradientMethod, Problem, random_key
from q_store.gradients.metric_blocks import block_diagonal_requests
from q_store.gradients.metric_cache import MetricCache, array_digest
from q_store.gradients.metric_spsa import spsa_metric_requests
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["METRICS", "NaturalGradient", "NaturalGradientEstimator", "NaturalState"]

METRICS = ("exact", "block_diagonal", "spsa")


class NaturalState(NamedTuple):
    """``step``; the base method's state; the running 2-SPSA metric (None before the first
    estimate) and how many estimates it averages; the key of the 2-SPSA directions (step
    ``k`` draws from ``default_rng((key, k))``, so a resumed run draws what the original did)."""

    step: int
    base: Any
    metric: np.ndarray | None
    count: int
    key: int


def _number(name: str, v: object, lo: float, strict: bool = False) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and (
        v > lo if strict else v >= lo)
    if not ok:
        raise ValidationError(f"{name} must be a finite number {'>' if strict else '>='} {lo}, "
                              f"got {v!r}")
    return float(v)


class NaturalGradient(GradientMethod):
    """Values and gradients from ``base``, preconditioned by a metric estimate plus
    ``regularization`` times the identity.

    ``metric``: ``"exact"``, ``"block_diagonal"`` or ``"spsa"`` (default: exact on the exact
    simulator, block-diagonal for any other executor); ``base`` (default: adjoint on the exact
    simulator, parameter shift elsewhere); ``cache_size``: metrics kept for reuse (0: none),
    ``reuse_steps``: 1 reuses only at identical weights and inputs (exact), ``N`` reuses a
    metric for ``N`` steps (approximate); ``epsilon`` and ``resamplings``: 2-SPSA's
    perturbation size and direction pairs per step; ``seed``: its directions."""

    name = "natural_gradient"

    def __init__(self, executor: Any = None, *, base: GradientMethod | None = None,
                 regularization: float = 0.01, metric: str | None = None, cache_size: int = 0,
                 reuse_steps: int = 1, epsilon: float = 0.01, resamplings: int = 1,
                 seed: int | np.random.Generator | None = None) -> None:
        self.regularization = _number("regularization", regularization, 0.0)
        exact_target = executor is None or isinstance(executor, StatevectorSimulator)
        metric = metric if metric is not None else ("exact" if exact_target
                                                    else "block_diagonal")
        if metric not in METRICS:
            raise ValidationError(f"metric={metric!r} is not allowed; choose one of "
                                  f"{', '.join(METRICS)}")
        self.metric = metric
        if base is None:
            base = (AdjointGradient(executor) if exact_target
                    else ParameterShiftGradient(executor))
        self.base = base
        for label, v, lo in (("cache_size", cache_size, 0), ("reuse_steps", reuse_steps, 1),
                             ("resamplings", resamplings, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValidationError(f"{label} must be an integer >= {lo}, got {v!r}")
        self.cache = MetricCache(cache_size) if cache_size else None
        self.reuse_steps, self.resamplings = reuse_steps, resamplings
        self.epsilon = _number("epsilon", epsilon, 0.0, strict=True)
        self.key = random_key(seed)
        super().__init__(self.base.executor)

    def init(self) -> NaturalState:
        return NaturalState(0, self.base.init(), None, 0, self.key)

    def cache_stats(self) -> dict[str, Any]:
        """Hits, misses, evictions, size, capacity and hit rate of the metric cache."""
        if self.cache is None:
            return {"hits": 0, "misses": 0, "evictions": 0, "size": 0, "capacity": 0,
                    "hit_rate": 0.0}
        return self.cache.get_stats()

    # -- planning ----------------------------------------------------------------------------
    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        state = self._state(state)
        kind = self.metric
        if problem.initial_state is not None and kind != "block_diagonal":
            raise NotSupportedError(
                f"natural gradient metric {kind!r} with amplitude encoding (initial states) is "
                "not supported; use metric='block_diagonal' or an angle, basis or ZZ encoding")
        inner = self.base._plan(problem, state.base, cotangent)
        key = self._cache_key(problem, state)
        cached = None if key is None else self.cache.get(key)  # type: ignore[union-attr]
        requests: tuple[Request, ...] = ()
        estimate: Callable[[Sequence[Any]], np.ndarray] | None = None
        if cached is None:
            requests, estimate = self._metric_requests(problem, state)
        n_inner, size = len(inner.requests), problem.size
        extra = sum(r.rows for r in requests) // max(1, size)
        reg, kind_ = self.regularization, kind

        def finish(answers: Sequence[Any]) -> Any:
            res = inner.finish(answers[:n_inner])
            g = cached if estimate is None else estimate(answers[n_inner:])
            if key is not None and estimate is not None:
                self.cache.put(key, g)  # type: ignore[union-attr]
            lhs = _positive(g, kind_) + reg * np.eye(len(g))

            def precondition(grad: np.ndarray) -> np.ndarray:
                return np.linalg.lstsq(lhs, grad, rcond=None)[0]

            return replace(res, precondition=precondition, metric=g,
                           evaluations=res.evaluations + extra)

        new = state._replace(step=state.step + 1, base=inner.state)
        advance = None
        if kind == "spsa" and estimate is not None:
            def advance(res: Any) -> NaturalState:
                return new._replace(metric=np.asarray(res.metric), count=new.count + 1)
        if inner.advance is not None:
            inner_advance, outer = inner.advance, advance

            def advance(res: Any) -> NaturalState:
                after = outer(res) if outer is not None else new
                return after._replace(base=inner_advance(res))
        notes = {**inner.notes, "metric": kind, "metric_rows": sum(r.rows for r in requests),
                 "metric_cache": "off" if key is None else ("hit" if cached is not None
                                                            else "miss")}
        return Plan((*inner.requests, *requests), finish, new, notes, advance)

    def _metric_requests(self, problem: Problem, state: NaturalState
                         ) -> tuple[tuple[Request, ...], Callable[[Sequence[Any]], np.ndarray]]:
        circuit, batch = problem.circuit, problem.batch
        if self.metric == "exact":
            return (MetricRequest(circuit, batch),), lambda a: np.asarray(a[0], dtype=float)
        if self.metric == "block_diagonal":
            return block_diagonal_requests(circuit, batch, problem.initial_state)
        n_w = batch.weights.shape[1]
        rng = np.random.default_rng((state.key, state.step))
        deltas = rng.choice(np.array([-1.0, 1.0]), size=(self.resamplings, 2, n_w))
        requests, sample = spsa_metric_requests(circuit, batch, deltas, self.epsilon)
        previous, count = state.metric, state.count

        def running(answers: Sequence[Any]) -> np.ndarray:
            g = sample(answers)
            return g if previous is None else (count * previous + g) / (count + 1)

        return requests, running

    def _cache_key(self, problem: Problem, state: NaturalState) -> tuple[Any, ...] | None:
        if self.cache is None:
            return None
        b = problem.batch
        where = (array_digest(b.weights) if self.reuse_steps == 1
                 else ("steps", state.step // self.reuse_steps))
        return (problem.circuit, self.metric, self.epsilon,
                array_digest(b.inputs, problem.initial_state), where)

    # -- state ---------------------------------------------------------------------------------
    def _state(self, state: Any) -> NaturalState:
        if isinstance(state, NaturalState):
            return state
        if state is None:
            return self.init()
        raise ValidationError(f"natural gradient state must be a NaturalState, got {state!r}")

    def state_to_plain(self, state: Any) -> Any:
        s = self._state(state)
        return {"step": int(s.step), "base": self.base.state_to_plain(s.base),
                "metric": None if s.metric is None else np.asarray(s.metric).tolist(),
                "count": int(s.count), "key": int(s.key)}

    def state_from_plain(self, value: Any) -> NaturalState:
        fields = {"step", "base", "metric", "count", "key"}
        if not isinstance(value, dict) or set(value) != fields:
            raise ValidationError(f"state must have the fields {sorted(fields)}, got {value!r}")
        for name in ("step", "count", "key"):
            v = value[name]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValidationError(f"state.{name} must be a non-negative integer, got {v!r}")
        metric = value["metric"]
        if metric is not None:
            metric = np.asarray(metric, dtype=float)
            if metric.ndim != 2 or metric.shape[0] != metric.shape[1] or not np.all(
                    np.isfinite(metric)):
                raise ValidationError("state.metric must be a finite square matrix or None")
        return NaturalState(value["step"], self.base.state_from_plain(value["base"]), metric,
                            value["count"], value["key"])

    def __repr__(self) -> str:
        return (f"NaturalGradient(metric={self.metric!r}, base={self.base!r}, "
                f"regularization={self.regularization}, cache={self.cache_stats()['capacity']})")


def _positive(g: np.ndarray, kind: str) -> np.ndarray:
    """A positive semi-definite version of a metric estimate: the exact metric as it is;
    2-SPSA's ``|g|`` (Gacon et al.); a sampled block metric with negative eigenvalues (shot
    noise) clipped to zero."""
    g = 0.5 * (g + g.T)
    if kind == "exact":
        return g
    vals, vecs = np.linalg.eigh(g)
    vals = np.abs(vals) if kind == "spsa" else np.clip(vals, 0.0, None)
    return (vecs * vals) @ vecs.T


NaturalGradientEstimator = NaturalGradient
