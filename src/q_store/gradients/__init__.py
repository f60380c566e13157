"""Gradient methods behind one interface (each plans the circuits it needs): adjoint, parameter
shift, finite differences, SPSA, natural gradient and adaptive; the exact quantum Fisher
information; and :func:`get_gradient_method`, the one registry by name."""

from __future__ import annotations

from typing import Any

from q_store.errors import ConfigError
from q_store.gradients.adaptive import AdaptiveGradient, AdaptiveState
from q_store.gradients.adaptive_optimizer import AdaptiveGradientOptimizer
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.base import AngleExecutor, GradientMethod, GradientResult, VJPResult
from q_store.gradients.finite_diff import FiniteDifferenceGradient
from q_store.gradients.loss_api import LossGradient
from q_store.gradients.natural import NaturalGradient, NaturalGradientEstimator, NaturalState
from q_store.gradients.parameter_shift import ParameterShiftGradient, shift_rule
from q_store.gradients.spsa import SPSAGradient, SPSAGradientEstimator, SPSAState
from q_store.sim.qfim import metric_tensor, quantum_fisher_information

__all__ = [
    "GRADIENT_METHODS",
    "AdaptiveGradient",
    "AdaptiveGradientOptimizer",
    "AdaptiveState",
    "AdjointGradient",
    "AngleExecutor",
    "FiniteDifferenceGradient",
    "GradientMethod",
    "GradientResult",
    "LossGradient",
    "NaturalGradient",
    "NaturalGradientEstimator",
    "NaturalState",
    "ParameterShiftGradient",
    "SPSAGradient",
    "SPSAGradientEstimator",
    "SPSAState",
    "VJPResult",
    "get_gradient_method",
    "metric_tensor",
    "quantum_fisher_information",
    "shift_rule",
]

GRADIENT_METHODS: dict[str, type[GradientMethod]] = {
    "adjoint": AdjointGradient,
    "parameter_shift": ParameterShiftGradient,
    "finite_difference": FiniteDifferenceGradient,
    "spsa": SPSAGradient,
    "natural_gradient": NaturalGradient,
    "adaptive": AdaptiveGradient,
}


def get_gradient_method(name: str, **options: Any) -> GradientMethod:
    """Build a gradient method by name: one of ``GRADIENT_METHODS``."""
    cls = GRADIENT_METHODS.get(name)
    if cls is None:
        raise ConfigError(f"unknown gradient method {name!r}; choose one of "
                          f"{', '.join(GRADIENT_METHODS)}")
    return cls(**options)
