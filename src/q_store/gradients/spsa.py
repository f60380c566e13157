"""Simultaneous-perturbation stochastic approximation (Spall 1992, 1998).

One estimate costs two circuit runs per sample whatever the number of weights: all weights are
perturbed at once by ``c_k * Delta`` with Rademacher ``Delta``. Spall's gain sequences:
``c_k = c / (k + 1)**gamma`` (perturbation size) and ``a_k = a / (A + k + 1)**alpha`` (step
size, for SPSA optimisation), with the recommended ``alpha = 0.602``, ``gamma = 0.101``.

As in the spec (``SPSAGradientEstimator(backend)``), the first argument may be a
:class:`~q_store.backends.QuantumBackend`: its circuits then run on that backend through a
:class:`~q_store.execution.BackendExecutor` (with ``shots`` for backends that only sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from q_store.circuit.params import Batch
from q_store.errors import ConfigError, ValidationError
from q_store.execution.requests import Plan
from q_store.gradients.base import (
    AngleExecutor,
    Cotangent,
    GradientMethod,
    Problem,
    expectation_request,
    finish_jacobian,
    random_key,
)
from q_store.sim.statevector import parameter_map_for

__all__ = ["SPSAGradient", "SPSAGradientEstimator", "SPSAState"]


def _positive(name: str, v: float, allow_zero: bool = False) -> float:
    ok = isinstance(v, (int, float)) and np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValidationError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                              f"finite number, got {v!r}")
    return float(v)


def angle_executor(executor: Any, shots: int | None) -> tuple[AngleExecutor | None, bool]:
    """``(executor, owned)``: a backend wrapped in a BackendExecutor (owned: closed by
    :meth:`SPSAGradient.close`), an executor as it is, or a ConfigError at construction for
    anything that cannot run circuits (instead of an AttributeError on first use)."""
    from q_store.backends.base import QuantumBackend

    if isinstance(executor, QuantumBackend):
        from q_store.execution.backend_executor import BackendExecutor

        return BackendExecutor(executor, shots), True
    if shots is not None:
        raise ConfigError("shots applies when SPSA runs on a QuantumBackend; an executor or "
                          "simulator is used as it is")
    if executor is not None and not callable(getattr(executor, "expectation_angles", None)):
        raise ConfigError(
            f"SPSA needs a QuantumBackend (e.g. BackendManager.get_backend()) or an executor "
            f"with expectation_angles (a StatevectorSimulator, a BackendExecutor), got "
            f"{type(executor).__name__}")
    return executor, False


class SPSAState(NamedTuple):
    """SPSA's iteration counter and the key its perturbations are drawn from: the deltas of
    step ``k`` come from ``default_rng((key, k))``, so a run resumed at step ``k`` draws what
    the uninterrupted run drew."""

    k: int
    key: int


class SPSAGradient(GradientMethod):
    """SPSA gradient estimates, averaged over ``n_samples`` perturbations (2 runs each).

    Each step advances the iteration counter ``k`` (in the plan's state) and so shrinks
    ``c_k``; :meth:`learning_rate` gives Spall's ``a_k`` for an SPSA optimiser.
    ``executor``: None (the exact simulator), an executor with ``expectation_angles``, or a
    :class:`~q_store.backends.QuantumBackend` (run with ``shots``; None asks for exact
    probabilities, which sampling-only backends refuse at construction).
    """

    name = "spsa"

    def __init__(self, executor: AngleExecutor | Any = None, *, shots: int | None = None,
                 c: float = 0.1, gamma: float = 0.101, a: float = 0.1, big_a: float = 10.0,
                 alpha: float = 0.602, n_samples: int = 1,
                 seed: int | np.random.Generator | None = None) -> None:
        runner, self._owns_executor = angle_executor(executor, shots)
        self.c = _positive("c", c)
        self.gamma = _positive("gamma", gamma, allow_zero=True)
        self.a = _positive("a", a)
        self.big_a = _positive("big_a", big_a, allow_zero=True)
        self.alpha = _positive("alpha", alpha, allow_zero=True)
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValidationError(f"n_samples must be a positive integer, got {n_samples!r}")
        self.n_samples = n_samples
        self.key = random_key(seed)
        super().__init__(runner)

    def init(self) -> SPSAState:
        return SPSAState(0, self.key)

    @property
    def k(self) -> int:
        """Steps taken by the synchronous API (:meth:`jacobian`, :meth:`estimate`)."""
        return int(self.state.k)

    @k.setter
    def k(self, value: int) -> None:
        self.state = SPSAState(int(value), self.state.key)

    def perturbation_size(self, k: int | None = None) -> float:
        return self.c / ((self.k if k is None else k) + 1) ** self.gamma

    def learning_rate(self, k: int | None = None) -> float:
        return self.a / (self.big_a + (self.k if k is None else k) + 1) ** self.alpha

    @staticmethod
    def _deltas(state: SPSAState, shape: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng((state.key, state.k))
        return rng.choice(np.array([-1.0, 1.0]), size=shape)

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        state = SPSAState(*state)
        batch, size, ns = problem.batch, problem.size, self.n_samples
        pm = parameter_map_for(problem.circuit)
        ck = self.perturbation_size(state.k)
        w = np.broadcast_to(batch.weights, (size, batch.weights.shape[1]))
        xv = np.broadcast_to(batch.inputs, (size, batch.inputs.shape[1]))
        # one weight perturbation per estimate, shared by the batch (as for a loss gradient);
        # input perturbations are per sample
        want_w, want_x = problem.want_w, problem.want_x
        deltas = self._deltas(state, (ns, 1 + size, max(w.shape[1], xv.shape[1])))
        dw = deltas[:, :1, : w.shape[1]] if want_w else np.zeros((ns, 1, w.shape[1]))
        dx = deltas[:, 1:, : xv.shape[1]] if want_x else np.zeros((ns, 1, xv.shape[1]))
        rows = [pm.angles(Batch(w, xv, size, True))]
        for s in range(ns):
            for sgn in (1.0, -1.0):
                b = Batch(w + sgn * ck * dw[s], xv + sgn * ck * dx[s], size, True)
                rows.append(pm.angles(b))
        angles = np.concatenate([np.broadcast_to(r, (size, pm.n_params)) for r in rows])
        request = expectation_request(problem, angles, 1 + 2 * ns, "gradient")
        n_obs = len(problem.observables)

        def finish(answers: Sequence[Any]) -> Any:
            out = np.asarray(answers[0]).reshape(1 + 2 * ns, size, n_obs)
            diff = (out[1::2] - out[2::2]) / (2 * ck)  # (ns, B, K)
            jw = np.mean(diff[..., None] / dw[:, :, None, :], axis=0) if want_w else None
            jx = np.mean(diff[..., None] / dx[:, :, None, :], axis=0) if want_x else None
            return finish_jacobian(problem, out[0], jw, jx, 1 + 2 * ns, cotangent)

        return Plan((request,), finish, SPSAState(state.k + 1, state.key))

    def estimate(self, f: Callable[[np.ndarray], float], params: np.ndarray) -> np.ndarray:
        """SPSA estimate of the gradient of a scalar black-box function ``f(params)``."""
        p = np.asarray(params, dtype=float)
        if p.ndim != 1 or not np.all(np.isfinite(p)):
            raise ValidationError("params must be a finite 1-D array")
        state = self.state
        ck = self.perturbation_size(state.k)
        deltas = self._deltas(state, (self.n_samples, *p.shape))
        self.state = SPSAState(state.k + 1, state.key)
        g = np.zeros_like(p)
        for d in deltas:
            g += (float(f(p + ck * d)) - float(f(p - ck * d))) / (2 * ck) / d
        return g / self.n_samples

    async def estimate_gradient(self, circuit_builder: Any, loss_function: Any = None,
                                parameters: Any = None, shots: int | None = 1000, *,
                                observables: Any = None) -> Any:
        """The spec's call: the SPSA gradient of ``loss_function(<O_k>)`` with respect to
        ``parameters`` (a :class:`~q_store.gradients.loss_api.LossGradient`), from two circuits
        per perturbation run with ``shots`` on this estimator's executor or backend, through
        the execution engine. ``circuit_builder``: a template over ``theta[i]`` or a callable
        building one from the parameter symbols; ``observables`` default to ``Z(0)``."""
        from q_store.gradients.loss_api import engine_for, loss_gradient

        if parameters is None:
            raise ValidationError("estimate_gradient needs parameters")
        engine = engine_for(self.executor, None, np.random.default_rng((self.key, self.k, 1)))
        result, self.state = await loss_gradient(
            self, self.state, engine, circuit_builder, loss_function, parameters,
            observables=observables, shots=shots)
        return result

    def close(self) -> None:
        """Release the backend connection made for a backend given at construction."""
        if self._owns_executor:
            self.executor.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return (f"SPSAGradient(c={self.c}, gamma={self.gamma}, a={self.a}, big_a={self.big_a}, "
                f"alpha={self.alpha}, n_samples={self.n_samples}, k={self.k})")


SPSAGradientEstimator = SPSAGradient
