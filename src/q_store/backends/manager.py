"""``BackendManager``: the spec's entry point for choosing where circuits run.

Names (the spec's): ``mock_ideal`` (exact local state vectors), ``mock_noisy`` (local density
matrices under IonQ Aria's published noise, up to 12 qubits), ``mock_noisy_trajectories`` (the
same noise sampled with Monte-Carlo trajectories, one per shot, up to 26 qubits), ``qiskit`` /
``qiskit_aer`` (Qiskit Aer), ``cirq`` (Cirq's simulator), ``ionq`` / ``ionq_simulator`` /
``cirq_ionq`` (IonQ's cloud simulator) and ``ionq_qpu`` (IonQ Aria). Backends are built on
first use, so asking for Qiskit without Qiskit installed, or for IonQ without an API key, fails
then, with an error that says what to install or set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from q_store.backends.base import QuantumBackend
from q_store.backends.local import LocalSimulatorBackend
from q_store.backends.noisy import NoisySimulatorBackend
from q_store.errors import ConfigError

__all__ = ["BACKEND_NAMES", "SDK_DEFAULTS", "BackendManager", "default_backend_name"]

SDK_DEFAULTS = {"mock": "mock_ideal", "cirq": "cirq", "qiskit": "qiskit_aer",
                "ionq": "ionq_simulator", "mock_noisy": "mock_noisy",
                "mock_noisy_trajectories": "mock_noisy_trajectories"}
BACKEND_NAMES = ("mock_ideal", "mock_noisy", "mock_noisy_trajectories", "qiskit", "qiskit_aer",
                 "cirq", "ionq", "ionq_simulator", "ionq_qpu", "cirq_ionq")


def _option(config: Any, name: str, default: Any) -> Any:
    return default if config is None else getattr(config, name, default)


def default_backend_name(config: Any, sdk: str | None = None) -> str:
    """The backend an SDK's circuits run on by default (``sdk`` or the config's
    ``quantum_sdk``); IonQ with a QPU ``quantum_target`` gives ``ionq_qpu``."""
    sdk = _option(config, "quantum_sdk", "mock") if sdk is None else sdk
    name = SDK_DEFAULTS.get(sdk, "mock_ideal")
    if name == "ionq_simulator" and _option(config, "quantum_target",
                                            "simulator") != "simulator":
        return "ionq_qpu"
    return name


def _ionq_options(config: Any, backend: str | None = None) -> dict[str, Any]:
    """IonQBackend arguments from the config; the simulator's noise model applies to the
    simulator only (a QPU has its own noise)."""
    if backend is None:
        target = _option(config, "quantum_target", "simulator")
        backend = "qpu.aria-1" if target == "qpu" else target
    return {
        "api_key": _option(config, "quantum_api_key", None),
        "pool_size": _option(config, "connection_pool_size", 5),
        "job_timeout": _option(config, "max_queue_wait_time", None),
        "native_gates": bool(_option(config, "use_native_gates", False)),
        "backend": backend,
        "noise_model": (_option(config, "ionq_noise_model", "ideal")
                        if backend == "simulator" else "ideal"),
        "base_url": _option(config, "ionq_base_url", None),
        "ledger": _ledger_path(config),
    }


def _ledger_path(config: Any) -> str | None:
    """With a checkpoint directory, IonQ jobs are recorded in a ledger there, so a run resumed
    from its checkpoints re-attaches to jobs it already paid for."""
    directory = _option(config, "checkpoint_dir", None)
    return None if directory is None else os.path.join(directory, "ionq_jobs.json")


def _ionq(config: Any, backend: str | None = None) -> QuantumBackend:
    from q_store.backends.ionq.backend import IonQBackend

    return IonQBackend(**_ionq_options(config, backend))


def _cirq_ionq(config: Any) -> QuantumBackend:
    from q_store.backends.ionq.batch import CirqIonQBackend

    opts = _ionq_options(config)
    return CirqIonQBackend(target=opts.pop("backend"), **opts)


def _qiskit(config: Any) -> QuantumBackend:
    from q_store.backends.qiskit import QiskitAerBackend

    return QiskitAerBackend()


def _cirq(config: Any) -> QuantumBackend:
    from q_store.backends.cirq import CirqSimulatorBackend

    return CirqSimulatorBackend()


_FACTORIES: dict[str, Callable[[Any], QuantumBackend]] = {
    "mock_ideal": lambda config: LocalSimulatorBackend(),
    "mock_noisy": lambda config: NoisySimulatorBackend(),
    "mock_noisy_trajectories": lambda config: NoisySimulatorBackend(method="trajectories"),
    "qiskit_aer": _qiskit,
    "cirq": _cirq,
    "ionq_simulator": _ionq,
    "ionq_qpu": lambda config: _ionq(config, "qpu.aria-1"),
    "cirq_ionq": _cirq_ionq,
}
_ALIASES = {"qiskit": "qiskit_aer", "ionq": "ionq_simulator"}


def _options_key(config: Any, name: str) -> tuple[Any, ...]:
    """What of the config a factory reads: a backend is rebuilt when that changes (the API
    key only as a digest)."""
    if name not in ("ionq_simulator", "ionq_qpu", "cirq_ionq"):
        return ()
    opts = _ionq_options(config, "qpu.aria-1" if name == "ionq_qpu" else None)
    key = opts.pop("api_key")
    digest = None if key is None else hashlib.sha256(str(key).encode()).hexdigest()
    return (digest, *sorted(opts.items()))


class BackendManager:
    """Creates (on first use) and hands out backends by name; ``register`` adds your own.

    The default backend follows the config's ``quantum_sdk`` (``initialize(sdk=...)`` sets
    it), and a backend is built anew when the config options it was built from change."""

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self._sdk = _option(config, "quantum_sdk", "mock")
        if self._sdk not in SDK_DEFAULTS:
            raise ConfigError(f"unknown quantum_sdk {self._sdk!r}; choose one of "
                              f"{', '.join(SDK_DEFAULTS)}")
        self._registered: dict[str, QuantumBackend] = {}
        self._built: dict[tuple[str, tuple[Any, ...]], QuantumBackend] = {}
        self._factories = dict(_FACTORIES)

    @property
    def sdk(self) -> str:
        """The SDK whose default backend :meth:`get_backend` returns."""
        return _option(self.config, "quantum_sdk", self._sdk)

    async def initialize(self, sdk: str | None = None) -> BackendManager:
        """Select the SDK whose default backend :meth:`get_backend` returns (written to the
        config, which the trainer shares)."""
        if sdk is not None:
            if sdk not in SDK_DEFAULTS:
                raise ConfigError(f"unknown sdk {sdk!r}; choose one of "
                                  f"{', '.join(SDK_DEFAULTS)}")
            if self.config is not None and hasattr(self.config, "quantum_sdk"):
                self.config.quantum_sdk = sdk
            self._sdk = sdk
        return self

    def list_backends(self) -> list[str]:
        return sorted({*self._factories, *_ALIASES, *self._registered})

    def register(self, name: str, backend: QuantumBackend) -> None:
        """Make ``backend`` available as ``name`` (replacing a built-in of that name)."""
        if not isinstance(backend, QuantumBackend):
            raise ConfigError(f"{name!r}: expected a QuantumBackend, got "
                              f"{type(backend).__name__}")
        self._registered[_ALIASES.get(name, name)] = backend

    @property
    def default_name(self) -> str:
        return default_backend_name(self.config, self.sdk)

    def get_backend(self, name: str | None = None) -> QuantumBackend:
        """The backend called ``name`` (default: the selected SDK's default backend)."""
        key = self.default_name if name is None else name
        if not isinstance(key, str):
            raise ConfigError(f"backend names are strings, got {key!r}")
        key = _ALIASES.get(key, key)
        if key in self._registered:
            return self._registered[key]
        if key not in self._factories:
            raise ConfigError(f"unknown backend {name!r}; available: "
                              f"{', '.join(self.list_backends())}")
        built = (key, _options_key(self.config, key))
        if built not in self._built:
            self._built[built] = self._factories[key](self.config)
        return self._built[built]

    async def close(self) -> None:
        """Close every backend created or registered so far."""
        for backend in (*self._built.values(), *self._registered.values()):
            await backend.close()
