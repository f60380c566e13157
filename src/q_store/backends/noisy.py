"""The noisy simulators as backends: density matrices (``mock_noisy``, exact, up to 12 qubits)
and Monte-Carlo trajectories (``mock_noisy_trajectories``, sampled, up to 26 qubits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    InProcessBackend,
    as_circuit_list,
)
from q_store.backends.local import run_on_simulator
from q_store.circuit.ir import Circuit
from q_store.errors import BackendError, CircuitError, ConfigError
from q_store.sim.density import MAX_QUBITS as MAX_DENSITY_QUBITS
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel
from q_store.sim.trajectories import MAX_QUBITS as MAX_TRAJECTORY_QUBITS
from q_store.sim.trajectories import TrajectorySimulator

__all__ = ["NOISY_METHODS", "NoisySimulatorBackend"]

NOISY_METHODS = ("density_matrix", "trajectories")
_NAMES = {"density_matrix": "mock_noisy", "trajectories": "mock_noisy_trajectories"}


class NoisySimulatorBackend(InProcessBackend):
    """Noisy simulation under a :class:`NoiseModel` (default: IonQ Aria's published
    fidelities).

    ``method="density_matrix"`` (``mock_noisy``): exact noisy probabilities or seeded shots,
    and exact noisy gradients (adjoint requests, answered by the simulator's adjoint-channel
    sweep when running without shots); up to 12 qubits.

    ``method="trajectories"`` (``mock_noisy_trajectories``): shots only, each shot one
    Monte-Carlo wave function measured once (:meth:`TrajectorySimulator.sample`), seeded from
    the job's seed; up to 26 qubits. Each shot is an exact sample of the same noisy
    distribution the density matrix gives, so the only error is shot noise
    (``sqrt(p (1 - p) / shots)`` on each outcome's frequency). Exact probabilities
    (``shots=None``) are refused.
    """

    def __init__(self, name: str | None = None, noise_model: NoiseModel | None = None, *,
                 method: str = "density_matrix") -> None:
        super().__init__()
        if method not in NOISY_METHODS:
            raise ConfigError(f"method must be one of {', '.join(NOISY_METHODS)}, "
                              f"got {method!r}")
        self.method = method
        self.name = _NAMES[method] if name is None else name
        self.noise_model = noise_model if noise_model is not None else NoiseModel.ionq_aria()
        self.simulator: DensityMatrixSimulator | TrajectorySimulator = (
            DensityMatrixSimulator(self.noise_model) if method == "density_matrix"
            else TrajectorySimulator(self.noise_model))

    @property
    def capabilities(self) -> BackendCapabilities:
        if self.method == "trajectories":
            return BackendCapabilities(max_qubits=MAX_TRAJECTORY_QUBITS,
                                       exact_expectations=False, noisy=True)
        return BackendCapabilities(max_qubits=MAX_DENSITY_QUBITS, exact_expectations=True,
                                   noisy=True, native_gradients=("adjoint",))

    async def submit_job_async(self, circuits: Circuit | Sequence[Circuit],
                               shots: int | None = None, *,
                               seed: int | Sequence[int] | None = None,
                               name: str | None = None,
                               metadata: Mapping[str, str] | None = None) -> str:
        """Submit a job (see :meth:`InProcessBackend.submit_job_async`); refuses, naming the
        other method, what this method cannot run."""
        if self.method == "trajectories" and shots is None:
            raise BackendError(
                f"{self.name} only samples (one trajectory per shot), it cannot give exact "
                f"probabilities: pass shots (a positive integer; TrainingConfig(shots=...)), "
                f"or use 'mock_noisy' (density matrices, exact, up to {MAX_DENSITY_QUBITS} "
                f"qubits)")
        if self.method == "density_matrix":
            for i, c in enumerate(as_circuit_list(circuits)):
                if c.n_qubits > MAX_DENSITY_QUBITS:
                    raise CircuitError(
                        f"circuit {i} has {c.n_qubits} qubits; {self.name}'s density matrices "
                        f"run at most {MAX_DENSITY_QUBITS}: use 'mock_noisy_trajectories' "
                        f"(NoisySimulatorBackend(method='trajectories'), up to "
                        f"{MAX_TRAJECTORY_QUBITS} qubits, with shots)")
        return await super().submit_job_async(circuits, shots, seed=seed, name=name,
                                              metadata=metadata)

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        sim = self.simulator
        if not isinstance(sim, TrajectorySimulator):
            return run_on_simulator(sim, circuits, shots, rng)
        assert shots is not None  # refused at submission
        out = []
        for c in circuits:
            hist = sim.sample(c, shots, rng)
            nz = np.flatnonzero(hist)
            out.append(CircuitResult(hist / shots, shots, {int(k): int(hist[k]) for k in nz}))
        return out

    def __repr__(self) -> str:
        return (f"NoisySimulatorBackend(name={self.name!r}, method={self.method!r}, "
                f"noise_model={self.noise_model!r})")
