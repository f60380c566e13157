"""How many threads a simulation call may use: the cores other processes leave free.

Why: a parallel region is as slow as its slowest thread. When another process keeps one of two
cores busy, the thread that shares that core gets a fraction of its time slices, and every
region waits for it: the 16-qubit adjoint gradient took 5-35x longer with two threads than with
one. So the thread count of each call is the user's ``threads=`` capped by the cores that other
processes left idle over the last interval.

How: Linux's ``/proc/stat`` counts, per CPU, the time spent busy; the busy time of the CPUs this
process may run on (``sched_getaffinity``), less this process's own CPU time
(``time.process_time``, all threads), over the wall time between two readings is the foreign
load in cores. A core counts as free when at least half of it was idle: with the work split
evenly, a thread on a shared core that gets a fraction ``f`` of it finishes its half in
``0.5 / f`` of the one-thread time, so two threads win exactly when ``f > 0.5``. The reading
costs tens of microseconds, so the decision is kept for ``refresh`` seconds (and the window is at
least that long, which keeps the 10 ms tick granularity of the counters small). A window longer than
``stale`` seconds (the first call after a pause) describes the past, so then the instantaneous
count of runnable tasks (``procs_running``, less the caller) is used instead. Without
``/proc/stat`` (not Linux) the user's thread count is used as it is.

The threading layer matters too: numba's default OpenMP workers spin for milliseconds after
each parallel region, and a spinning worker that shares a core with another process is
descheduled like any CPU hog, so every region waits for a whole time slice. TBB's workers (and
OpenMP's with ``OMP_WAIT_POLICY=PASSIVE``) sleep instead and are woken promptly:
:func:`configure_threading` picks one of them before numba starts its threads.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FreeCores", "ThreadingLayer", "busy_seconds", "configure_threading", "free_cores",
           "procs_running", "threads_for"]

_PROC_STAT = Path("/proc/stat")
REFRESH_S = 0.1  # a decision (and the shortest measuring window) lasts this long
STALE_S = 1.0  # a longer window is history: the runnable-task count is read instead


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


def procs_running(stat_text: str) -> int | None:
    """The number of runnable tasks right now (``procs_running`` of ``/proc/stat``)."""
    for line in stat_text.splitlines():
        if line.startswith("procs_running"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


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

    ``read_stat`` returns the text of ``/proc/stat`` (or None), ``clock`` wall seconds,
    ``own_cpu`` this process's CPU seconds and ``pid`` its id: tests inject fakes. The first
    reading is taken on construction; until a window of ``refresh`` seconds has passed the cap
    is returned as is.
    """

    def __init__(self, *, read_stat: Callable[[], str | None] = _read_proc_stat,
                 clock: Callable[[], float] = time.monotonic,
                 own_cpu: Callable[[], float] = time.process_time,
                 cpus: Collection[int] | None = None, refresh: float = REFRESH_S,
                 stale: float = STALE_S, ticks_per_second: int | None = None,
                 pid: Callable[[], int] = os.getpid) -> None:
        self._read_stat = read_stat
        self._pid = pid
        self._owner = pid()  # a forked child starts a window of its own
        self._clock = clock
        self._own_cpu = own_cpu
        self._cpus = frozenset(cpus) if cpus is not None else _allowed_cpus()
        # the runnable-task count is system-wide: usable when this process may use every CPU
        self._all_cpus = self._cpus is None or len(self._cpus) >= (os.cpu_count() or 1)
        self._tick = ticks_per_second or _ticks_per_second()
        self._refresh = refresh
        self._stale = stale
        self._lock = threading.Lock()
        self._base = self._sample()  # (wall, busy, own, running) at the start of the window
        self._free: int | None = None  # the last decision

    def _sample(self) -> tuple[float, float, float, int | None] | None:
        text = self._read_stat()
        busy = None if text is None else busy_seconds(text, self._cpus, self._tick)
        if text is None or busy is None:
            return None
        return self._clock(), busy, self._own_cpu(), procs_running(text)

    @property
    def n_cpus(self) -> int:
        return len(self._cpus) if self._cpus is not None else (os.cpu_count() or 1)

    def free(self) -> int | None:
        """Cores free of other processes' load over the last window (at least 1), or None when
        nothing can be measured yet or at all."""
        with self._lock:
            if self._pid() != self._owner:  # forked: the parent's CPU time is not ours
                self._owner = self._pid()
                self._base = self._sample()
                return self._free
            base = self._base
            if base is not None and self._clock() - base[0] < self._refresh:
                return self._free
            now = self._sample()
            if now is None:
                return self._free
            if base is not None:
                window = now[0] - base[0]
                if window > self._stale and self._all_cpus and now[3] is not None:
                    foreign = max(0.0, now[3] - 1.0)  # runnable now, less the caller
                else:
                    foreign = max(0.0, (now[1] - base[1]) - (now[2] - base[2])) / window
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


