"""Noise channels (Kraus operators), readout errors and the noise model of the noisy simulator.

Conventions (matching Qiskit Aer so that its density-matrix method is an independent check):

- ``depolarizing(p, n)`` is Aer's ``depolarizing_error(p, n)``:
  ``E(rho) = (1 - p) rho + p Tr(rho) I / 2**n``, i.e. with probability ``p`` the state is replaced
  by the maximally mixed one. Kraus form: ``sqrt(1 - p (4**n - 1) / 4**n) I`` and
  ``sqrt(p / 4**n) P`` for each of the ``4**n - 1`` non-identity Pauli words ``P``. Allowed:
  ``0 <= p <= 4**n / (4**n - 1)`` (the upper end is the uniform Pauli channel).
- ``amplitude_damping(gamma)``: ``|1> -> |0>`` with probability ``gamma`` (Aer's
  ``amplitude_damping_error(gamma)``).
- ``phase_damping(lam)``: off-diagonal elements shrink by ``sqrt(1 - lam)`` (Aer's
  ``phase_damping_error(lam)``).
- ``ReadoutError(p0_given_1, p1_given_0)``: classical bit flips of a measured qubit, applied to
  measured probabilities through the confusion matrix ``M[measured, true]``.

Multi-qubit Kraus operators use the big-endian wire order of the gate table: the first wire of
the gate is the most significant bit.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from q_store.circuit.gates import GATES, gate_spec
from q_store.errors import ValidationError

__all__ = [
    "ARIA_FIDELITY_1Q",
    "ARIA_FIDELITY_2Q",
    "ARIA_SPAM_FIDELITY",
    "KrausChannel",
    "NoiseModel",
    "ReadoutError",
    "amplitude_damping",
    "depolarizing",
    "depolarizing_from_fidelity",
    "phase_damping",
]

COMPLETENESS_TOL = 1e-12
ARIA_FIDELITY_1Q = 0.9995  # IonQ Aria, published (FACTS.md)
ARIA_FIDELITY_2Q = 0.996
ARIA_SPAM_FIDELITY = 0.9961

_PAULIS = (np.eye(2, dtype=complex), np.array([[0, 1], [1, 0]], dtype=complex),
           np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0]).astype(complex))


@dataclass(frozen=True, eq=False)
class KrausChannel:
    """A completely positive, trace-preserving map ``rho -> sum_i K_i rho K_i^dag``.

    ``superop`` is ``sum_i K_i (x) conj(K_i)``: it acts on the combined index (ket wires, bra
    wires) of a density matrix, so the simulator applies a channel with one matrix product.
    """

    operators: tuple[np.ndarray, ...]
    name: str = "kraus"
    num_qubits: int = field(init=False)
    superop: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            ops = tuple(np.array(k, dtype=np.complex128) for k in self.operators)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"Kraus operators must be numeric matrices: {e}") from None
        if not ops:
            raise ValidationError("a channel needs at least one Kraus operator")
        d = ops[0].shape[0] if ops[0].ndim == 2 else 0
        if d < 2 or d & (d - 1) or any(k.shape != (d, d) for k in ops):
            raise ValidationError("Kraus operators must all be square 2**k x 2**k matrices (k >= 1)"
                                  f", got shapes {[k.shape for k in ops]}")
        if not all(np.all(np.isfinite(k)) for k in ops):
            raise ValidationError("Kraus operators must be finite")
        err = np.abs(sum(k.conj().T @ k for k in ops) - np.eye(d)).max()
        if err > COMPLETENESS_TOL:
            raise ValidationError(f"channel {self.name!r} is not trace preserving: "
                                  f"|sum K^dag K - I| = {err:.3g} > {COMPLETENESS_TOL}")
        object.__setattr__(self, "operators", ops)
        object.__setattr__(self, "num_qubits", d.bit_length() - 1)
        object.__setattr__(self, "superop", sum(np.kron(k, k.conj()) for k in ops))

    @property
    def dim(self) -> int:
        return 2**self.num_qubits

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """The channel applied to a ``(2**k, 2**k)`` density matrix on its own qubits."""
        rho = np.asarray(rho, dtype=np.complex128)
        if rho.shape != (self.dim, self.dim):
            raise ValidationError(f"channel {self.name!r} acts on {self.dim}x{self.dim} density "
                                  f"matrices, got shape {rho.shape}")
        return sum(k @ rho @ k.conj().T for k in self.operators)

    def choi(self) -> np.ndarray:
        """Choi matrix ``sum_ij |i><j| (x) E(|i><j|)`` (PSD iff the map is completely positive)."""
        d = self.dim
        out = np.zeros((d * d, d * d), dtype=np.complex128)
        for i, j in itertools.product(range(d), repeat=2):
            e = np.zeros((d, d), dtype=np.complex128)
            e[i, j] = 1.0
            out[i * d:(i + 1) * d, j * d:(j + 1) * d] = self.apply(e)
        return out

    def __repr__(self) -> str:
        return f"KrausChannel({self.name!r}, qubits={self.num_qubits}, ops={len(self.operators)})"


def _probability(p: object, what: str, high: float = 1.0) -> float:
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= high:
        raise ValidationError(f"{what} must be a real number in [0, {high:g}], got {p!r}")
    return float(p)


def depolarizing(p: float, num_qubits: int = 1) -> KrausChannel:
    """``(1 - p) rho + p I / 2**n`` (Qiskit Aer's ``depolarizing_error(p, n)``)."""
    if num_qubits not in (1, 2):
        raise ValidationError(f"depolarizing num_qubits must be 1 or 2, got {num_qubits!r}")
    d2 = 4**num_qubits
    p = _probability(p, "depolarizing probability", d2 / (d2 - 1))
    words = list(itertools.product(_PAULIS, repeat=num_qubits))
    ops = [np.sqrt(max(0.0, 1.0 - p * (d2 - 1) / d2)) * np.eye(2**num_qubits)]
    for word in words[1:]:
        m = word[0] if num_qubits == 1 else np.kron(word[0], word[1])
        ops.append(np.sqrt(p / d2) * m)
    return KrausChannel(tuple(ops), f"depolarizing({p:g}, {num_qubits}q)")


def amplitude_damping(gamma: float) -> KrausChannel:
    """Energy relaxation: ``|1> -> |0>`` with probability ``gamma``."""
    g = _probability(gamma, "amplitude damping gamma")
    k0 = np.array([[1.0, 0.0], [0.0, np.sqrt(1.0 - g)]])
    k1 = np.array([[0.0, np.sqrt(g)], [0.0, 0.0]])
    return KrausChannel((k0, k1), f"amplitude_damping({g:g})")


def phase_damping(lam: float) -> KrausChannel:
    """Pure dephasing: populations kept, coherences multiplied by ``sqrt(1 - lam)``."""
    lam = _probability(lam, "phase damping lambda")
    k0 = np.array([[1.0, 0.0], [0.0, np.sqrt(1.0 - lam)]])
    k1 = np.array([[0.0, 0.0], [0.0, np.sqrt(lam)]])
    return KrausChannel((k0, k1), f"phase_damping({lam:g})")


def depolarizing_from_fidelity(fidelity: float, num_qubits: int) -> float:
    """The depolarizing ``p`` whose average gate fidelity is ``fidelity``.

    For ``E = (1 - p) rho + p I / d`` the average fidelity is ``F = 1 - p (d - 1) / d``, so
    ``p = d (1 - F) / (d - 1)`` with ``d = 2**n`` (1q: ``p = 2 (1 - F)``; 2q:
    ``p = 4 (1 - F) / 3``). Randomised benchmarking, the source of published gate fidelities,
    measures this average fidelity.
    """
    f = _probability(fidelity, "fidelity")
    d = 2**num_qubits
    return d * (1.0 - f) / (d - 1)


@dataclass(frozen=True)
class ReadoutError:
    """Classical misreading of one measured qubit: ``P(read 0 | 1)`` and ``P(read 1 | 0)``."""

    p0_given_1: float
    p1_given_0: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "p0_given_1", _probability(self.p0_given_1, "p0_given_1"))
        object.__setattr__(self, "p1_given_0", _probability(self.p1_given_0, "p1_given_0"))

    @property
    def matrix(self) -> np.ndarray:
        """Confusion matrix ``M[measured, true]`` (columns sum to 1)."""
        a, b = self.p0_given_1, self.p1_given_0
        return np.array([[1.0 - b, a], [b, 1.0 - a]])


