"""Cost and hardware-time estimates, from a backend's published per-gate-shot pricing.

IonQ's pricing (as published through Azure Quantum) bills each circuit run as
``max(minimum, 0.000220 * N1q * shots + 0.000975 * N2q * shots)`` USD on Aria-class hardware,
with the minimum USD 97.50 per program when error mitigation is on and USD 12.4166 when off.
We apply the minimum to every circuit, also inside a multi-circuit job (each circuit is its own
program and child job on IonQ): the conservative reading, so a budget is never underestimated. A
gate on ``k >= 3`` qubits is billed as ``6 * (k - 2)`` two-qubit gates. Gates are counted as
they are sent (``q_store.backends.ionq.serialize.count_ionq_gates``; U3 goes as three
rotations). Times are the gate-time lower bound (1q 135 us, 2q 600 us on Aria, gates run one
after another): readout, cooling and queueing come on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from q_store.backends.ionq.serialize import count_ionq_gates
from q_store.circuit.ir import Circuit
from q_store.errors import BudgetExceededError, ConfigError

__all__ = ["CostBudget", "CostEstimate", "CostModel", "count_billed_gates"]


def count_billed_gates(circuit: Circuit) -> tuple[int, int]:
    """``(one-qubit, two-qubit)`` gate counts as IonQ bills them: the gates the IonQ
    serializer sends (U3 as three rotations, identities as nothing, a ``k``-qubit gate as
    ``6 * (k - 2)`` two-qubit gates), counted from its output so that the two never disagree."""
    return count_ionq_gates(circuit)


@dataclass(frozen=True)
class CostEstimate:
    """What running some circuits would take: counts, dollars, a gate-time lower bound
    (``seconds``) and, where known, an expected wall time (``wall_seconds``: queueing and
    request overheads included). ``shots`` is None for exact probabilities (billed as one
    shot)."""

    circuits: int
    shots: int | None
    one_qubit_gates: int
    two_qubit_gates: int
    usd: float
    seconds: float
    wall_seconds: float | None = None

    @property
    def billed_shots(self) -> int:
        return 1 if self.shots is None else self.shots

    @property
    def gate_shots(self) -> int:
        return (self.one_qubit_gates + self.two_qubit_gates) * self.billed_shots

    def __add__(self, other: CostEstimate) -> CostEstimate:
        shots = None if self.shots is None and other.shots is None else max(
            self.billed_shots, other.billed_shots)
        wall = (None if self.wall_seconds is None or other.wall_seconds is None
                else self.wall_seconds + other.wall_seconds)
        return CostEstimate(self.circuits + other.circuits, shots,
                            self.one_qubit_gates + other.one_qubit_gates,
                            self.two_qubit_gates + other.two_qubit_gates,
                            self.usd + other.usd, self.seconds + other.seconds, wall)

    def __str__(self) -> str:
        shots = "exact" if self.shots is None else f"{self.shots} shots each"
        wall = ("" if self.wall_seconds is None
                else f", about {_duration(self.wall_seconds)} expected in all")
        return (f"{self.circuits:,} circuits ({shots}), {self.one_qubit_gates:,} one-qubit and "
                f"{self.two_qubit_gates:,} two-qubit gates, USD {self.usd:,.2f}, "
                f"{_duration(self.seconds)} of gate time{wall}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


@dataclass(frozen=True)
class CostModel:
    """Per-gate-shot prices (USD), a minimum charge per circuit run, and gate times (s)."""

    name: str = "free"
    usd_per_1q_gate_shot: float = 0.0
    usd_per_2q_gate_shot: float = 0.0
    minimum_per_circuit: float = 0.0
    seconds_per_1q_gate: float = 0.0
    seconds_per_2q_gate: float = 0.0

    @classmethod
    def free(cls) -> CostModel:
        return cls()

    @classmethod
    def ionq_aria(cls, error_mitigation: bool = True) -> CostModel:
        return cls("ionq-aria", 0.000220, 0.000975, 97.50 if error_mitigation else 12.4166,
                   135e-6, 600e-6)

    @property
    def is_free(self) -> bool:
        return not (self.usd_per_1q_gate_shot or self.usd_per_2q_gate_shot
                    or self.minimum_per_circuit)

    def estimate(self, circuits: Sequence[Circuit], shots: int | None) -> CostEstimate:
        """Cost of running each circuit ``shots`` times (exact runs, ``shots=None``, bill as
        one shot and say ``shots=None``)."""
        s = 1 if shots is None else int(shots)
        total_1q = total_2q = 0
        usd = seconds = 0.0
        for c in circuits:
            n1, n2 = count_billed_gates(c)
            total_1q += n1
            total_2q += n2
            price = (self.usd_per_1q_gate_shot * n1 + self.usd_per_2q_gate_shot * n2) * s
            usd += max(price, self.minimum_per_circuit)
            seconds += (self.seconds_per_1q_gate * n1 + self.seconds_per_2q_gate * n2) * s
        return CostEstimate(len(circuits), None if shots is None else s, total_1q, total_2q,
                            usd, seconds)


class CostBudget:
    """A spending limit in USD: :meth:`charge` refuses, before anything runs, work that would
    take the total past the limit."""

    def __init__(self, limit_usd: float | None) -> None:
        if limit_usd is not None and (not isinstance(limit_usd, (int, float))
                                      or isinstance(limit_usd, bool) or not limit_usd >= 0):
            raise ConfigError(f"the budget must be a non-negative number of USD or None, got "
                              f"{limit_usd!r}")
        self.limit_usd = None if limit_usd is None else float(limit_usd)
        self.spent_usd = 0.0
        self.circuits = 0

    @property
    def remaining_usd(self) -> float:
        return float("inf") if self.limit_usd is None else self.limit_usd - self.spent_usd

    def charge(self, estimate: CostEstimate) -> None:
        """Record ``estimate`` as spent, or raise :class:`BudgetExceededError` (recording
        nothing) if it does not fit."""
        if estimate.usd > self.remaining_usd + 1e-12:
            raise BudgetExceededError(
                f"running {estimate.circuits} circuits x {estimate.billed_shots} shots would cost "
                f"about "
                f"${estimate.usd:.2f}, but only ${self.remaining_usd:.2f} of the "
                f"${self.limit_usd:.2f} budget is left (spent ${self.spent_usd:.2f}); nothing "
                "was submitted")
        self.spent_usd += estimate.usd
        self.circuits += estimate.circuits

    def __repr__(self) -> str:
        return f"CostBudget(limit_usd={self.limit_usd}, spent_usd={self.spent_usd:.4f})"
