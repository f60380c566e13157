"""Which backend a trainer's circuits go to, and how a change of ``quantum_sdk`` moves them.

A model's own backend wins, else the configured SDK's default backend (from the trainer's
``BackendManager``, or one built from the config when none was given). Changing
``config.quantum_sdk`` later is the newest choice: it moves a model built with another SDK's
backend to the new SDK's default backend (logged), until the model gets a backend of its own
again.
"""

from __future__ import annotations

import logging
from typing import Any

from q_store.backends.manager import BackendManager, default_backend_name

__all__ = ["BackendChoice"]

log = logging.getLogger("q_store.trainer")
_NOTHING = object()


class BackendChoice:
    """Chooses a model's backend from ``config`` and an optional ``manager``."""

    def __init__(self, config: Any, manager: Any = None) -> None:
        self.config = config
        self.manager = manager
        self._own_manager: BackendManager | None = None
        self._moved_from: Any = _NOTHING  # the model backend a quantum_sdk change overrode
        self._sdk_changed = False

    def sdk_changed(self) -> None:
        """``config.quantum_sdk`` changed: the next model goes to the new SDK's backend."""
        self._sdk_changed = True

    def _manager(self) -> Any:
        if self.manager is not None:
            return self.manager
        if self._own_manager is None:
            self._own_manager = BackendManager(self.config)
        return self._own_manager

    def select(self, model: Any) -> Any:
        """The model's own backend, else the configured SDK's default backend."""
        if self._sdk_changed:
            self._moved_from, self._sdk_changed = model.backend, False
        own = model.backend
        if own is not None and own is not self._moved_from:
            return own
        if own is not None:
            log.warning("config.quantum_sdk=%r: running on that SDK's default backend instead "
                        "of the model's backend %r", self.config.quantum_sdk,
                        getattr(own, "name", own))
        return self._manager().get_backend(default_backend_name(self.config))
