"""The spec's loss-level gradient calls on the planners and the execution engine.

v3.2's ``compute_gradients(circuit, params)``, v3.3's ``estimate_gradient(circuit_builder=,
loss_function=, parameters=, shots=)`` and ``AdaptiveGradientOptimizer.compute_gradients`` all
come here: the circuit (a template, or a builder called once with the symbols ``theta[0..n-1]``)
and its observables make a planner's problem, the loss enters as the cotangent of the
expectations (its derivative by central differences: classical, no circuits), and the plan runs
on one :class:`~q_store.execution.engine.ExecutionEngine`: the same path a training step takes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from q_store.circuit import Circuit, Observable, Z, theta
from q_store.errors import ConfigError, ValidationError
from q_store.execution.engine import ExecutionEngine
from q_store.gradients.base import GradientMethod

__all__ = ["LossGradient", "backend_circuits", "circuit_template", "engine_for",
           "loss_gradient"]

LossFunction = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class LossGradient:
    """``gradients``: d loss / d parameters (preconditioned by the metric for the natural
    gradient; ``raw_gradients`` before that); ``function_value``: the loss; ``values``: the
    measured expectations; ``method_used``; ``n_circuit_executions``: circuit runs of the
    plan (``len(plan)``, metric circuits included); ``backend_circuits``: the circuits a
    backend runs for them (each run once per measurement basis of its observables);
    ``metric``: the metric estimate, if any. Converts to the gradient array
    (``np.asarray(result)``)."""

    gradients: np.ndarray
    function_value: float
    values: np.ndarray
    method_used: str
    n_circuit_executions: int
    raw_gradients: np.ndarray
    metric: np.ndarray | None = None
    backend_circuits: int = 0

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.array(self.gradients, dtype=dtype, copy=True)


def circuit_template(circuit_builder: Any, n_params: int) -> Circuit:
    """A template over ``theta[0..n_params-1]``: ``circuit_builder`` itself, or what it builds
    from an array of those symbols."""
    if isinstance(circuit_builder, Circuit):
        circuit = circuit_builder
    elif callable(circuit_builder):
        symbols = np.empty(n_params, dtype=object)
        symbols[:] = [theta[i] for i in range(n_params)]
        try:
            circuit = circuit_builder(symbols)
        except (TypeError, AttributeError, ValueError) as exc:
            raise ValidationError(
                "circuit_builder is called once with the symbols theta[0..n-1] and must put "
                "them (or affine expressions of them, e.g. 2 * p[0] + 0.1) into gate angles; "
                f"it failed with {type(exc).__name__}: {exc}") from None
    else:
        raise ValidationError(f"circuit_builder must be a Circuit or a callable building one, "
                              f"got {type(circuit_builder).__name__}")
    if not isinstance(circuit, Circuit):
        raise ValidationError(f"circuit_builder returned {type(circuit).__name__}, not a Circuit")
    if (circuit.n_inputs or 0) > 0:
        raise ValidationError("the circuit uses data inputs x[j]; bind them first (this call "
                              "differentiates with respect to the parameters only)")
    if (circuit.n_weights or 0) > n_params:
        raise ValidationError(f"the circuit uses {circuit.n_weights} parameters, "
                              f"{n_params} given")
    return Circuit(circuit.n_qubits, circuit.operations, n_params, 0)


def engine_for(target: Any, shots: int | None, rng: np.random.Generator | None = None
               ) -> ExecutionEngine:
    """An engine for ``target``: None (the local simulator), a ``StatevectorSimulator`` or
    another executor with ``expectation_angles``, a ``BackendExecutor``, a backend, or a
    ``BackendManager`` (its default backend). ``rng`` seeds the local simulator's shots."""
    from q_store.backends.base import QuantumBackend
    from q_store.backends.local import LocalSimulatorBackend
    from q_store.backends.manager import BackendManager
    from q_store.execution.backend_executor import BackendExecutor
    from q_store.sim.statevector import StatevectorSimulator

    if isinstance(target, BackendManager):
        target = target.get_backend()
    if isinstance(target, LocalSimulatorBackend):
        target = target.simulator
    if target is None:
        target = StatevectorSimulator()
    if isinstance(target, QuantumBackend):
        target = BackendExecutor(target, shots)
    if isinstance(target, BackendExecutor):
        return ExecutionEngine(StatevectorSimulator(), executor=target)
    if not callable(getattr(target, "expectation_angles", None)):
        raise ConfigError(f"cannot run circuits on {type(target).__name__}: pass a backend, a "
                          "BackendManager, a BackendExecutor or a simulator")
    return ExecutionEngine(target, shots=shots, rng=rng)


def _cotangent(loss_function: LossFunction) -> Callable[[np.ndarray], np.ndarray]:
    """``d loss / d values`` by central differences of the (classical) loss function."""
    def cotangent(values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=float)[0]
        out = np.zeros_like(v)
        for k in range(len(v)):
            h = 1e-6 * max(1.0, abs(v[k]))
            up, down = v.copy(), v.copy()
            up[k] += h
            down[k] -= h
            out[k] = (float(loss_function(up)) - float(loss_function(down))) / (2 * h)
        return out[None, :]

    return cotangent


async def loss_gradient(method: GradientMethod, state: Any, engine: ExecutionEngine,
                        circuit_builder: Any, loss_function: LossFunction | None,
                        parameters: Any, *, observables: Sequence[Observable] | None = None,
                        shots: Any = ...) -> tuple[LossGradient, Any]:
    """Run one gradient plan of ``loss_function(<O_k>)`` (default: ``<O_0>`` itself) with
    respect to ``parameters``; returns the result and the method's next state. ``observables``
    default to ``(Z(0),)``; ``shots`` overrides the engine's."""
    params = np.asarray(parameters, dtype=float).reshape(-1)
    if not np.all(np.isfinite(params)):
        raise ValidationError("parameters must be finite")
    circuit = circuit_template(circuit_builder, len(params))
    obs = tuple(observables) if observables is not None else (Z(0),)
    loss = loss_function if loss_function is not None else (lambda v: float(v[0]))
    plan = method.plan(circuit, obs, params, None, state=state, cotangent=_cotangent(loss))
    res = await (engine.execute(plan) if shots is ... else engine.execute(plan, shots=shots))
    raw = np.asarray(res.weights, dtype=float).sum(axis=0)
    grad = raw if res.precondition is None else res.precondition(raw)
    values = np.asarray(res.values, dtype=float)[0]
    out = LossGradient(grad, float(loss(values)), values,
                       str(plan.notes.get("method", method.name)), len(plan), raw,
                       getattr(res, "metric", None), backend_circuits(plan))
    return out, plan.next_state(res)


def backend_circuits(plan: Any) -> int:
    """Circuits a backend runs for ``plan``: each expectation row once per measurement basis
    of its observables (other requests: their rows)."""
    from q_store.execution.measurement import measurement_plan
    from q_store.execution.requests import ExpectationRequest

    total = 0
    for r in plan.requests:
        bases = (len(measurement_plan(tuple(r.observables), r.circuit.n_qubits).bases)
                 if isinstance(r, ExpectationRequest) else 1)
        total += r.rows * bases
    return total
