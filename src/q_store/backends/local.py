"""The exact local simulator as a backend (``mock_ideal``)."""

from __future__ import annotations

import numpy as np

from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    InProcessBackend,
    QuantumBackend,
)
from q_store.circuit.ir import Circuit
from q_store.errors import ConfigError
from q_store.sim import MAX_QUBITS, StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator

__all__ = ["LocalSimulatorBackend", "remote_backend", "run_on_simulator"]


def run_on_simulator(sim: StatevectorSimulator | DensityMatrixSimulator, circuits: list[Circuit],
                     shots: int | None, rng: np.random.Generator) -> list[CircuitResult]:
    """Exact probabilities of each circuit, or seeded shot histograms."""
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
        return run_on_simulator(self.simulator, circuits, shots, rng)

    def __repr__(self) -> str:
        return f"LocalSimulatorBackend(name={self.name!r})"


def remote_backend(backend: object) -> QuantumBackend | None:
    """``backend`` when circuits must go through the backend protocol; None when they run on
    the exact local simulator directly (no backend, ``mock_ideal``, a StatevectorSimulator)."""
    if backend is None or isinstance(backend, (LocalSimulatorBackend, StatevectorSimulator)):
        return None
    if not isinstance(backend, QuantumBackend):
        raise ConfigError(f"a model's backend must be a QuantumBackend (from "
                          f"BackendManager.get_backend), got {type(backend).__name__}")
    return backend
