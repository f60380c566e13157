"""The exact local simulator as a backend (the spec's ``mock_ideal``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from q_store.sim import MAX_QUBITS, StatevectorSimulator

__all__ = ["BackendCapabilities", "LocalSimulatorBackend"]


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend can do; trainers and gradient methods choose by these."""

    max_qubits: int
    exact_expectations: bool
    native_gradients: tuple[str, ...]
    noisy: bool = False
    native_gates: tuple[str, ...] = ()
    cost_per_shot: float = 0.0


@dataclass
class LocalSimulatorBackend:
    """Exact state-vector simulation on this machine: expectations, samples and adjoint
    gradients, free of charge."""

    name: str = "mock_ideal"
    simulator: StatevectorSimulator = field(default_factory=StatevectorSimulator)

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=MAX_QUBITS, exact_expectations=True,
                                   native_gradients=("adjoint",))

    def __repr__(self) -> str:
        return f"LocalSimulatorBackend(name={self.name!r})"
