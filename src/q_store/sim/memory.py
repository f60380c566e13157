"""Memory checks before large allocations.

A 30-qubit state vector is 16 GiB; a million-row batch of 20-qubit states is 16 TiB. Asking the
operating system for that either fails deep inside NumPy with a bare ``MemoryError`` or, with
overcommit, succeeds and gets the process killed later. Simulators call :func:`check_memory`
with the bytes a request will need *before* allocating, and a request that will not fit is
refused with a :class:`~q_store.errors.ResourceLimitError` that says how much it needs and how
much is available.

The limit is, in order: the value given to :func:`set_memory_limit`; the environment variable
``Q_STORE_MEMORY_LIMIT`` (bytes, or with a ``K``/``M``/``G``/``T`` suffix, powers of 1024); else
the memory available now (``MemAvailable`` in ``/proc/meminfo``, or ``os.sysconf``'s available
pages, capped by a cgroup v2 limit when the process runs in one). Without an explicit limit,
requests under :data:`CHECK_ABOVE` bytes are not checked (reading ``/proc/meminfo`` costs more
than they do).
"""

from __future__ import annotations

import os
from pathlib import Path

from q_store.errors import ConfigError, ResourceLimitError

__all__ = [
    "CHECK_ABOVE",
    "available_memory",
    "check_memory",
    "format_bytes",
    "memory_limit",
    "set_memory_limit",
]

CHECK_ABOVE = 64 * 2**20
ENV_VAR = "Q_STORE_MEMORY_LIMIT"
_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_limit: int | None = None


def set_memory_limit(nbytes: int | None) -> None:
    """Refuse requests that need more than ``nbytes`` bytes; None: use the available memory
    (or ``Q_STORE_MEMORY_LIMIT``)."""
    global _limit
    if nbytes is not None and (not isinstance(nbytes, int) or isinstance(nbytes, bool)
                               or nbytes < 1):
        raise ConfigError(f"memory limit must be a positive number of bytes or None, got "
                          f"{nbytes!r}")
    _limit = nbytes


def _parse(text: str) -> int:
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in _SUFFIX and t[-1:] else ""
    try:
        value = float(t[: len(t) - len(unit)]) * _SUFFIX[unit]
    except ValueError:
        raise ConfigError(f"{ENV_VAR}={text!r} is not a size; use bytes or e.g. '8G'") from None
    if value < 1:
        raise ConfigError(f"{ENV_VAR}={text!r} must be positive")
    return int(value)


def _cgroup_room() -> int | None:
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory available to this process now (None when unknown)."""
    room: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                room = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        room = None
    if room is None:
        try:
            room = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            room = None
    cgroup = _cgroup_room()
    if cgroup is not None:
        room = cgroup if room is None else min(room, cgroup)
    return room


def memory_limit() -> tuple[int | None, str]:
    """``(bytes, where the number comes from)``; bytes is None when nothing is known."""
    if _limit is not None:
        return _limit, "the limit set with q_store.sim.memory.set_memory_limit"
    env = os.environ.get(ENV_VAR)
    if env:
        return _parse(env), f"the limit {ENV_VAR}={env}"
    return available_memory(), "available memory"


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_memory(nbytes: int, what: str) -> None:
    """Raise :class:`ResourceLimitError` if ``what`` (e.g. "a batch of 4 states of 30 qubits")
    needs ``nbytes`` bytes, more than the limit allows."""
    if nbytes < CHECK_ABOVE and _limit is None and ENV_VAR not in os.environ:
        return
    limit, source = memory_limit()
    if limit is not None and nbytes > limit:
        raise ResourceLimitError(
            f"{what} needs {format_bytes(nbytes)} of memory but {source} is "
            f"{format_bytes(limit)}; use fewer qubits, a smaller batch or fewer shots (or raise "
            f"the limit with {ENV_VAR} / q_store.sim.memory.set_memory_limit)")
