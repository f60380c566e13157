"""Observables: Pauli strings, weighted sums of them, and projectors onto basis states.

Build with ``Z(0)``, ``X(1) @ Y(3)``, ``0.5 * Z(0) + Z(1)`` or
``Projector("101", wires=(0, 1, 2))``.
All observables are Hermitian, immutable and hashable.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from q_store.errors import ObservableError

__all__ = [
    "I",
    "Observable",
    "PauliString",
    "PauliSum",
    "Projector",
    "X",
    "Y",
    "Z",
    "as_observable",
]

_LETTERS = frozenset("XYZ")


class Observable:
    """Base class: a Hermitian operator on some wires."""

    @property
    def wires(self) -> tuple[int, ...]:
        raise NotImplementedError

    def matrix(self, n_qubits: int) -> np.ndarray:
        """Dense ``(2**n, 2**n)`` matrix in the big-endian wire order (wire 0 most significant)."""
        raise NotImplementedError

    def check_wires(self, n_qubits: int) -> None:
        bad = [w for w in self.wires if w >= n_qubits]
        if bad:
            raise ObservableError(
                f"observable {self} acts on wire {bad[0]}, but the circuit has {n_qubits} "
                f"qubit(s) (allowed 0..{n_qubits - 1})"
            )


@dataclass(frozen=True)
class PauliString(Observable):
    """``coeff * P_w0 P_w1 ...`` with ``paulis`` a sorted tuple of ``(wire, letter)``."""

    paulis: tuple[tuple[int, str], ...] = ()
    coeff: float = 1.0

    def __post_init__(self) -> None:
        seen = set()
        items = []
        for w, p in self.paulis:
            if not isinstance(w, numbers.Integral) or w < 0:
                raise ObservableError(f"Pauli wire must be a non-negative integer, got {w!r}")
            if p not in _LETTERS and p != "I":
                raise ObservableError(f"Pauli letter must be one of I, X, Y, Z, got {p!r}")
            if w in seen:
                raise ObservableError(f"wire {w} appears twice in a Pauli string")
            seen.add(w)
            if p != "I":
                items.append((int(w), p))
        if not isinstance(self.coeff, numbers.Real) or not np.isfinite(self.coeff):
            raise ObservableError(f"coefficient must be a finite real number, got {self.coeff!r}")
        object.__setattr__(self, "paulis", tuple(sorted(items)))
        object.__setattr__(self, "coeff", float(self.coeff))

    @property
    def wires(self) -> tuple[int, ...]:
        return tuple(w for w, _ in self.paulis)

    def masks(self, n_qubits: int) -> tuple[int, int, int]:
        """``(xmask, zmask, n_y)`` with wire w at bit ``n-1-w`` of the state index."""
        xm = zm = ny = 0
        for w, p in self.paulis:
            bit = 1 << (n_qubits - 1 - w)
            if p in "XY":
                xm |= bit
            if p in "YZ":
                zm |= bit
            ny += p == "Y"
        return xm, zm, ny

    def matrix(self, n_qubits: int) -> np.ndarray:
        self.check_wires(n_qubits)
        mats = {"X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
                "Z": np.diag([1, -1])}
        letters = dict(self.paulis)
        out = np.eye(1, dtype=complex)
        for w in range(n_qubits):
            out = np.kron(out, mats[letters[w]] if w in letters else np.eye(2))
        return self.coeff * out

    def __matmul__(self, other: PauliString) -> PauliString:
        if not isinstance(other, PauliString):
            return NotImplemented
        if set(self.wires) & set(other.wires):
            raise ObservableError("tensor product of Pauli strings on overlapping wires")
        return PauliString(self.paulis + other.paulis, self.coeff * other.coeff)

    def __mul__(self, c: float) -> PauliString:
        if not isinstance(c, numbers.Real):
            return NotImplemented
        return PauliString(self.paulis, self.coeff * float(c))

    __rmul__ = __mul__

    def __neg__(self) -> PauliString:
        return self * -1.0

    def __add__(self, other: Observable) -> PauliSum:
        return PauliSum((self,)) + other

    def __sub__(self, other: Observable) -> PauliSum:
        return PauliSum((self,)) + (-1.0) * other

    def __str__(self) -> str:
        body = " ".join(f"{p}{w}" for w, p in self.paulis) or "I"
        return body if self.coeff == 1.0 else f"{self.coeff!r}*{body}"


@dataclass(frozen=True)
class PauliSum(Observable):
    """A real-weighted sum of Pauli strings."""

    terms: tuple[PauliString, ...]

    def __post_init__(self) -> None:
        terms = tuple(self.terms)
        if not terms or not all(isinstance(t, PauliString) for t in terms):
            raise ObservableError("a PauliSum needs one or more PauliString terms")
        object.__setattr__(self, "terms", terms)

    @property
    def wires(self) -> tuple[int, ...]:
        return tuple(sorted({w for t in self.terms for w in t.wires}))

    def matrix(self, n_qubits: int) -> np.ndarray:
        return sum(t.matrix(n_qubits) for t in self.terms)

    def __add__(self, other: Observable) -> PauliSum:
        if isinstance(other, PauliString):
            return PauliSum((*self.terms, other))
        if isinstance(other, PauliSum):
            return PauliSum(self.terms + other.terms)
        return NotImplemented

    def __radd__(self, other: object) -> PauliSum:
        if other == 0:
            return self
        return NotImplemented

    def __mul__(self, c: float) -> PauliSum:
        if not isinstance(c, numbers.Real):
            return NotImplemented
        return PauliSum(tuple(t * c for t in self.terms))

    __rmul__ = __mul__

    def __sub__(self, other: Observable) -> PauliSum:
        return self + (-1.0) * other

    def __str__(self) -> str:
        return " + ".join(str(t) for t in self.terms)


@dataclass(frozen=True)
class Projector(Observable):
    """``|b><b|`` on ``wires`` for a bitstring ``b`` (first character = first wire)."""

    bits: tuple[int, ...]
    proj_wires: tuple[int, ...]

    def __init__(self, bits: str | Sequence[int], wires: Iterable[int]) -> None:
        b = tuple(int(c) for c in bits) if isinstance(bits, str) else tuple(int(v) for v in bits)
        ws = tuple(int(w) for w in wires)
        if any(v not in (0, 1) for v in b):
            raise ObservableError(f"projector bits must be 0 or 1, got {bits!r}")
        if len(b) != len(ws) or len(set(ws)) != len(ws) or any(w < 0 for w in ws):
            raise ObservableError(
                f"projector needs one bit per distinct wire, got bits {bits!r} on wires {ws}")
        object.__setattr__(self, "bits", b)
        object.__setattr__(self, "proj_wires", ws)

    @property
    def wires(self) -> tuple[int, ...]:
        return self.proj_wires

    def indices(self, n_qubits: int) -> np.ndarray:
        """Basis-state indices that the projector keeps."""
        idx = np.arange(2**n_qubits)
        keep = np.ones(idx.shape, dtype=bool)
        for b, w in zip(self.bits, self.proj_wires, strict=True):
            keep &= ((idx >> (n_qubits - 1 - w)) & 1) == b
        return idx[keep]

    def matrix(self, n_qubits: int) -> np.ndarray:
        self.check_wires(n_qubits)
        d = np.zeros(2**n_qubits)
        d[self.indices(n_qubits)] = 1.0
        return np.diag(d).astype(complex)

    def __str__(self) -> str:
        return f"|{''.join(map(str, self.bits))}><{''.join(map(str, self.bits))}|{list(self.wires)}"


def _single(letter: str, wire: int) -> PauliString:
    return PauliString(((wire, letter),))


def X(wire: int) -> PauliString:
    return _single("X", wire)


def Y(wire: int) -> PauliString:
    return _single("Y", wire)


def Z(wire: int) -> PauliString:
    return _single("Z", wire)


def I() -> PauliString:  # noqa: E743
    return PauliString(())


def as_observable(obs: Observable | str) -> Observable:
    """Accept an observable or a string such as ``"Z0"``, ``"X0 Z2"``, ``"0.5*Z0 + Z1"``."""
    if isinstance(obs, Observable):
        return obs
    if not isinstance(obs, str):
        raise ObservableError(f"expected an Observable or a Pauli string text, got {obs!r}")
    terms = []
    for raw in obs.replace("-", "+-").split("+"):
        part = raw.strip()
        if not part:
            continue
        coeff = 1.0
        if "*" in part:
            c, part = part.split("*", 1)
            try:
                coeff = float(c.replace(" ", ""))
            except ValueError as e:
                raise ObservableError(f"bad coefficient {c!r} in {obs!r}") from e
        elif part.startswith("-"):
            coeff, part = -1.0, part[1:]
        paulis = []
        for tok in part.split():
            if len(tok) < 2 or tok[0] not in "IXYZ" or not tok[1:].isdigit():
                raise ObservableError(
                    f"bad Pauli factor {tok!r} in {obs!r}; write e.g. 'Z0', 'X1 Y3', '0.5*Z0'")
            paulis.append((int(tok[1:]), tok[0]))
        terms.append(PauliString(tuple(paulis), coeff))
    if not terms:
        raise ObservableError(f"empty observable text {obs!r}")
    return terms[0] if len(terms) == 1 else PauliSum(tuple(terms))
