"""Gradient methods behind one interface: adjoint, parameter shift, finite differences, SPSA,
and the exact quantum Fisher information for natural-gradient training."""

from __future__ import annotations

from typing import Any

from q_store.errors import ConfigError
from q_store.gradients.adjoint import AdjointGradient
from q_store.gradients.base import AngleExecutor, GradientMethod, GradientResult, VJPResult
from q_store.gradients.finite_diff import FiniteDifferenceGradient
from q_store.gradients.parameter_shift import ParameterShiftGradient, shift_rule
from q_store.gradients.spsa import SPSAGradient, SPSAGradientEstimator
from q_store.sim.qfim import metric_tensor, quantum_fisher_information

__all__ = [
    "GRADIENT_METHODS",
    "AdjointGradient",
    "AngleExecutor",
    "FiniteDifferenceGradient",
    "GradientMethod",
    "GradientResult",
    "ParameterShiftGradient",
    "SPSAGradient",
    "SPSAGradientEstimator",
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
}


def get_gradient_method(name: str, **options: Any) -> GradientMethod:
    """Build a gradient method by name: one of ``GRADIENT_METHODS``."""
    cls = GRADIENT_METHODS.get(name)
    if cls is None:
        raise ConfigError(f"unknown gradient method {name!r}; choose one of "
                          f"{', '.join(GRADIENT_METHODS)}")
    return cls(**options)
