"""Exact batched state-vector simulation, noisy density-matrix simulation, measurement, sampling
and adjoint differentiation."""

from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import (
    KrausChannel,
    NoiseModel,
    ReadoutError,
    amplitude_damping,
    depolarizing,
    phase_damping,
)
from q_store.sim.statevector import MAX_QUBITS, StatevectorSimulator, normalize_state

__all__ = [
    "MAX_QUBITS",
    "DensityMatrixSimulator",
    "KrausChannel",
    "NoiseModel",
    "ReadoutError",
    "StatevectorSimulator",
    "amplitude_damping",
    "depolarizing",
    "normalize_state",
    "phase_damping",
]
