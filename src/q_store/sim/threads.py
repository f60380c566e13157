"""How many threads a simulation call may use: the cores other processes leave free.

Why: a parallel region is as slow as its slowest thread. When another process keeps one of two
cores busy, the thread that shares that core gets a fraction of its time slices, and every
region waits for it: the 16-qubit adjoint gradient took 5-35x longer with two threads than with
one. So the thread count of each call is the user's ``threads=`` capped by the cores that other
processes left idle over the last interval.

How: Linux's ``/proc/stat`` counts, per CPU, the time spent busy; the busy time of the CPUs this
process may run on (``sched_getaffinity``), less this process's own CPU time
(``time.process_time``, all threads), over the wall time between two readings is the foreign
load in cores. A core counts as free when at least half of it was idle. The reading costs tens
of microseconds, so the decision is kept for ``refresh`` seconds (and the window is at least that
long, which keeps the 10 ms tick granularity of the counters small). Without ``/proc/stat``
(not Linux) the user's thread count is used as it is.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["FreeCores", "busy_seconds", "free_cores", "threads_for"]

_PROC_STAT = Path("/proc/stat")
REFRESH_S = 0.1  # a decision (and the shortest measuring window) lasts this long


def _ticks_per_second() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100


def busy_seconds(stat_text: str, cpus: Collection[int] | None = None,
                 ticks_per_second: int = 100) -> float | None:
    """Busy CPU seconds since boot, summed over ``cpus`` (all CPUs if None), read from the text
    of ``/proc/stat``; None if no matching ``cpuN`` line.

    Busy is user + nice + system + irq + softirq + steal (guest time is included in user);
    idle and iowait are not busy."""
    ticks = 0
    found = False
    for line in stat_text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        try:
            cpu = int(name[3:])
            values = [int(f) for f in fields[:8]]
        except ValueError:
            continue
        if len(values) < 4 or (cpus is not None and cpu not in cpus):
            continue
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        ticks += sum(values) - idle
        found = True
    return ticks / ticks_per_second if found else None


def _read_proc_stat() -> str | None:
    try:
        return _PROC_STAT.read_text()
    except OSError:
        return None


def _allowed_cpus() -> frozenset[int] | None:
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


class FreeCores:
    """Estimates the cores left free by other processes; :meth:`threads` caps a thread count.

    ``read_stat`` returns the text of ``/proc/stat`` (or None), ``clock`` wall seconds and
    ``own_cpu`` this process's CPU seconds: tests inject fakes. The first reading is taken on
    construction; until a window of ``refresh`` seconds has passed the cap is returned as is.
    """

    def __init__(self, *, read_stat: Callable[[], str | None] = _read_proc_stat,
                 clock: Callable[[], float] = time.monotonic,
                 own_cpu: Callable[[], float] = time.process_time,
                 cpus: Collection[int] | None = None, refresh: float = REFRESH_S,
                 ticks_per_second: int | None = None) -> None:
        self._read_stat = read_stat
        self._clock = clock
        self._own_cpu = own_cpu
        self._cpus = frozenset(cpus) if cpus is not None else _allowed_cpus()
        self._tick = ticks_per_second or _ticks_per_second()
        self._refresh = refresh
        self._lock = threading.Lock()
        self._base = self._sample()  # (wall, busy, own) at the start of the current window
        self._free: int | None = None  # the last decision

    def _sample(self) -> tuple[float, float, float] | None:
        text = self._read_stat()
        busy = None if text is None else busy_seconds(text, self._cpus, self._tick)
        if busy is None:
            return None
        return self._clock(), busy, self._own_cpu()

    @property
    def n_cpus(self) -> int:
        return len(self._cpus) if self._cpus is not None else (os.cpu_count() or 1)

    def free(self) -> int | None:
        """Cores free of other processes' load over the last window (at least 1), or None when
        nothing can be measured yet or at all."""
        with self._lock:
            base = self._base
            if base is not None and self._clock() - base[0] < self._refresh:
                return self._free
            now = self._sample()
            if now is None:
                return self._free
            if base is not None:
                foreign = max(0.0, (now[1] - base[1]) - (now[2] - base[2])) / (now[0] - base[0])
                self._free = max(1, min(self.n_cpus, int(self.n_cpus - foreign + 0.5)))
            self._base = now
            return self._free

    def threads(self, cap: int) -> int:
        """``cap`` limited to the free cores (never above ``cap``, never below 1)."""
        if cap <= 1:
            return 1
        free = self.free()
        return cap if free is None else max(1, min(cap, free))


_DEFAULT: FreeCores | None = None


def free_cores() -> FreeCores:
    """The process-wide estimator (created on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = FreeCores()
    return _DEFAULT


def threads_for(cap: int) -> int:
    """The thread count for a call whose user allows ``cap`` threads."""
    return free_cores().threads(cap)
