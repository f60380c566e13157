"""Exact batched state-vector simulation, noisy density-matrix simulation (with exact noisy
gradients) and Monte-Carlo trajectories, measurement, sampling and adjoint differentiation."""

from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import (
    KrausChannel,
    NoiseModel,
    ReadoutError,
    amplitude_damping,
    depolarizing,
    phase_damping,
)
from q_store.sim.noisy_adjoint import noisy_adjoint_angles
from q_store.sim.statevector import MAX_QUBITS, StatevectorSimulator, normalize_state
from q_store.sim.trajectories import TrajectoryResult, TrajectorySimulator

__all__ = [
    "MAX_QUBITS",
    "DensityMatrixSimulator",
    "KrausChannel",
    "NoiseModel",
    "ReadoutError",
    "StatevectorSimulator",
    "TrajectoryResult",
    "TrajectorySimulator",
    "amplitude_damping",
    "depolarizing",
    "noisy_adjoint_angles",
    "normalize_state",
    "phase_damping",
]
