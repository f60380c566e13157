"""The spec's ``q_store.core`` import path: re-exports only."""

from q_store.backends import BackendManager
from q_store.execution.batch_manager import CircuitBatchManager, CircuitBatchManagerV34
from q_store.execution.cache import SmartCircuitCache
from q_store.execution.circuit_cache import QuantumCircuitCache
from q_store.execution.queue_manager import AdaptiveQueueManager
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
    "AdaptiveQueueManager",
    "BackendManager",
    "CircuitBatchManager",
    "CircuitBatchManagerV34",
    "HardwareEfficientQuantumLayer",
    "NaturalGradientEstimator",
    "QuantumCircuitCache",
    "QuantumConvolutionalLayer",
    "QuantumLayer",
    "QuantumModel",
    "QuantumPoolingLayer",
    "QuantumTrainer",
    "SPSAGradientEstimator",
    "SmartCircuitCache",
    "TrainingConfig",
]