# -- the threading layer ----------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadingLayer:
    """The numba threading layer in use and why it was chosen."""

    name: str
    reason: str


_TBB_LIBRARIES = ("libtbb.so.12", "libtbb.12.dylib", "tbb12.dll")
_LAYER: ThreadingLayer | None = None


def _tbb_problem() -> str | None:
    """Why numba's TBB layer cannot load, or None if it can.

    The pip ``tbb`` package puts ``libtbb`` in the environment's ``lib`` folder, where the
    dynamic loader does not look; loading it by path first lets numba's TBB module find it."""
    try:
        importlib.import_module("numba.np.ufunc.tbbpool")
        return None
    except ImportError:
        pass
    try:
        files = importlib.metadata.files("tbb") or []
        dist = importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return "the tbb package is not installed"
    paths = [dist.locate_file(f) for f in files if Path(str(f)).name in _TBB_LIBRARIES]
    if not paths:
        return "the tbb package has no TBB library for this platform"
    try:
        ctypes.CDLL(os.path.realpath(str(paths[0])), mode=ctypes.RTLD_GLOBAL)
        importlib.import_module("numba.np.ufunc.tbbpool")
    except (OSError, ImportError) as e:
        return f"numba's TBB layer does not load: {e}"
    return None


def configure_threading() -> ThreadingLayer:
    """Start numba's threads with a layer whose idle workers sleep (once per process).

    TBB when it loads; otherwise numba's next choice (OpenMP) with ``OMP_WAIT_POLICY=PASSIVE``
    set while the OpenMP runtime starts (unless the user set it). A layer chosen with
    ``NUMBA_THREADING_LAYER``, or threads numba already started, are left as they are."""
    global _LAYER
    if _LAYER is not None:
        return _LAYER
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", False):
        _LAYER = ThreadingLayer(numba.threading_layer(),
                                "numba's threads were started before q_store chose a layer")
        return _LAYER
    if str(numba.config.THREADING_LAYER).lower() != "default":
        numba.get_num_threads()  # starts the threads
        _LAYER = ThreadingLayer(numba.threading_layer(), "chosen with NUMBA_THREADING_LAYER")
        return _LAYER
    problem = _tbb_problem()
    set_policy = "OMP_WAIT_POLICY" not in os.environ
    if set_policy:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # read once, when the OpenMP runtime starts
    try:
        numba.get_num_threads()  # starts the threads: tbb first, then omp, then workqueue
    finally:
        if set_policy:
            os.environ.pop("OMP_WAIT_POLICY", None)
    layer = numba.threading_layer()
    if layer == "tbb":
        reason = "TBB: idle workers sleep"
    else:
        policy = os.environ.get("OMP_WAIT_POLICY", "PASSIVE") if layer == "omp" else None
        reason = (f"TBB unavailable ({problem or 'numba declined it'}); "
                  + (f"OpenMP with OMP_WAIT_POLICY={policy}" if policy else f"{layer}"))
    _LAYER = ThreadingLayer(layer, reason)
    return _LAYER
