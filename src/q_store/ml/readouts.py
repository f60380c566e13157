"""Readouts: which observables a :class:`~q_store.ml.models.QuantumModel` measures and how the
measured expectation values become its outputs.

* :class:`ExpectationReadout` (regression): ``<Z>`` of the first ``n`` readout wires.
* :class:`ProjectorReadout` (classification, the default): one basis-state projector per class
  on the first ``ceil(log2 C)`` readout wires; the ``C`` probabilities are renormalised over
  the classes (when ``C`` is not a power of two some basis states belong to no class).
* :class:`BasisGroupReadout` (classification): every basis state of the readout wires belongs
  to one class (state ``s`` to class ``s mod C``), and a class's score is the summed
  probability of its states. All ``2**k`` states are used, so the classes share the whole
  Hilbert space (on 6 wires and 10 classes: 6 or 7 dimensions per class instead of the 4 a
  projector on 4 of the 6 wires leaves), and the scores sum to one without renormalising.

Both classification readouts take an optional ``temperature`` ``T``: the outputs are then
``softmax(T * scores)`` instead of the (renormalised) scores themselves. ``T`` is a fixed
hyperparameter, not a learned weight: a readout adds no trainable parameters. Cross-entropy
on the raw scores needs the state to move entirely into one class's subspace before the loss
stops pulling; with ``T`` it rewards a margin of a few ``1/T`` between the right class and
the others, which trains faster and generalises better (see ``benchmarks/bench_digits.py``).

A readout is a pure function of the raw values: ``outputs(raw)`` and its chain rule
``vjp(raw, d_out)`` (``d loss / d raw`` from ``d loss / d outputs``), which the trainer feeds
to the adjoint method as the cotangent of the circuit's observables.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from q_store.circuit import Observable, Projector, Z
from q_store.errors import ConfigError, ValidationError

__all__ = [
    "READOUTS",
    "BasisGroupReadout",
    "ExpectationReadout",
    "ProjectorReadout",
    "Readout",
    "get_readout",
]


def _positive_int(name: str, v: object, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _temperature(t: object) -> float | None:
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not (
            math.isfinite(float(t)) and float(t) > 0):
        raise ConfigError(f"temperature must be a finite number > 0 or None, got {t!r}")
    return float(t)


class Readout(ABC):
    """Observables to measure on the readout wires, and the map from their expectation values
    ``raw (B, K)`` to the model's outputs ``(B, n_outputs)``."""

    name: str = ""
    task: str = ""

    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = _positive_int("n_outputs", n_outputs)

    @abstractmethod
    def observables(self, wires: tuple[int, ...]) -> tuple[Observable, ...]:
        """The observables on the wires that carry information (ConfigError if too few)."""

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        """Model outputs from the raw expectation values ``(B, K)``."""
        return self._check(raw)

    def vjp(self, raw: np.ndarray, d_out: np.ndarray) -> np.ndarray:
        """``d loss / d raw`` from ``d loss / d outputs`` (chain rule through :meth:`outputs`)."""
        self._check(raw)
        return np.asarray(d_out, dtype=float)

    def _check(self, raw: object) -> np.ndarray:
        arr = np.asarray(raw, dtype=float)
        if arr.ndim != 2:
            raise ValidationError(f"{self.name} readout takes raw values (batch, observables), "
                                  f"got shape {arr.shape}")
        return arr

    def describe(self) -> str:
        return f"{self.name}({self.n_outputs})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.describe() == self.describe()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.describe()))


class ExpectationReadout(Readout):
    """``<Z>`` of the first ``n_outputs`` readout wires, as they are (regression)."""

    name, task = "expectation", "regression"

    def observables(self, wires: tuple[int, ...]) -> tuple[Observable, ...]:
        if self.n_outputs > len(wires):
            raise ConfigError(f"regression reads <Z> of {self.n_outputs} wires but only "
                              f"{len(wires)} carry information")
        return tuple(Z(w) for w in wires[: self.n_outputs])


