"""Exact batched state-vector simulation, measurement, sampling and adjoint differentiation."""

from q_store.sim.statevector import MAX_QUBITS, StatevectorSimulator, normalize_state

__all__ = ["MAX_QUBITS", "StatevectorSimulator", "normalize_state"]
