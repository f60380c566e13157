"""Where a multi-backend call's circuits go: per-backend state (:class:`BackendSlot`), shares
that minimise the last finish, and the budget-aware placement used by
:class:`~q_store.execution.orchestrator.MultiBackendOrchestrator`."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from q_store.backends.base import QuantumBackend
from q_store.backends.cost import CostEstimate
from q_store.circuit.ir import Circuit

__all__ = ["BackendSlot", "Part", "labels", "place", "print_backend_table", "proportional",
           "rates"]

_EMPTY = CostEstimate(0, 0, 0, 0, 0.0, 0.0)


@dataclass(eq=False)
class BackendSlot:
    """One backend as the orchestrator sees it: settings, what it learned, and totals."""

    label: str
    backend: QuantumBackend
    weight: float = 1.0
    max_circuits_per_job: int | None = None
    rate: float | None = None  # circuits per second delivered (exponential average)
    latency: float | None = None  # shortest job seen, seconds (the fixed part of a job)
    suspended_until: float = -math.inf
    circuits: int = 0
    jobs: int = 0
    failures: int = 0
    usd: float = 0.0

    @property
    def paid(self) -> bool:
        return not self.backend.capabilities.cost_model.is_free

    def kind(self, shots: int | None) -> str:
        """What results it gives with ``shots``: exact or sampled, noisy or not."""
        caps = self.backend.capabilities
        exact = shots is None or caps.exact_with_shots
        return ("exact" if exact else "sampled") + (" noisy" if caps.noisy else "")


@dataclass
class Part:
    """Circuits (by position in the call) placed on one backend, and their price."""

    slot: BackendSlot
    indices: list[int]
    usd: float


def rates(slots: Sequence[BackendSlot]) -> list[float]:
    """Each backend's throughput: measured, else its weight times the measured ones' mean
    (the weight alone when none is measured)."""
    measured = [s.rate for s in slots if s.rate is not None]
    prior = sum(measured) / len(measured) if measured else 1.0
    return [s.rate if s.rate is not None else s.weight * prior for s in slots]


def proportional(n: int, throughputs: Sequence[float]) -> list[int]:
    """``n`` circuits over backends of ``throughputs`` so that the last to finish finishes
    first: whole shares, then one circuit at a time to the backend that would finish it soonest
    (ties to the first); equal throughputs give equal shares."""
    total = sum(throughputs)
    if n == 0 or not throughputs:
        return [0] * len(throughputs)
    counts = [math.floor(n * r / total) for r in throughputs]
    for _ in range(n - sum(counts)):
        j = min(range(len(throughputs)), key=lambda j: (counts[j] + 1) / throughputs[j])
        counts[j] += 1
    return counts


def _unit_costs(slot: BackendSlot, circuits: list[Circuit], shots: int | None) -> list[float]:
    if not slot.paid:
        return [0.0] * len(circuits)
    return [slot.backend.estimate_cost([c], shots).usd for c in circuits]


def place(indices: list[int], circuits: Sequence[Circuit], shots: int | None,
          slots: Sequence[BackendSlot], remaining_usd: float
          ) -> tuple[list[Part], CostEstimate]:
    """Circuits ``indices`` per backend, by throughput, moved from the dearest backends to the
    cheapest while the price exceeds ``remaining_usd``; and the placement's price (which may
    still exceed it when everything is on the cheapest backends: the budget then refuses)."""
    speed = rates(slots)
    counts = proportional(len(indices), speed)
    unit = [_unit_costs(s, [circuits[i] for i in indices], shots) for s in slots]
    average = [sum(u) / len(u) if u else 0.0 for u in unit]
    cheapest = min(average)
    tier = [j for j, a in enumerate(average) if a == cheapest]

    def price(cs: list[int]) -> float:
        total, start = 0.0, 0
        for j, k in enumerate(cs):
            total += sum(unit[j][start : start + k])
            start += k
        return total

    for j in sorted(range(len(slots)), key=lambda j: -average[j]):
        over = price(counts) - remaining_usd
        if over <= 1e-12 or average[j] == cheapest:
            break
        move = min(counts[j], max(1, math.ceil(over / (average[j] - cheapest))))
        counts[j] -= move
        for t, k in zip(tier, proportional(move, [speed[t] for t in tier]), strict=True):
            counts[t] += k
    placement, start, total = [], 0, _EMPTY
    for slot, k in zip(slots, counts, strict=True):
        if k:
            idx = indices[start : start + k]
            cost = slot.backend.estimate_cost([circuits[i] for i in idx], shots)
            placement.append(Part(slot, idx, cost.usd))
            total = total + cost
        start += k
    return placement, total


def labels(backends: Sequence[QuantumBackend]) -> list[str]:
    """Backend names, numbered where one repeats (``ionq.simulator#1``, ``#2``...)."""
    names = [b.name for b in backends]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 else f"{name}#{seen[name]}")
    return out


def print_backend_table(stats: dict[str, dict[str, Any]], file: TextIO | None = None) -> None:
    """Per-backend statistics (``get_backend_stats()``) as a table, with each backend's share
    of the circuits (how the load was spread): a rich table where rich is installed, aligned
    text otherwise."""
    out = file if file is not None else sys.stdout
    total = sum(s["circuits"] for s in stats.values())
    headers = ("backend", "circuits", "share", "jobs", "failures", "circuits/s", "usd", "state")
    rows = [(label, f"{s['circuits']:,}",
             f"{100 * s['circuits'] / total:.1f} %" if total else "n/a", f"{s['jobs']:,}",
             str(s["failures"]),
             "n/a" if s["throughput"] is None else f"{s['throughput']:.3g}",
             f"${s['usd']:,.4f}", "suspended" if s["suspended"] else "ok")
            for label, s in stats.items()]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        for line in (headers, *rows):
            print("  ".join(v.ljust(w) if i in (0, 7) else v.rjust(w)
                            for i, (v, w) in enumerate(zip(line, widths, strict=True))),
                  file=out)
        return
    table = Table(title="Q-Store backend statistics", title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i in (0, 7) else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)
    Console(file=out, highlight=False, width=None if out.isatty() else 110).print(table)
