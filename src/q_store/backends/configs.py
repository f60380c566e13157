"""``TrainingConfig.backend_configs``: the spec's per-backend entries, checked and built.

Entries (dicts) name a provider and its settings, as the v3.5 document writes them::

    {'provider': 'ionq', 'target': 'simulator', 'api_key': key1}
    {'provider': 'local', 'simulator': 'qiskit_aer', 'device': 'GPU'}

plus our own: ``{'provider': 'local', 'simulator': 'mock_ideal' | 'mock_noisy' |
'mock_noisy_trajectories' | 'cirq'}`` (``mock_noisy`` takes ``'method': 'density_matrix' |
'trajectories'``; ``mock_noisy_trajectories`` is ``mock_noisy`` with trajectories), IonQ
entries with ``base_url`` (e.g. the local IonQ-compatible server), and on any entry ``name`` (its
label in statistics), ``weight`` (prior relative throughput, default 1) and
``max_circuits_per_job``. IonQ entries take the config's IonQ settings (``quantum_api_key``,
``ionq_base_url``, ``ionq_noise_model``, ``connection_pool_size``, ``max_queue_wait_time``,
``use_native_gates``) for what they leave out. Error messages name keys, never values: an entry
holds an API key.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from q_store.backends.noisy import NOISY_METHODS
from q_store.errors import ConfigError

__all__ = [
    "IONQ_KEYS",
    "LOCAL_KEYS",
    "LOCAL_SIMULATORS",
    "PROVIDERS",
    "BackendSpec",
    "backends_from_config",
    "check_backend_configs",
    "redact_backend_configs",
]

_COMMON = ("provider", "name", "weight", "max_circuits_per_job")
IONQ_KEYS = (*_COMMON, "target", "api_key", "base_url", "noise_model", "api_version",
             "max_retries", "request_timeout", "poll_min", "poll_max")
LOCAL_KEYS = (*_COMMON, "simulator", "device", "method")
PROVIDERS = {"ionq": IONQ_KEYS, "local": LOCAL_KEYS}
LOCAL_SIMULATORS = ("mock_ideal", "mock_noisy", "mock_noisy_trajectories", "qiskit_aer",
                    "qiskit", "cirq")
_IONQ_NOISE = ("ideal", "aria-1", "forte-1")


@dataclass(frozen=True)
class BackendSpec:
    """A built backend with its orchestrator settings."""

    backend: Any
    name: str | None
    weight: float
    max_circuits_per_job: int | None


def check_backend_configs(entries: object) -> None:
    """Raise :class:`ConfigError` (naming the entry, the key and what is allowed) unless
    ``entries`` is None or a non-empty list of valid entries."""
    if entries is None:
        return
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError("backend_configs must be a non-empty list of dicts, one per backend "
                          "(e.g. [{'provider': 'local', 'simulator': 'mock_ideal'}])")
    names = []
    for i, entry in enumerate(entries):
        where = f"backend_configs[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a dict, got {type(entry).__name__}")
        provider = entry.get("provider")
        if not isinstance(provider, str) or provider not in PROVIDERS:
            got = repr(provider) if isinstance(provider, str) or provider is None else "?"
            raise ConfigError(f"{where}: 'provider' must be one of {', '.join(PROVIDERS)}, "
                              f"got {got}")
        allowed = PROVIDERS[provider]
        unknown = sorted(str(k) for k in entry if k not in allowed)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown} for provider {provider!r}; "
                              f"allowed: {', '.join(allowed)}")
        _check_common(entry, where)
        (_check_ionq if provider == "ionq" else _check_local)(entry, where)
        if "name" in entry:
            names.append(entry["name"])
    if len(set(names)) != len(names):
        raise ConfigError(f"backend_configs names must be unique, got {names}")


def _check_common(entry: Mapping[str, Any], where: str) -> None:
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{where}: 'name' must be a non-empty string")
    weight = entry.get("weight", 1.0)
    if (not isinstance(weight, numbers.Real) or isinstance(weight, bool)
            or not math.isfinite(weight) or weight <= 0):
        raise ConfigError(f"{where}: 'weight' must be a positive number, got {weight!r}")
    cap = entry.get("max_circuits_per_job")
    if cap is not None and (not isinstance(cap, numbers.Integral) or isinstance(cap, bool)
                            or cap < 1):
        raise ConfigError(f"{where}: 'max_circuits_per_job' must be a positive integer or "
                          f"None, got {cap!r}")


def _check_ionq(entry: Mapping[str, Any], where: str) -> None:
    from q_store.backends.ionq.backend import BACKEND_QUBITS

    target = entry.get("target", "simulator")
    targets = ("qpu", *BACKEND_QUBITS)
    if target not in targets:
        raise ConfigError(f"{where}: 'target' must be one of {', '.join(targets)}")
    key = entry.get("api_key")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise ConfigError(f"{where}: 'api_key' must be a non-empty string (or left out: the "
                          "config's quantum_api_key or IONQ_API_KEY is used)")
    url = entry.get("base_url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://",
                                                                         "https://"))):
        raise ConfigError(f"{where}: 'base_url' must be an http(s) URL")
    noise = entry.get("noise_model", "ideal")
    if noise not in _IONQ_NOISE:
        raise ConfigError(f"{where}: 'noise_model' must be one of {', '.join(_IONQ_NOISE)}")
    if noise != "ideal" and target != "simulator":
        raise ConfigError(f"{where}: 'noise_model' applies to target 'simulator' only")
    if entry.get("api_version", "v0.4") not in ("v0.4", "v0.3"):
        raise ConfigError(f"{where}: 'api_version' must be 'v0.4' or 'v0.3'")


def _check_local(entry: Mapping[str, Any], where: str) -> None:
    simulator = entry.get("simulator", "mock_ideal")
    if simulator not in LOCAL_SIMULATORS:
        raise ConfigError(f"{where}: 'simulator' must be one of {', '.join(LOCAL_SIMULATORS)}, "
                          f"got {simulator!r}")
    aer = simulator in ("qiskit_aer", "qiskit")
    if "device" in entry and (not aer or entry["device"] not in ("CPU", "GPU")):
        raise ConfigError(f"{where}: 'device' ('CPU' or 'GPU') applies to simulator "
                          "'qiskit_aer' only")
    if "method" in entry and simulator == "mock_noisy":
        if entry["method"] not in NOISY_METHODS:
            raise ConfigError(f"{where}: 'method' of simulator 'mock_noisy' must be one of "
                              f"{', '.join(NOISY_METHODS)}")
    elif "method" in entry and (not aer or not isinstance(entry["method"], str)):
        raise ConfigError(f"{where}: 'method' (an Aer simulation method name) applies to "
                          "simulator 'qiskit_aer'; 'density_matrix' or 'trajectories' to "
                          "'mock_noisy'")


def redact_backend_configs(entries: object) -> object:
    """The entries with API keys replaced by ``'***'`` (for to_dict, checkpoints, logs)."""
    if not isinstance(entries, (list, tuple)):
        return entries
    return [{k: ("***" if k == "api_key" and v is not None else v) for k, v in e.items()}
            if isinstance(e, Mapping) else e for e in entries]


def backends_from_config(config: Any) -> list[BackendSpec]:
    """Build every entry's backend (new instances, owned by the caller)."""
    entries = config.backend_configs
    if not entries:
        raise ConfigError("enable_multi_backend=True needs backend_configs: a list of backend "
                          "entries, e.g. [{'provider': 'ionq', 'target': 'simulator', "
                          "'api_key': ...}, {'provider': 'local', 'simulator': 'mock_ideal'}]")
    check_backend_configs(entries)
    return [BackendSpec(_ionq(config, e) if e["provider"] == "ionq" else _local(e),
                        e.get("name"), float(e.get("weight", 1.0)),
                        e.get("max_circuits_per_job")) for e in entries]


def _ionq(config: Any, entry: Mapping[str, Any]) -> Any:
    from q_store.backends.ionq.backend import IonQBackend
    from q_store.backends.manager import _ionq_options

    target = entry.get("target", "simulator")
    options = _ionq_options(config, "qpu.aria-1" if target == "qpu" else target)
    for key in ("api_key", "base_url", "noise_model", "api_version", "max_retries",
                "request_timeout", "poll_min", "poll_max"):
        if entry.get(key) is not None:
            options[key] = entry[key]
    return IonQBackend(**options)


def _local(entry: Mapping[str, Any]) -> Any:
    simulator = entry.get("simulator", "mock_ideal")
    if simulator in ("qiskit_aer", "qiskit"):
        from q_store.backends.qiskit import QiskitAerBackend

        options = {"device": entry["device"]} if "device" in entry else {}
        return QiskitAerBackend(method=entry.get("method", "automatic"), **options)
    if simulator == "mock_noisy" and "method" in entry:
        from q_store.backends.noisy import NoisySimulatorBackend

        return NoisySimulatorBackend(method=entry["method"])
    from q_store.backends.manager import _FACTORIES

    return _FACTORIES[simulator](None)