@dataclass(frozen=True)
class _GateError:
    channel: KrausChannel
    gates: frozenset[str] | None
    qubits: frozenset[int] | None


def _wires(qubits: int | Iterable[int] | None) -> frozenset[int] | None:
    if qubits is None:
        return None
    qs = (qubits,) if isinstance(qubits, numbers.Integral) else tuple(qubits)
    if not qs or any(not isinstance(q, numbers.Integral) or isinstance(q, bool) or q < 0
                     for q in qs):
        raise ValidationError(f"qubits must be non-negative integers (or None for all), "
                              f"got {qubits!r}")
    return frozenset(int(q) for q in qs)


class NoiseModel:
    """Channels applied after gates, and readout errors applied to measured probabilities.

    ``add_gate_error(channel, gates=None, qubits=None)``: after every gate named in ``gates``
    (None: every gate) apply ``channel``, in the order the errors were added (errors on the same
    gate compose, as in Aer). A one-qubit channel acts on each wire of the gate that is in
    ``qubits`` (None: all wires); a channel on ``k >= 2`` qubits acts on the gate's wires (in
    gate order) for gates on exactly ``k`` wires whose wires all lie in ``qubits``.
    """

    def __init__(self) -> None:
        self._errors: list[_GateError] = []
        self._readout: dict[int | None, ReadoutError] = {}

    def add_gate_error(self, channel: KrausChannel, gates: str | Sequence[str] | None = None,
                       qubits: int | Iterable[int] | None = None) -> NoiseModel:
        if not isinstance(channel, KrausChannel):
            raise ValidationError(f"expected a KrausChannel, got {channel!r}")
        names = None
        if gates is not None:
            names = frozenset(gate_spec(g).name for g in ((gates,) if isinstance(gates, str)
                                                         else gates))
            k = channel.num_qubits
            bad = sorted(g for g in names if k > 1 and GATES[g].num_wires != k)
            if bad:
                raise ValidationError(f"a {k}-qubit channel cannot follow gates on a different "
                                      f"number of wires: {bad}")
        self._errors.append(_GateError(channel, names, _wires(qubits)))
        return self

    def add_readout_error(self, error: ReadoutError,
                          qubits: int | Iterable[int] | None = None) -> NoiseModel:
        """Readout error on ``qubits`` (None: the default for every qubit without its own)."""
        if not isinstance(error, ReadoutError):
            raise ValidationError(f"expected a ReadoutError, got {error!r}")
        ws = _wires(qubits)
        for q in (None,) if ws is None else sorted(ws):
            self._readout[q] = error
        return self

    def channels_after(self, gate: str, wires: tuple[int, ...]
                       ) -> list[tuple[KrausChannel, tuple[int, ...]]]:
        """``(channel, wires)`` pairs to apply, in order, after ``gate`` on ``wires``."""
        out = []
        for e in self._errors:
            if e.gates is not None and gate not in e.gates:
                continue
            if e.channel.num_qubits == 1:
                out += [(e.channel, (w,)) for w in wires if e.qubits is None or w in e.qubits]
            elif e.channel.num_qubits == len(wires) and (e.qubits is None
                                                          or e.qubits.issuperset(wires)):
                out.append((e.channel, wires))
        return out

    @property
    def version(self) -> int:
        """Grows with every added gate error (simulators key their lowered circuits on it)."""
        return len(self._errors)

    def readout(self, wire: int) -> ReadoutError | None:
        return self._readout.get(wire, self._readout.get(None))

    @property
    def has_readout_error(self) -> bool:
        return bool(self._readout)

    def apply_readout(self, probs: np.ndarray, wires: Sequence[int] | None = None
                      ) -> np.ndarray:
        """Readout errors applied to probabilities ``(..., 2**k)`` over ``wires`` (big-endian;
        default: all wires ``0..k-1``)."""
        if not self._readout:
            return probs
        k = int(probs.shape[-1]).bit_length() - 1
        ws = range(k) if wires is None else wires
        lead = probs.ndim - 1
        t = probs.reshape(*probs.shape[:-1], *(2,) * k)
        for axis, w in enumerate(ws, start=lead):
            err = self.readout(w)
            if err is not None:
                t = np.moveaxis(np.tensordot(err.matrix, t, axes=([1], [axis])), 0, axis)
        return t.reshape(probs.shape)

    @property
    def is_ideal(self) -> bool:
        return not self._errors and not self._readout

    @classmethod
    def ionq_aria(cls) -> NoiseModel:
        """IonQ Aria from its published fidelities (1q 99.95 %, 2q 99.6 %, SPAM 99.61 %).

        One-qubit gates: depolarizing with ``p = 2 (1 - 0.9995) = 1e-3``; two-qubit gates:
        depolarizing with ``p = 4 (1 - 0.996) / 3 = 5.33e-3`` (see
        :func:`depolarizing_from_fidelity`); every qubit: symmetric readout error
        ``1 - 0.9961 = 0.0039`` (all SPAM error attributed to measurement). Every one-qubit gate
        is charged, including RZ, which hardware applies virtually; three-qubit gates get no
        error (hardware decomposes them).
        """
        one = [name for name, spec in GATES.items() if spec.num_wires == 1]
        spam = 1.0 - ARIA_SPAM_FIDELITY
        return (cls()
                .add_gate_error(depolarizing(depolarizing_from_fidelity(ARIA_FIDELITY_1Q, 1), 1),
                                gates=one)
                .add_gate_error(depolarizing(depolarizing_from_fidelity(ARIA_FIDELITY_2Q, 2), 2))
                .add_readout_error(ReadoutError(spam, spam)))

    def __repr__(self) -> str:
        parts = [f"{e.channel.name} after {'all' if e.gates is None else sorted(e.gates)}"
                 for e in self._errors]
        parts += [f"readout{'' if q is None else f'[{q}]'}({r.p0_given_1:g}, {r.p1_given_0:g})"
                  for q, r in self._readout.items()]
        return f"NoiseModel({'; '.join(parts) or 'ideal'})"
