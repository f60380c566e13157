"""Execution services between models and simulators or backends.

The simulator imports the cache from here, gradient methods import the request types, and the
backend executor imports the simulator, so every name loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"CircuitCache": "cache", "CompiledCircuit": "cache", "SmartCircuitCache": "cache",
         "ResultCache": "result_cache", "QuantumCircuitCache": "circuit_cache",
         "OptimizedCircuitCache": "circuit_cache", "CircuitBatchManager": "batch_manager",
         "CircuitBatchManagerV34": "batch_manager", "AdaptiveQueueManager": "queue_manager",
         "BackendExecutor": "backend_executor", "bind_angles": "backend_executor",
         "MeasurementPlan": "measurement", "measurement_plan": "measurement",
         "AdaptiveShotAllocator": "shots", "MultiBackendOrchestrator": "orchestrator"}

__all__ = ["AdaptiveQueueManager", "AdaptiveShotAllocator", "BackendExecutor",
           "CircuitBatchManager", "CircuitBatchManagerV34", "CircuitCache", "CompiledCircuit",
           "MeasurementPlan", "MultiBackendOrchestrator", "OptimizedCircuitCache",
           "QuantumCircuitCache", "ResultCache", "SmartCircuitCache", "bind_angles",
           "measurement_plan"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"q_store.execution.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'q_store.execution' has no attribute {name!r}")
