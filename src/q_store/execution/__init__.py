"""Execution services between models and simulators or backends."""

from q_store.execution.cache import CircuitCache, CompiledCircuit

__all__ = ["CircuitCache", "CompiledCircuit"]
