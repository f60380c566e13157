"""Backends: where circuits run, all behind one async protocol."""

from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    InProcessBackend,
    JobResult,
    JobStatus,
    QuantumBackend,
)
from q_store.backends.cost import CostEstimate, CostModel
from q_store.backends.local import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.manager import BackendManager

__all__ = [
    "BackendCapabilities",
    "BackendManager",
    "CircuitResult",
    "CostEstimate",
    "CostModel",
    "InProcessBackend",
    "JobResult",
    "JobStatus",
    "LocalSimulatorBackend",
    "NoisySimulatorBackend",
    "QuantumBackend",
]
