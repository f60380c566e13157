"""How long the local IonQ emulator takes: per-request overhead, queue wait, execution time.

Execution time follows the hardware: a circuit runs its shots one after another, each shot
being every gate in sequence (Aria: 1q 135 us, 2q 600 us, FACTS.md) then readout and reset
(300 us and 20 us, the ``timing`` fields IonQ reports in its backend characterizations for
Aria). ``time_scale`` multiplies every modelled delay so tests can run a realistic schedule in
milliseconds. Queue waits and execution run on the device's clock (``emulator_clock``: a fake
clock makes them exact and instant in tests); the per-request overhead is real time.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

from q_store.errors import ConfigError

__all__ = ["LatencyModel"]


def _non_negative(name: str, value: object) -> float:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0):
        raise ConfigError(f"LatencyModel.{name} must be a finite number >= 0 (seconds), "
                          f"got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LatencyModel:
    """Modelled delays in seconds, all multiplied by ``time_scale``.

    ``request_overhead``: added to every HTTP request before it is answered. ``queue_wait``: a
    job waits this long after submission before the device may start it. ``seconds_per_circuit``:
    fixed execution time of one circuit; None computes it from the circuit as
    ``shots * (n1q * t1q + n2q * t2q + t_readout + t_reset)``.
    """

    request_overhead: float = 0.0
    queue_wait: float = 0.0
    seconds_per_circuit: float | None = None
    t1q: float = 135e-6
    t2q: float = 600e-6
    t_readout: float = 300e-6
    t_reset: float = 20e-6
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "seconds_per_circuit" and value is None:
                continue
            object.__setattr__(self, f.name, _non_negative(f.name, value))

    def request_delay(self) -> float:
        """Seconds added to every request."""
        return self.request_overhead * self.time_scale

    def queue_delay(self) -> float:
        """Seconds a new job waits before the device may start it."""
        return self.queue_wait * self.time_scale

    def circuit_seconds(self, shots: int, n1q: int, n2q: int) -> float:
        """Modelled execution time of one circuit with ``n1q``/``n2q`` gates run ``shots``
        times."""
        if self.seconds_per_circuit is not None:
            return self.seconds_per_circuit * self.time_scale
        per_shot = n1q * self.t1q + n2q * self.t2q + self.t_readout + self.t_reset
        return shots * per_shot * self.time_scale
