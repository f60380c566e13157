"""``AdaptiveQueueManager`` (v3.4): job sizes chosen from the queue waits the backend reports.

A batch policy of the :class:`~q_store.execution.pipeline.CircuitPipeline`. The submitter reports
every finished job (:meth:`AdaptiveQueueManager.record_job`) with the queue wait measured by the
backend: IonQ's ``started_at - submitted_at`` (the local IonQ-compatible server models it), the
wait for a worker thread on in-process backends. The spec's rule is the default policy, over
the mean wait of the last ``window`` jobs:

* under ``fast_wait`` (1 s): jobs of ``sizes[0]`` (20) circuits;
* from ``fast_wait`` to ``slow_wait`` (3 s): ``sizes[1]`` (10);
* over ``slow_wait``: ``sizes[2]`` (5).

Until a job has reported a wait the queue is taken to be empty. ``max_size`` caps a job where the
backend limits circuits per job. The history of waits and of this client's jobs in flight at
each submission (the queue depth it can see) is kept for the dashboard.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from q_store.errors import ConfigError

__all__ = ["AdaptiveQueueManager", "JobRecord"]


@dataclass(frozen=True)
class JobRecord:
    """One finished job: when (unix seconds), its circuits, the measured queue wait (None if
    the backend reported none), seconds waited for it in all, and jobs in flight at submission."""

    t: float
    circuits: int
    queue_seconds: float | None
    wait_seconds: float | None
    in_flight: int | None


def _seconds(name: str, value: object) -> float:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0):
        raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class AdaptiveQueueManager:
    """Job sizes from observed queue waits (see the module docstring). ``window``: jobs whose
    waits are averaged; ``history``: job records kept; ``clock``: unix seconds of records."""

    def __init__(self, *, fast_wait: float = 1.0, slow_wait: float = 3.0,
                 sizes: tuple[int, int, int] = (20, 10, 5), window: int = 5,
                 max_size: int | None = None, history: int = 1000,
                 clock: Callable[[], float] = time.time) -> None:
        self.fast_wait = _seconds("fast_wait", fast_wait)
        self.slow_wait = _seconds("slow_wait", slow_wait)
        if self.slow_wait < self.fast_wait:
            raise ConfigError(f"slow_wait ({slow_wait}) must not be below fast_wait "
                              f"({fast_wait})")
        if not isinstance(sizes, tuple | list) or len(sizes) != 3:
            raise ConfigError(f"sizes must be three job sizes (short, medium, long queue), "
                              f"got {sizes!r}")
        self.sizes = tuple(_positive_int("sizes", s) for s in sizes)
        self.window = _positive_int("window", window)
        self.max_size = None if max_size is None else _positive_int("max_size", max_size)
        self.clock = clock
        self._waits: deque[float] = deque(maxlen=self.window)
        self.history: deque[JobRecord] = deque(maxlen=_positive_int("history", history))
        self.jobs = 0
        self.calls = 0

    # -- learning -----------------------------------------------------------------------------
    def record_job(self, queue_seconds: float | None = None, *, circuits: int = 1,
                   wait_seconds: float | None = None, in_flight: int | None = None,
                   **context: Any) -> None:
        """One finished job (the submitter's report; ``context`` such as the backend name and
        shots is not used by the policy)."""
        if queue_seconds is not None:
            self._waits.append(_seconds("queue_seconds", queue_seconds))
        self.jobs += 1
        self.history.append(JobRecord(self.clock(), int(circuits), queue_seconds, wait_seconds,
                                      in_flight))

    def record(self, circuits: int, seconds: float, queue_seconds: float | None) -> None:
        """One pipeline call (its jobs were reported one by one through :meth:`record_job`)."""
        self.calls += 1

    # -- deciding -----------------------------------------------------------------------------
    @property
    def mean_queue_wait(self) -> float | None:
        """Mean queue wait of the last ``window`` jobs that reported one (None: none yet)."""
        return sum(self._waits) / len(self._waits) if self._waits else None

    def get_optimal_batch_size(self) -> int:
        """Circuits per job for the queue as last observed."""
        wait = self.mean_queue_wait
        if wait is None or wait < self.fast_wait:
            size = self.sizes[0]
        elif wait <= self.slow_wait:
            size = self.sizes[1]
        else:
            size = self.sizes[2]
        return size if self.max_size is None else min(size, self.max_size)

    def job_size(self, n_circuits: int) -> int:
        return self.get_optimal_batch_size()

    # -- reporting ----------------------------------------------------------------------------
    def queue_history(self) -> list[dict[str, Any]]:
        """The kept job records as plain dicts (oldest first)."""
        return [asdict(r) for r in self.history]

    def get_stats(self) -> dict[str, Any]:
        depths = [r.in_flight for r in self.history if r.in_flight is not None]
        return {"jobs": self.jobs, "mean_queue_wait": self.mean_queue_wait,
                "batch_size": self.get_optimal_batch_size(),
                "max_in_flight": max(depths) if depths else None}

    def __repr__(self) -> str:
        return (f"AdaptiveQueueManager(fast_wait={self.fast_wait}, slow_wait={self.slow_wait}, "
                f"sizes={self.sizes}, window={self.window})")
