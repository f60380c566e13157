"""Fixtures shared by the simulator tests."""

from __future__ import annotations

import pytest

from q_store.sim import statevector as sv


@pytest.fixture
def pinned(monkeypatch):
    """Calls use exactly the simulator's ``threads``, whatever the machine's load."""
    monkeypatch.setattr(sv, "threads_for", lambda cap: cap)
