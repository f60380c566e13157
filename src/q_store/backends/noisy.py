"""The noisy density-matrix simulator as a backend (``mock_noisy``)."""

from __future__ import annotations

import numpy as np

from q_store.backends.base import BackendCapabilities, CircuitResult, InProcessBackend
from q_store.backends.local import run_on_simulator
from q_store.circuit.ir import Circuit
from q_store.sim.density import MAX_QUBITS as MAX_DENSITY_QUBITS
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel

__all__ = ["NoisySimulatorBackend"]


class NoisySimulatorBackend(InProcessBackend):
    """Density-matrix simulation under a :class:`NoiseModel` (default: IonQ Aria's published
    fidelities); exact noisy probabilities or seeded shots, and exact noisy gradients (adjoint
    requests, answered by the simulator's adjoint-channel sweep when running without shots)."""

    def __init__(self, name: str = "mock_noisy", noise_model: NoiseModel | None = None) -> None:
        super().__init__()
        self.name = name
        self.noise_model = noise_model if noise_model is not None else NoiseModel.ionq_aria()
        self.simulator = DensityMatrixSimulator(self.noise_model)

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=MAX_DENSITY_QUBITS, exact_expectations=True,
                                   noisy=True, native_gradients=("adjoint",))

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        return run_on_simulator(self.simulator, circuits, shots, rng)

    def __repr__(self) -> str:
        return f"NoisySimulatorBackend(name={self.name!r}, noise_model={self.noise_model!r})"
