"""The v3.3 ``AdaptiveGradientOptimizer``: picks a gradient method per iteration, as the spec's
table says, and runs it through the execution engine.

* iterations ``0 .. warmup - 1``: the fast ``initial_method`` (SPSA: two circuits per
  perturbation whatever the number of parameters);
* every ``refine_every``-th iteration after that: parameter shift (exact, ``2P`` circuits);
* once the loss has improved by less than ``min_improvement`` (relative) over the last
  ``window`` iterations (slow convergence, checked from ``warmup`` on): the natural gradient
  for the rest of the run, with the metric the target can estimate (exact on the exact
  simulator, block-diagonal from circuits elsewhere).

Each method is a planner (:mod:`q_store.gradients`); the optimizer keeps their states
(``state``: SPSA's counter, the natural gradient's running metric), the iteration the switch
happened (``switched_at``) and the methods used (``history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit import Observable
from q_store.errors import ValidationError
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.base import GradientMethod
from q_store.gradients.loss_api import LossFunction, LossGradient, engine_for, loss_gradient
from q_store.gradients.natural import NaturalGradient
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.gradients.spsa import SPSAGradient

__all__ = ["AdaptiveGradientOptimizer"]

_INITIAL = ("spsa", "parameter_shift")


class AdaptiveGradientOptimizer:
    """``AdaptiveGradientOptimizer(backend_manager, initial_method='spsa')``: the backend is
    the manager's default (or a backend, or None for the exact local simulator), sampled with
    ``shots`` (None: exact where the backend allows)."""

    def __init__(self, backend_manager: Any = None, initial_method: str = "spsa", *,
                 shots: int | None = None, warmup: int = 10, refine_every: int = 10,
                 window: int = 5, min_improvement: float = 1e-3, regularization: float = 0.01,
                 metric: str | None = None, spsa_c: float = 0.1,
                 observables: Sequence[Observable] | None = None,
                 seed: int | None = None) -> None:
        if initial_method not in _INITIAL:
            raise ValidationError(f"initial_method={initial_method!r} is not allowed; choose "
                                  f"one of {', '.join(_INITIAL)}")
        for name, v in (("warmup", warmup), ("refine_every", refine_every),
                        ("window", window)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValidationError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(min_improvement, int | float) and min_improvement >= 0):
            raise ValidationError(f"min_improvement must be >= 0, got {min_improvement!r}")
        self.engine = engine_for(backend_manager, shots, np.random.default_rng(seed))
        exact = self.engine.exact
        shift = ParameterShiftGradient()
        self.methods: dict[str, GradientMethod] = {
            "spsa": SPSAGradient(c=spsa_c, seed=seed),
            "parameter_shift": shift,
            "natural_gradient": NaturalGradient(
                base=AdjointGradient() if exact else shift, regularization=regularization,
                metric=metric or ("exact" if exact else "block_diagonal"), seed=seed,
                epsilon=0.01 if exact else 0.1),
        }
        self.initial_method = initial_method
        self.warmup, self.refine_every, self.window = warmup, refine_every, window
        self.min_improvement = float(min_improvement)
        self.observables = observables
        self.state: dict[str, Any] = {name: m.init() for name, m in self.methods.items()}
        self.switched_at: int | None = None
        self.history: list[str] = []

    def slow_convergence(self, loss_history: Sequence[float] | None) -> bool:
        """Whether the loss improved by less than ``min_improvement`` (relative) over the
        last ``window`` iterations."""
        h = [float(v) for v in (loss_history or ())]
        if len(h) <= self.window:
            return False
        before, now = h[-1 - self.window], h[-1]
        return before - now < self.min_improvement * abs(before)

    def select_method(self, iteration: int, loss_history: Sequence[float] | None = None
                      ) -> str:
        """The method for ``iteration`` (the spec's table; records a switch)."""
        if not isinstance(iteration, int | np.integer) or iteration < 0:
            raise ValidationError(f"iteration must be a non-negative integer, got "
                                  f"{iteration!r}")
        if self.switched_at is None and iteration >= self.warmup and self.slow_convergence(
                loss_history):
            self.switched_at = int(iteration)
        if self.switched_at is not None and iteration >= self.switched_at:
            return "natural_gradient"
        if iteration >= self.warmup and iteration % self.refine_every == 0:
            return "parameter_shift"
        return self.initial_method

    async def compute_gradients(self, circuit_builder: Any, loss_function: LossFunction | None,
                                parameters: Any, iteration: int = 0,
                                loss_history: Sequence[float] | None = None, *,
                                observables: Sequence[Observable] | None = None
                                ) -> LossGradient:
        """The gradient of ``loss_function(<O_k>)`` at ``parameters`` by the method this
        iteration calls for (``result.method_used``)."""
        name = self.select_method(iteration, loss_history)
        result, self.state[name] = await loss_gradient(
            self.methods[name], self.state[name], self.engine, circuit_builder, loss_function,
            parameters, observables=observables or self.observables)
        self.history.append(name)
        return result

    async def aclose(self) -> None:
        await self.engine.aclose()
