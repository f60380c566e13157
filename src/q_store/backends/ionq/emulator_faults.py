"""Faults the local IonQ emulator injects on demand, to test a client's error handling.

A fault matches requests by HTTP method and path prefix and fires on the next ``times``
matching requests (None: on every one, until cleared). Kinds:

- ``rate_limit``: 429 with a ``Retry-After: <retry_after>`` header; the request is not processed.
- ``server_error``: a 5xx status (``status``) with an error body; not processed.
- ``drop_before``: the connection is closed without any response; not processed.
- ``drop_after``: the request is processed (a POST /jobs creates its job), then the connection is
  closed without a response: the ambiguous case a client must resolve without duplicating jobs.
- ``slow``: the request is processed at once but its response is held back ``seconds`` (real
  seconds, not scaled), to exercise client read timeouts.
- ``fail_job``: the next job a matching request creates ends in status ``failed`` when the
  device would start it, with ``failure = {"code": code, "message": error}`` (v0.3:
  ``{"error": error, "code": code}``). IonQ's documented codes include ``InternalError``,
  ``QuantumComputerError`` and ``SimulationError``.

Faults are checked in the order they were added; one request triggers at most one fault of the
response kinds and, separately, one ``fail_job``.
"""

from __future__ import annotations

import numbers
import threading
from dataclasses import dataclass, replace

from q_store.errors import ConfigError

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan"]

FAULT_KINDS = ("rate_limit", "server_error", "drop_before", "drop_after", "fail_job", "slow")
_METHODS = ("GET", "POST", "PUT", "DELETE")


@dataclass(frozen=True)
class Fault:
    """One planned fault. ``remaining`` counts the matching requests it still affects (None:
    unlimited)."""

    kind: str
    remaining: int | None
    method: str | None
    path_prefix: str | None
    retry_after: int = 1
    status: int = 503
    seconds: float = 1.0
    error: str = "the emulated QPU failed this job (injected fault)"
    code: str = "InternalError"

    def matches(self, method: str, path: str, relative_path: str) -> bool:
        """Whether a request ``method path`` (``relative_path``: the path after ``/v0.x``)
        triggers this fault."""
        if self.method is not None and method != self.method:
            return False
        prefix = self.path_prefix
        return not prefix or path.startswith(prefix) or relative_path.startswith(prefix)


def _check_add(kind: object, times: object, method: object, path_prefix: object,
               retry_after: object, status: object, seconds: object, error: object,
               code: object) -> None:
    if kind not in FAULT_KINDS:
        raise ConfigError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
    if times is not None and (not isinstance(times, numbers.Integral) or isinstance(times, bool)
                              or times < 1):
        raise ConfigError(f"times must be a positive integer or None (always), got {times!r}")
    if method is not None and method not in _METHODS:
        raise ConfigError(f"method must be one of {', '.join(_METHODS)} or None (any), "
                          f"got {method!r}")
    if path_prefix is not None and not isinstance(path_prefix, str):
        raise ConfigError(f"path_prefix must be a string or None (any path), "
                          f"got {path_prefix!r}")
    if (not isinstance(retry_after, numbers.Integral) or isinstance(retry_after, bool)
            or retry_after < 0):
        raise ConfigError(f"retry_after must be a whole number of seconds >= 0 (the "
                          f"Retry-After header takes integers), got {retry_after!r}")
    if (not isinstance(status, numbers.Integral) or isinstance(status, bool)
            or not 500 <= status <= 599):
        raise ConfigError(f"server_error status must be an integer from 500 to 599, "
                          f"got {status!r}")
    if (not isinstance(seconds, numbers.Real) or isinstance(seconds, bool)
            or not 0 <= seconds < 3600):
        raise ConfigError(f"slow seconds must be a number in [0, 3600), got {seconds!r}")
    if not isinstance(error, str) or not isinstance(code, str):
        raise ConfigError("fail_job error and code must be strings")


class FaultPlan:
    """Thread-safe list of pending faults (see the module docstring for the kinds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._fired: list[tuple[str, str, str]] = []

    def add(self, kind: str, times: int | None = 1, method: str | None = "POST",
            path_prefix: str | None = "/jobs", *, retry_after: int = 1, status: int = 503,
            seconds: float = 1.0,
            error: str = "the emulated QPU failed this job (injected fault)",
            code: str = "InternalError") -> Fault:
        """Plan ``kind`` for the next ``times`` requests matching ``method`` (None: any) and
        ``path_prefix`` (relative to ``/v0.x``, e.g. ``"/jobs"``; None: any path)."""
        _check_add(kind, times, method, path_prefix, retry_after, status, seconds, error, code)
        fault = Fault(kind, None if times is None else int(times), method, path_prefix,
                      int(retry_after), int(status), float(seconds), error, code)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> tuple[Fault, ...]:
        with self._lock:
            return tuple(self._faults)

    @property
    def fired(self) -> tuple[tuple[str, str, str], ...]:
        """``(kind, method, path)`` of every fault that fired, in order."""
        with self._lock:
            return tuple(self._fired)

    def take(self, method: str, path: str, relative_path: str, job_fault: bool = False
             ) -> Fault | None:
        """Consume and return the first pending fault matching the request: a ``fail_job``
        fault when ``job_fault``, else one of the response kinds."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if (fault.kind == "fail_job") != job_fault:
                    continue
                if not fault.matches(method, path, relative_path):
                    continue
                if fault.remaining is not None:
                    if fault.remaining <= 1:
                        del self._faults[i]
                    else:
                        self._faults[i] = replace(fault, remaining=fault.remaining - 1)
                self._fired.append((fault.kind, method, path))
                return fault
        return None

    def __repr__(self) -> str:
        return f"FaultPlan({len(self.pending)} pending)"
