"""The local simulators as backends: exact state vectors (``mock_ideal``) and noisy density
matrices (``mock_noisy``)."""

from __future__ import annotations

import numpy as np

from q_store.backends.base import BackendCapabilities, CircuitResult, InProcessBackend
from q_store.circuit.ir import Circuit
from q_store.sim import MAX_QUBITS, StatevectorSimulator
from q_store.sim.density import MAX_QUBITS as MAX_DENSITY_QUBITS
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel

__all__ = ["LocalSimulatorBackend", "NoisySimulatorBackend"]


def _run(sim: StatevectorSimulator | DensityMatrixSimulator, circuits: list[Circuit],
         shots: int | None, rng: np.random.Generator) -> list[CircuitResult]:
    out = []
    for c in circuits:
        p = sim.probabilities(c)
        out.append(CircuitResult(p) if shots is None else CircuitResult.sampled(p, shots, rng))
    return out


class LocalSimulatorBackend(InProcessBackend):
    """Exact state-vector simulation on this machine: exact probabilities or seeded shots,
    adjoint gradients, free of charge."""

    def __init__(self, name: str = "mock_ideal",
                 simulator: StatevectorSimulator | None = None) -> None:
        super().__init__()
        self.name = name
        self.simulator = simulator if simulator is not None else StatevectorSimulator()

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=MAX_QUBITS, exact_expectations=True,
                                   native_gradients=("adjoint",))

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        return _run(self.simulator, circuits, shots, rng)

    def __repr__(self) -> str:
        return f"LocalSimulatorBackend(name={self.name!r})"


class NoisySimulatorBackend(InProcessBackend):
    """Density-matrix simulation under a :class:`NoiseModel` (default: IonQ Aria's published
    fidelities); exact noisy probabilities or seeded shots."""

    def __init__(self, name: str = "mock_noisy", noise_model: NoiseModel | None = None) -> None:
        super().__init__()
        self.name = name
        self.noise_model = noise_model if noise_model is not None else NoiseModel.ionq_aria()
        self.simulator = DensityMatrixSimulator(self.noise_model)

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=MAX_DENSITY_QUBITS, exact_expectations=True,
                                   noisy=True)

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        return _run(self.simulator, circuits, shots, rng)

    def __repr__(self) -> str:
        return f"NoisySimulatorBackend(name={self.name!r}, noise_model={self.noise_model!r})"