class _ClassReadout(Readout):
    """Class scores ``(B, C)`` from the raw values, then softmax(T * scores) or the scores."""

    task = "classification"

    def __init__(self, n_classes: int, temperature: float | None = None) -> None:
        super().__init__(_positive_int("n_classes", n_classes, 2))
        self.temperature = _temperature(temperature)

    @abstractmethod
    def _scores(self, raw: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _scores_vjp(self, raw: np.ndarray, d_scores: np.ndarray) -> np.ndarray: ...

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        g = self._scores(self._check(raw))
        if self.temperature is None:
            return g
        z = self.temperature * g
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def vjp(self, raw: np.ndarray, d_out: np.ndarray) -> np.ndarray:
        arr = self._check(raw)
        d = np.asarray(d_out, dtype=float)
        if self.temperature is not None:
            p = self.outputs(arr)
            d = self.temperature * p * (d - np.sum(d * p, axis=1, keepdims=True))
        return self._scores_vjp(arr, d)

    def _wires_needed(self, wires: tuple[int, ...]) -> int:
        k = max(1, math.ceil(math.log2(self.n_outputs)))
        if k > len(wires):
            raise ConfigError(f"{self.n_outputs} classes need {k} readout wires, only "
                              f"{len(wires)} carry information")
        return k

    def describe(self) -> str:
        t = "" if self.temperature is None else f", temperature={self.temperature:g}"
        return f"{self.name}({self.n_outputs} classes{t})"


class ProjectorReadout(_ClassReadout):
    """Projector ``|c><c|`` on the first ``ceil(log2 C)`` readout wires for each class ``c``;
    the probabilities are renormalised over the ``C`` classes (an identity when ``C`` is a
    power of two)."""

    name = "projectors"

    def observables(self, wires: tuple[int, ...]) -> tuple[Observable, ...]:
        k = self._wires_needed(wires)
        return tuple(Projector(format(c, f"0{k}b"), wires[:k]) for c in range(self.n_outputs))

    def _renormalises(self) -> bool:
        return 2 ** max(1, math.ceil(math.log2(self.n_outputs))) != self.n_outputs

    def _scores(self, raw: np.ndarray) -> np.ndarray:
        if raw.shape[1] != self.n_outputs:
            raise ValidationError(f"projector readout takes {self.n_outputs} probabilities per "
                                  f"sample, got {raw.shape[1]}")
        return raw / raw.sum(axis=1, keepdims=True) if self._renormalises() else raw

    def _scores_vjp(self, raw: np.ndarray, d_scores: np.ndarray) -> np.ndarray:
        if not self._renormalises():
            return d_scores
        s = raw.sum(axis=1, keepdims=True)
        return (d_scores - (d_scores * raw / s).sum(axis=1, keepdims=True)) / s


class BasisGroupReadout(_ClassReadout):
    """All ``2**k`` basis states of the first ``k`` readout wires (``wires``; default all of
    them), basis state ``s`` counted for class ``s mod C``; a class's score is the summed
    probability of its states, so the scores sum to one."""

    name = "basis_groups"

    def __init__(self, n_classes: int, temperature: float | None = None,
                 wires: int | None = None) -> None:
        super().__init__(n_classes, temperature)
        self.n_wires = None if wires is None else _positive_int("wires", wires)

    def observables(self, wires: tuple[int, ...]) -> tuple[Observable, ...]:
        k = self.n_wires if self.n_wires is not None else len(wires)
        if k < self._wires_needed(wires) or k > len(wires):
            raise ConfigError(f"basis_groups reads {k} wire(s); {self.n_outputs} classes need "
                              f"between {self._wires_needed(wires)} and {len(wires)} (the wires "
                              "that carry information)")
        return tuple(Projector(format(s, f"0{k}b"), wires[:k]) for s in range(2**k))

    def groups(self, n_states: int) -> np.ndarray:
        """The 0/1 matrix ``(n_states, C)`` that sums state probabilities into classes."""
        g = np.zeros((n_states, self.n_outputs))
        g[np.arange(n_states), np.arange(n_states) % self.n_outputs] = 1.0
        return g

    def _scores(self, raw: np.ndarray) -> np.ndarray:
        k = raw.shape[1]
        if k < self.n_outputs or k & (k - 1):
            raise ValidationError(f"basis_groups readout takes 2**k >= {self.n_outputs} basis-"
                                  f"state probabilities per sample, got {k}")
        return raw @ self.groups(k)

    def _scores_vjp(self, raw: np.ndarray, d_scores: np.ndarray) -> np.ndarray:
        return d_scores @ self.groups(raw.shape[1]).T

    def describe(self) -> str:
        base = super().describe()
        return base if self.n_wires is None else f"{base[:-1]}, wires={self.n_wires})"


READOUTS: dict[str, type[Readout]] = {
    "expectation": ExpectationReadout,
    "projectors": ProjectorReadout,
    "basis_groups": BasisGroupReadout,
}


def get_readout(readout: str | Readout | None, task: str, n_outputs: int,
                **options: Any) -> Readout:
    """The readout for a model: an instance (checked against ``task`` and ``n_outputs``), a
    name in :data:`READOUTS` built with ``options``, or None for the task's default
    (``expectation`` for regression, ``projectors`` for classification)."""
    if isinstance(readout, Readout):
        if options:
            raise ConfigError("readout options go with a readout name, not an instance")
        r = readout
    else:
        name = ("expectation" if task == "regression" else "projectors") if readout is None \
            else str(readout).strip().lower()
        if name not in READOUTS:
            raise ConfigError(f"readout={readout!r} is not allowed; choose one of "
                              f"{', '.join(READOUTS)}")
        try:
            r = READOUTS[name](n_outputs, **options)
        except TypeError as exc:
            raise ConfigError(f"bad options {sorted(options)} for the {name} readout: "
                              f"{exc}") from exc
    if r.task != task:
        allowed = [k for k, v in READOUTS.items() if v.task == task]
        raise ConfigError(f"the {r.name} readout is for {r.task}; a {task} model takes "
                          f"{', '.join(allowed)}")
    if r.n_outputs != n_outputs:
        raise ConfigError(f"the readout gives {r.n_outputs} outputs but the model has "
                          f"output_dim={n_outputs}")
    return r
