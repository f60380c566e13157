"""The spec's ``q_store.core`` import path: re-exports only."""

from q_store.backends import BackendManager
from q_store.gradients import (
    AdaptiveGradientOptimizer,
    NaturalGradientEstimator,
    SPSAGradientEstimator,
)
from q_store.ml import (
    HardwareEfficientQuantumLayer,
    QuantumConvolutionalLayer,
    QuantumLayer,
    QuantumModel,
    QuantumPoolingLayer,
    QuantumTrainer,
    TrainingConfig,
)

__all__ = [
    "AdaptiveGradientOptimizer",
    "BackendManager",
    "HardwareEfficientQuantumLayer",
    "NaturalGradientEstimator",
    "QuantumConvolutionalLayer",
    "QuantumLayer",
    "QuantumModel",
    "QuantumPoolingLayer",
    "QuantumTrainer",
    "SPSAGradientEstimator",
    "TrainingConfig",
]
