"""The common interface of gradient methods: each one plans, the execution engine runs.

A method turns a circuit template, its observables and a batch (weights, inputs, optional
initial states) into a :class:`~q_store.execution.requests.Plan`: the requests to run and a
function from their answers to a :class:`GradientResult` (or, given a cotangent, a
:class:`VJPResult`). Methods keep no per-call state: what changes from step to step (SPSA's
counter, the adaptive method's switch) is the ``state`` passed in and returned by the plan, as
in optax. ``jacobian`` and ``vjp`` are the synchronous convenience: plan, answer on this
method's executor, finish.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.circuit.params import Batch, ParameterMap, resolve_batch
from q_store.errors import ValidationError
from q_store.execution.local import answer_all
from q_store.execution.requests import ExpectationRequest, Plan
from q_store.sim.statevector import StatevectorSimulator, _as_observables, parameter_map_for

__all__ = ["AngleExecutor", "Cotangent", "GradientMethod", "GradientResult", "VJPResult"]

_WRT = ("weights", "inputs")
Cotangent = Callable[[np.ndarray], np.ndarray]
"""Maps the values ``(B, K)`` to the cotangent ``c (B, K)`` of ``sum_k c_bk <O_k>_b``."""


class AngleExecutor(Protocol):
    """Runs a circuit template for a batch of explicit gate angles."""

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], **options: object
                           ) -> np.ndarray: ...


@dataclass(frozen=True)
class GradientResult:
    """``values (B, K)``; ``weights (B, K, n_w)`` and ``inputs (B, K, n_x)`` Jacobians (None when
    not requested); ``evaluations``: circuit runs used per sample (including the values);
    ``precondition``: applied by a trainer to the loss gradient (natural gradient's metric);
    ``metric``: the metric estimate behind it; ``shot_variance``: the shot-noise variance of
    ``weights`` (set by an engine that allocates shots adaptively)."""

    values: np.ndarray
    weights: np.ndarray | None
    inputs: np.ndarray | None
    evaluations: int
    precondition: Callable[[np.ndarray], np.ndarray] | None = field(default=None,
                                                                   compare=False)
    metric: np.ndarray | None = field(default=None, compare=False)
    shot_variance: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class VJPResult:
    """``values (B, K)`` and per-sample gradients of ``sum_k c_bk <O_k>_b``:
    ``weights (B, n_w)``, ``inputs (B, n_x)``; the other fields as in :class:`GradientResult`
    (``shot_variance (B, n_w)``)."""

    values: np.ndarray
    weights: np.ndarray | None
    inputs: np.ndarray | None
    evaluations: int
    precondition: Callable[[np.ndarray], np.ndarray] | None = field(default=None,
                                                                   compare=False)
    metric: np.ndarray | None = field(default=None, compare=False)
    shot_variance: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Problem:
    """What a method differentiates: validated and broadcast once, at the boundary."""

    circuit: Circuit
    observables: tuple[Observable, ...]
    batch: Batch
    initial_state: np.ndarray | None
    want_w: bool
    want_x: bool

    @property
    def size(self) -> int:
        return int(self.batch.size)


class GradientMethod(ABC):
    """Base class: subclasses implement :meth:`_plan`."""

    name: str = "gradient"

    def __init__(self, executor: AngleExecutor | None = None) -> None:
        self.executor: AngleExecutor = executor or StatevectorSimulator()
        self.state: Any = self.init()

    def init(self) -> Any:
        """The method's state before its first step (None for stateless methods)."""
        return None

    def observe(self, state: Any, loss: float) -> Any:
        """The state after an epoch ended with ``loss`` (the adaptive method switches here)."""
        return state

    def state_to_plain(self, state: Any) -> Any:
        """``state`` as JSON-ready values (for checkpoints)."""
        return _to_plain(state)

    def state_from_plain(self, value: Any) -> Any:
        """The state :meth:`state_to_plain` wrote, checked against :meth:`init`'s shape; a
        ValidationError naming the first field that does not fit."""
        return _from_plain(self.init(), value, "state")

    def plan(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
             weights: object = None, inputs: object = None, *,
             wrt: Sequence[str] = ("weights",), initial_state: np.ndarray | None = None,
             state: Any = None, cotangent: Cotangent | None = None) -> Plan[Any]:
        """The requests that compute values and derivatives, and how to finish them: a
        :class:`GradientResult`, or with ``cotangent`` a :class:`VJPResult`. ``state`` is the
        method's state (None: :meth:`init`); the plan carries the next one."""
        problem = make_problem(circuit, observables, weights, inputs, wrt, initial_state)
        plan = self._plan(problem, self.init() if state is None else state, cotangent)
        plan.notes.setdefault("batch_size", problem.size)
        plan.notes.setdefault("method", self.name)
        return plan

    @abstractmethod
    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]: ...

    # -- synchronous convenience -------------------------------------------------------------
    def jacobian(self, circuit: Circuit,
                 observables: Observable | Sequence[Observable] | str,
                 weights: object = None, inputs: object = None, *,
                 wrt: Sequence[str] = ("weights",),
                 initial_state: np.ndarray | None = None) -> GradientResult:
        """Expectations and their Jacobian, run now on this method's executor; ``wrt`` names
        ``"weights"`` and/or ``"inputs"``; ``initial_state`` (one per sample) replaces
        |0...0>, e.g. for amplitude encoding. Advances :attr:`state`."""
        return self._run(self.plan(circuit, observables, weights, inputs, wrt=wrt,
                                   initial_state=initial_state, state=self.state))

    def vjp(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
            weights: object, inputs: object, cotangent: np.ndarray, *,
            wrt: Sequence[str] = ("weights",),
            initial_state: np.ndarray | None = None) -> VJPResult:
        """Per-sample gradient of ``sum_k cotangent[b, k] * <O_k>_b`` (the chain rule of a loss)."""
        fixed = np.asarray(cotangent, dtype=float)
        return self._run(self.plan(circuit, observables, weights, inputs, wrt=wrt,
                                   initial_state=initial_state, state=self.state,
                                   cotangent=lambda values: _cotangent(fixed, values.shape)))

    def _run(self, plan: Plan[Any]) -> Any:
        result = plan.finish(answer_all(plan.requests, self.executor))
        self.state = plan.next_state(result)
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def random_key(seed: int | np.random.Generator | None = None) -> int:
    """A perturbation key (SPSA, 2-SPSA metric): the seed, a draw from a Generator, or fresh OS
    entropy when None."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**62))
    if seed is None:
        return int(np.random.SeedSequence().entropy % 2**62)  # type: ignore[operator]
    return int(seed)


def make_problem(circuit: Circuit, observables: object, weights: object, inputs: object,
                 wrt: Sequence[str], initial_state: object) -> Problem:
    obs, _ = _as_observables(observables)
    want_w, want_x = _check_wrt(wrt)
    weights = _batch_like_states(weights, inputs, initial_state)
    batch = resolve_batch(circuit, weights, inputs)
    states = None
    if initial_state is not None:
        states = np.asarray(initial_state)
        if states.ndim == 1:
            states = np.broadcast_to(states, (batch.size, states.shape[0]))
    return Problem(circuit, obs, batch, states, want_w, want_x)


def finish_jacobian(problem: Problem, values: np.ndarray, jw: np.ndarray | None,
                    jx: np.ndarray | None, evaluations: int, cotangent: Cotangent | None,
                    precondition: Callable[[np.ndarray], np.ndarray] | None = None
                    ) -> GradientResult | VJPResult:
    """A Jacobian result, or its contraction with the cotangent of the values."""
    if cotangent is None:
        return GradientResult(values, jw, jx, evaluations, precondition)
    c = _cotangent(cotangent(values), values.shape)
    gw = None if jw is None else np.einsum("bk,bkp->bp", c, jw)
    gx = None if jx is None else np.einsum("bk,bkp->bp", c, jx)
    return VJPResult(values, gw, gx, evaluations, precondition)


def expectation_request(problem: Problem, angles: np.ndarray, repeats: int,
                        role: str) -> ExpectationRequest:
    """A request for ``angles`` made of ``repeats`` stacked copies of the batch."""
    states = problem.initial_state
    if states is not None:
        states = np.tile(states, (repeats, 1))
    return ExpectationRequest(problem.circuit, np.ascontiguousarray(angles),
                              problem.observables, states, role)


def _batch_like_states(weights: object, inputs: object, initial_state: object) -> object:
    """With a batch of initial states and nothing else batched, repeat the weights per state so
    that every method sees the same batch size."""
    if initial_state is None or np.ndim(initial_state) != 2 or np.ndim(inputs) == 2:
        return weights
    rows = np.shape(initial_state)[0]
    if weights is None or np.ndim(weights) != 1 or rows == 1:
        return weights
    return np.repeat(np.asarray(weights, dtype=float)[None, :], rows, axis=0)


def _check_wrt(wrt: Sequence[str]) -> tuple[bool, bool]:
    if isinstance(wrt, str):
        wrt = (wrt,)
    bad = [w for w in wrt if w not in _WRT]
    if bad or not wrt:
        raise ValidationError(f"wrt must name 'weights' and/or 'inputs', got {tuple(wrt)!r}")
    return "weights" in wrt, "inputs" in wrt


def _cotangent(cotangent: object, shape: tuple[int, ...]) -> np.ndarray:
    c = np.asarray(cotangent, dtype=float)
    if c.shape != shape:
        try:
            c = np.broadcast_to(c, shape)
        except ValueError:
            raise ValidationError(f"cotangent must have shape {shape}, got {c.shape}") from None
    if not np.all(np.isfinite(c)):
        raise ValidationError("cotangent must be finite")
    return c


def base_angles(circuit: Circuit, batch: Batch) -> tuple[ParameterMap, np.ndarray]:
    """The parameter map and the ``(B, P)`` angles of every sample (broadcast to the batch)."""
    pm = parameter_map_for(circuit)
    angles = pm.angles(batch)
    return pm, np.ascontiguousarray(np.broadcast_to(angles, (batch.size, pm.n_params)))


def _to_plain(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {f: _to_plain(getattr(value, f)) for f in value._fields}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _from_plain(template: Any, value: Any, where: str) -> Any:
    """``value`` shaped like ``template``: NamedTuples from dicts with exactly their fields,
    non-negative integers where the template has integers, strings for strings; a template
    None allows None or a finite number."""
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        if not isinstance(value, dict) or set(value) != set(template._fields):
            raise ValidationError(f"{where} must have the fields {list(template._fields)}, got "
                                  f"{value!r}")
        return type(template)(**{f: _from_plain(getattr(template, f), value[f], f"{where}.{f}")
                                 for f in template._fields})
    if template is None or isinstance(template, float):
        if value is None and template is None:
            return None
        if (isinstance(value, int | float) and not isinstance(value, bool)
                and np.isfinite(value)):
            return float(value)
    elif isinstance(template, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(template, int):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    elif isinstance(template, str):
        if isinstance(value, str):
            return value
    raise ValidationError(f"{where} must be like {template!r}, got {value!r}")
