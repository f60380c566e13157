"""The spec's ``q_store.core.gradient_computer`` import path (v3.2): re-exports only."""

from q_store.gradients.computers import NaturalGradientComputer, QuantumGradientComputer

__all__ = ["NaturalGradientComputer", "QuantumGradientComputer"]
