"""Execution services between models and simulators or backends.

The simulator imports the cache from here, and the backend executor imports the simulator, so
the executor and measurement names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from q_store.execution.cache import CircuitCache, CompiledCircuit

_LAZY = {"BackendExecutor": "backend_executor", "bind_angles": "backend_executor",
         "MeasurementPlan": "measurement", "measurement_plan": "measurement"}

__all__ = ["BackendExecutor", "CircuitCache", "CompiledCircuit", "MeasurementPlan",
           "bind_angles", "measurement_plan"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"q_store.execution.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'q_store.execution' has no attribute {name!r}")
