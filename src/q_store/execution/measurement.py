"""Expectation values from measured probabilities, as hardware gets them.

A backend only measures every qubit in the computational basis. Each observable term is
measured in its eigenbasis: terms whose letters agree wire by wire (qubit-wise commuting) share
one *measurement basis*, realised by appending H (for X) or S^dag then H (for Y) to the circuit.
A term's value is then the probabilities dotted with its eigenvalues in that basis (a parity
times its coefficient; 1 on the kept states for a projector).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from q_store.circuit.ir import Circuit, Operation
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.errors import ObservableError

__all__ = ["MeasurementPlan", "measurement_plan"]

Basis = tuple[tuple[int, str], ...]  # sorted (wire, 'X' | 'Y' | 'Z'); unlisted wires: Z


@dataclass(frozen=True)
class MeasurementPlan:
    """``bases``: one per circuit run per sample; ``weights[b]`` ``(K, 2**n)``: the
    eigenvalues by which basis ``b``'s probabilities contribute to each observable."""

    n_qubits: int
    bases: tuple[Basis, ...]
    weights: tuple[np.ndarray, ...]

    def rotations(self, basis: Basis) -> tuple[Operation, ...]:
        ops: list[Operation] = []
        for w, letter in basis:
            if letter == "Y":
                ops.append(Operation.make("Sdg", w))
            if letter in ("X", "Y"):
                ops.append(Operation.make("H", w))
        return tuple(ops)

    def circuits(self, bound: Circuit) -> list[Circuit]:
        """``bound`` followed by each basis change (the first basis is usually Z: unchanged)."""
        out = []
        for basis in self.bases:
            ops = self.rotations(basis)
            out.append(bound if not ops else Circuit(bound.n_qubits, bound.operations + ops))
        return out

    @cached_property
    def measured_wires(self) -> tuple[frozenset[int], ...]:
        """Per basis, the wires whose outcomes the weights depend on: only their marginal
        distribution is ever read (gates outside their light cone cannot change it)."""
        n, out = self.n_qubits, []
        for w in self.weights:
            t = w.reshape(len(w), *(2,) * n)
            out.append(frozenset(q for q in range(n)
                                 if not np.array_equal(t.take(0, axis=q + 1),
                                                       t.take(1, axis=q + 1))))
        return tuple(out)

    def expectations(self, probs: Sequence[np.ndarray]) -> np.ndarray:
        """``(B, K)`` from per-basis probabilities, each ``(B, 2**n)``."""
        return sum(np.einsum("bi,ki->bk", p, w) for p, w in zip(probs, self.weights,
                                                                 strict=True))


def _bit(n: int, w: int) -> np.ndarray:
    return (np.arange(2**n) >> (n - 1 - w)) & 1


def _parity(term: PauliString, n: int) -> np.ndarray:
    sign = np.ones(2**n)
    for w, _ in term.paulis:
        sign *= 1.0 - 2.0 * _bit(n, w)
    return term.coeff * sign


def _terms(o: Observable) -> list[tuple[dict[int, str], Observable]]:
    if isinstance(o, Projector):
        return [({w: "Z" for w in o.wires}, o)]
    if isinstance(o, PauliString):
        return [(dict(o.paulis), o)]
    if isinstance(o, PauliSum):
        return [(dict(t.paulis), t) for t in o.terms]
    raise ObservableError(f"cannot measure {o!r} on a backend: use Pauli strings, sums of "
                          "them, or projectors")


@lru_cache(maxsize=256)
def measurement_plan(observables: tuple[Observable, ...], n_qubits: int) -> MeasurementPlan:
    """Group the terms of ``observables`` into as few measurement bases as a greedy pass finds
    (each term joins the first basis it is compatible with)."""
    groups: list[dict[int, str]] = [{}]
    placed: list[tuple[int, int, Observable]] = []  # (observable, group, term)
    for k, o in enumerate(observables):
        o.check_wires(n_qubits)
        for letters, term in _terms(o):
            g = next((i for i, basis in enumerate(groups)
                      if all(basis.get(w, ltr) == ltr for w, ltr in letters.items())), None)
            if g is None:
                groups.append({})
                g = len(groups) - 1
            groups[g].update(letters)
            placed.append((k, g, term))
    weights = [np.zeros((len(observables), 2**n_qubits)) for _ in groups]
    for k, g, term in placed:
        if isinstance(term, Projector):
            weights[g][k, term.indices(n_qubits)] += 1.0
        else:
            weights[g][k] += _parity(term, n_qubits)  # type: ignore[arg-type]
    keep = [g for g in range(len(groups)) if g == 0 or weights[g].any()]
    if not weights[0].any() and len(keep) > 1:
        keep = keep[1:]
    bases = tuple(tuple(sorted((w, ltr) for w, ltr in groups[g].items() if ltr != "Z"))
                  for g in keep)
    return MeasurementPlan(n_qubits, bases, tuple(weights[g] for g in keep))
