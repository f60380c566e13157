"""Backends: where circuits run, all behind one async protocol.

The Qiskit, Cirq and IonQ backends load their libraries (qiskit, cirq, httpx) on first use, so
``import q_store.backends`` needs none of them.
"""

from __future__ import annotations

import importlib
from typing import Any

from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    InProcessBackend,
    JobResult,
    JobStatus,
    QuantumBackend,
)
from q_store.backends.cost import CostEstimate, CostModel
from q_store.backends.local import LocalSimulatorBackend
from q_store.backends.manager import BackendManager
from q_store.backends.noisy import NoisySimulatorBackend

_LAZY = {
    "QiskitAerBackend": "q_store.backends.qiskit",
    "CirqSimulatorBackend": "q_store.backends.cirq",
    "IonQBackend": "q_store.backends.ionq.backend",
    "IonQBatchClient": "q_store.backends.ionq.batch",
    "CirqIonQBackend": "q_store.backends.ionq.batch",
    "IonQClient": "q_store.backends.ionq.client",
    "IonQAPIError": "q_store.backends.ionq.client",
    "JobLedger": "q_store.backends.ionq.ledger",
    "IonQEmulator": "q_store.backends.ionq.emulator",
    "LatencyModel": "q_store.backends.ionq.emulator",
}

__all__ = [
    "BackendCapabilities",
    "BackendManager",
    "CircuitResult",
    "CirqIonQBackend",
    "CirqSimulatorBackend",
    "CostEstimate",
    "CostModel",
    "InProcessBackend",
    "IonQAPIError",
    "IonQBackend",
    "IonQBatchClient",
    "IonQClient",
    "IonQEmulator",
    "JobLedger",
    "JobResult",
    "JobStatus",
    "LatencyModel",
    "LocalSimulatorBackend",
    "NoisySimulatorBackend",
    "QiskitAerBackend",
    "QuantumBackend",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'q_store.backends' has no attribute {name!r}")
