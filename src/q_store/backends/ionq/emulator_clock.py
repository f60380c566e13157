"""The clock the local IonQ emulator's device runs on: real time, or a fake clock for tests.

The device reads the time (job timestamps), schedules by it (queue waits, modelled execution
time) and sleeps on it, always through a :class:`Clock`. :class:`SystemClock` is real time.
:class:`ManualClock` is a fake: its time moves only when a test calls :meth:`ManualClock.advance`
or, with ``auto=True``, jumps straight to the end of every timed wait, so a job's recorded
timestamps are exact (``started_at - submitted_at`` is the modelled queue wait, to the bit) and
a test asserts on them instead of on wall time, which a loaded machine stretches at will.

Request overheads and ``slow`` faults are not on this clock: they model the network, and a
client's read timeouts are measured in real seconds.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

from q_store.errors import ConfigError

__all__ = ["Clock", "ManualClock", "SystemClock"]

_REAL_WAIT_CAP = 1.0  # a ManualClock waiter re-checks at least this often (real seconds)


class Clock(Protocol):
    """What the device needs of time."""

    def time(self) -> float:
        """Unix seconds (job timestamps)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (scheduling)."""

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Wait on ``cond`` (held by the caller) until notified or ``timeout`` clock seconds
        pass (None: until notified). May return early: callers re-check their condition."""


class SystemClock:
    """Real time."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        cond.wait(timeout)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A fake clock for tests: time moves only on :meth:`advance` (or, with ``auto``, to the
    end of each timed wait). ``start`` is its Unix time at ``monotonic() == 0``."""

    def __init__(self, start: float = 1_700_000_000.0, *, auto: bool = False) -> None:
        if not isinstance(start, int | float) or isinstance(start, bool) or start < 0:
            raise ConfigError(f"ManualClock start must be a Unix time >= 0, got {start!r}")
        self._start = float(start)
        self._now = 0.0
        self.auto = bool(auto)
        self._lock = threading.Lock()
        self._conds: weakref.WeakSet[threading.Condition] = weakref.WeakSet()

    def time(self) -> float:
        return self._start + self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every waiter to re-check its deadline."""
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise ConfigError(f"advance takes seconds >= 0, got {seconds!r}")
        with self._lock:
            self._now += float(seconds)
            conds = list(self._conds)
        for cond in conds:
            with cond:
                cond.notify_all()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        with self._lock:
            self._conds.add(cond)
        if self.auto and timeout is not None:
            with self._lock:
                self._now += max(0.0, timeout)
            return
        cond.wait(_REAL_WAIT_CAP)

    def __repr__(self) -> str:
        return f"ManualClock(t={self._now:g} s, auto={self.auto})"
