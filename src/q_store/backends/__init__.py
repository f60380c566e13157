"""Backends: where circuits run."""

from q_store.backends.local import BackendCapabilities, LocalSimulatorBackend
from q_store.backends.manager import BackendManager

__all__ = ["BackendCapabilities", "BackendManager", "LocalSimulatorBackend"]
