"""The v3.2 gradient computers (``q_store.core.gradient_computer``), as thin adapters.

``QuantumGradientComputer(backend).compute_gradients(circuit, params)`` is parameter shift and
``NaturalGradientComputer(backend).compute_natural_gradient(circuit, params, loss)`` the natural
gradient (block-diagonal metric on backends, exact on the exact simulator): each plans with
the matching planner and runs the plan on one execution engine
(:func:`~q_store.gradients.loss_api.loss_gradient`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit import Observable
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.loss_api import LossFunction, LossGradient, engine_for, loss_gradient
from q_store.gradients.natural import NaturalGradient
from q_store.gradients.parameter_shift import ParameterShiftGradient

__all__ = ["NaturalGradientComputer", "QuantumGradientComputer"]


class QuantumGradientComputer:
    """Parameter-shift gradients on ``backend`` (None: the exact local simulator) with
    ``shots`` (None: exact where the backend allows); ``observables`` default to ``Z(0)``."""

    def __init__(self, backend: Any = None, *, shots: int | None = None,
                 observables: Sequence[Observable] | None = None,
                 seed: int | None = None) -> None:
        self.engine = engine_for(backend, shots, np.random.default_rng(seed))
        self.method = ParameterShiftGradient()
        self.observables = observables

    async def compute_gradients(self, circuit: Any, params: Any,
                                loss_function: LossFunction | None = None, *,
                                observables: Sequence[Observable] | None = None
                                ) -> LossGradient:
        """Gradient of ``loss_function(<O_k>)`` (default: ``<O_0>``) at ``params``."""
        result, _ = await loss_gradient(self.method, None, self.engine, circuit, loss_function,
                                        params, observables=observables or self.observables)
        return result


class NaturalGradientComputer:
    """Natural gradients on ``backend``: the loss gradient preconditioned by the metric
    (``metric``: default exact on the exact local simulator, block-diagonal elsewhere; or
    ``"spsa"``), ``regularization`` added to its diagonal. Keeps the estimator's state (the
    running 2-SPSA metric) from call to call."""

    def __init__(self, backend: Any = None, *, shots: int | None = None,
                 regularization: float = 0.01, metric: str | None = None,
                 cache_size: int = 0, observables: Sequence[Observable] | None = None,
                 seed: int | None = None) -> None:
        self.engine = engine_for(backend, shots, np.random.default_rng(seed))
        exact = self.engine.exact
        base = AdjointGradient() if exact else ParameterShiftGradient()
        self.method = NaturalGradient(
            base=base, regularization=regularization, cache_size=cache_size, seed=seed,
            metric=metric or ("exact" if exact else "block_diagonal"),
            epsilon=0.01 if exact else 0.1)
        self.state = self.method.init()
        self.observables = observables

    async def compute_natural_gradient(self, circuit: Any, params: Any,
                                       loss: LossFunction | None = None, *,
                                       observables: Sequence[Observable] | None = None
                                       ) -> LossGradient:
        """``(g + eps I)^-1`` times the gradient of ``loss(<O_k>)`` (default ``<O_0>``)."""
        result, self.state = await loss_gradient(
            self.method, self.state, self.engine, circuit, loss, params,
            observables=observables or self.observables)
        return result
