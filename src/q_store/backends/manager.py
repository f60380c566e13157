"""``BackendManager``: the spec's entry point for choosing where circuits run.

This release provides the exact local simulator (``mock_ideal``); noisy simulation, Qiskit,
Cirq and IonQ backends come with the backends release and are named here so that asking for
them gives a clear error instead of a silent substitute.
"""

from __future__ import annotations

from typing import Any

from q_store.backends.local import LocalSimulatorBackend
from q_store.errors import ConfigError, NotSupportedError

__all__ = ["BackendManager"]

_AVAILABLE = ("mock_ideal",)
_PLANNED = ("mock_noisy", "cirq", "qiskit", "qiskit_aer", "cirq_ionq", "ionq",
            "ionq_simulator", "ionq_qpu")
_DEFAULT_FOR_SDK = {"mock": "mock_ideal", "cirq": "cirq", "qiskit": "qiskit_aer",
                    "ionq": "ionq_simulator"}


class BackendManager:
    """Creates and hands out backends by name."""

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self.sdk = getattr(config, "quantum_sdk", "mock")
        self._backends: dict[str, Any] = {"mock_ideal": LocalSimulatorBackend()}

    async def initialize(self, sdk: str | None = None) -> BackendManager:
        """Select the SDK whose default backend :meth:`get_backend` returns."""
        if sdk is not None:
            if sdk not in _DEFAULT_FOR_SDK:
                raise ConfigError(f"unknown sdk {sdk!r}; choose one of "
                                  f"{', '.join(_DEFAULT_FOR_SDK)}")
            self.sdk = sdk
        return self

    def list_backends(self) -> list[str]:
        return list(_AVAILABLE)

    def get_backend(self, name: str | None = None) -> Any:
        """The backend called ``name`` (default: the selected SDK's default backend)."""
        key = name if name is not None else _DEFAULT_FOR_SDK.get(self.sdk, "mock_ideal")
        if key in self._backends:
            return self._backends[key]
        if key in _PLANNED:
            raise NotSupportedError(f"backend {key!r} is not available in this release; "
                                    f"available: {', '.join(_AVAILABLE)}")
        raise ConfigError(f"unknown backend {key!r}; available: {', '.join(_AVAILABLE)}")
