"""Limits of the local IonQ emulator: IonQ's documented ones, and the server's own bounds.

IonQ's limits (a job over them is refused with 400, as IonQ refuses it):

- Shots per circuit: IonQ's v0.4 OpenAPI (``CircuitJobCreationPayload.shots``, api-docs of May
  2026) documents ``minimum: 1, maximum: 1000000`` (default 100) for every backend. For QPUs we
  use the stricter 10,000 that qiskit-ionq's ``IonQQPUBackend`` (``max_shots=10_000``) and Azure
  Quantum's IonQ QPU targets advertise: a conservative reading, since a QPU job of a million
  shots would run for days.
- Qubits per backend: simulator 29, Aria 25, Forte-1 36 (Azure Quantum's IonQ provider page).
- Metadata: at most 10 keys, string values.

The server's own bounds (:class:`ServerLimits`) keep one process serving many clients for
days: how many jobs it remembers, how large a result it computes and keeps, how many
connections it serves at once and how long an idle connection may stay open.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

from q_store.errors import ConfigError

__all__ = ["BACKEND_QUBITS", "DEFAULT_SHOTS", "MAX_METADATA_KEYS", "MAX_SHOTS", "ServerLimits"]

BACKEND_QUBITS = {"simulator": 29, "qpu.aria-1": 25, "qpu.forte-1": 36}
MAX_SHOTS = {"simulator": 1_000_000, "qpu.aria-1": 10_000, "qpu.forte-1": 10_000}
DEFAULT_SHOTS = 100  # IonQ's documented default when a body has no "shots"
MAX_METADATA_KEYS = 10


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on what the emulator keeps and serves (defaults in brackets).

    ``max_jobs`` [1000]: top-level jobs remembered; beyond it the oldest finished job (and its
    children) is forgotten (its id then answers 404), and a new job is refused with 429 while
    all remembered jobs are unfinished. ``max_result_entries`` [2**20]: most probabilities one
    job may produce, counted before it runs (``2**qubits`` per circuit when exact,
    ``min(shots, 2**qubits)`` when sampled); a bigger job is refused with 400.
    ``max_stored_entries`` [2**23, 128 MiB as arrays]: probabilities kept over all jobs; the
    oldest finished jobs are forgotten to stay under it. ``max_body_bytes`` [16 MiB]: largest
    request body. ``max_stored_request_bytes`` [64 MiB]: request bodies of all remembered jobs
    together (a kept job holds its parsed circuits, name and metadata, about four times its
    body); the oldest finished jobs are forgotten to stay under it.
    ``max_connections`` [64]: connections served at once; one more is answered 503 and closed.
    ``idle_timeout`` [30 s]: a connection that sends nothing for this long (a stalled or idle
    keep-alive client) is closed. ``request_queue_size`` [1024]: listen backlog.
    """

    max_jobs: int = 1000
    max_result_entries: int = 2**20
    max_stored_entries: int = 2**23
    max_body_bytes: int = 16 * 2**20
    max_stored_request_bytes: int = 64 * 2**20
    max_connections: int = 64
    idle_timeout: float = 30.0
    request_queue_size: int = 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "idle_timeout":
                ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                      and math.isfinite(value) and value > 0)
                if not ok:
                    raise ConfigError(f"ServerLimits.idle_timeout must be a finite number of "
                                      f"seconds > 0, got {value!r}")
                object.__setattr__(self, f.name, float(value))
            elif (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                  or value < 1):
                raise ConfigError(f"ServerLimits.{f.name} must be a positive integer, "
                                  f"got {value!r}")
        if self.max_body_bytes > self.max_stored_request_bytes:
            raise ConfigError(f"ServerLimits.max_body_bytes ({self.max_body_bytes}) must not "
                              f"exceed max_stored_request_bytes "
                              f"({self.max_stored_request_bytes}): one job's request must fit")
        if self.max_result_entries > self.max_stored_entries:
            raise ConfigError(f"ServerLimits.max_result_entries ({self.max_result_entries}) "
                              f"must not exceed max_stored_entries "
                              f"({self.max_stored_entries}): one job's result must fit")
