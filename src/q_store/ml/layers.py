"""Trainable circuit layers: rotation layers, hardware-efficient layers, quantum convolution and
quantum pooling (Cong, Choi, Lukin, Nature Physics 15, 1273 (2019)).

A layer acts on a tuple of *active* wires and appends its gates to a circuit builder, using
trainable weights ``theta[offset + i]`` for its ``n_parameters`` parameters. It returns the wires
that still carry information (pooling drops half of them). Layers own their current parameter
values; ``freeze_parameters`` marks some of them as fixed for transfer learning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from q_store.circuit import CircuitBuilder, theta
from q_store.circuit.params import as_real_array
from q_store.errors import ConfigError, ValidationError

__all__ = [
    "HardwareEfficientQuantumLayer",
    "Layer",
    "QuantumConvolutionalLayer",
    "QuantumLayer",
    "QuantumPoolingLayer",
    "entangling_pairs",
]

_ENTANGLEMENTS = ("linear", "circular", "full")


def entangling_pairs(n: int, entanglement: str) -> list[tuple[int, int]]:
    """CNOT pairs (local wire indices) for the named pattern."""
    if entanglement not in _ENTANGLEMENTS:
        raise ConfigError(f"entanglement={entanglement!r} is not allowed; choose one of "
                          f"{', '.join(_ENTANGLEMENTS)}")
    if n < 2:
        return []
    if entanglement == "linear":
        return [(i, i + 1) for i in range(n - 1)]
    if entanglement == "circular":
        return [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)]
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


class Layer(ABC):
    """Base class: parameter bookkeeping, freezing, wiring checks.

    ``backend`` is accepted for the spec's signatures (``QuantumLayer(n, depth, backend)``) and
    not kept: a layer only appends gates to a circuit; circuits run on the model's backend
    (``QuantumModel(..., backend=...)``).
    """

    def __init__(self, n_qubits: int, backend: Any = None) -> None:
        if not isinstance(n_qubits, int) or isinstance(n_qubits, bool) or n_qubits < 1:
            raise ConfigError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        self.n_qubits = n_qubits
        self._parameters = np.zeros(self.n_parameters)
        self._frozen = np.zeros(self.n_parameters, dtype=bool)

    @property
    def parameters(self) -> np.ndarray:
        """The layer's current weight values ``(n_parameters,)``."""
        return self._parameters

    @parameters.setter
    def parameters(self, values: object) -> None:
        p = as_real_array(values, f"{type(self).__name__} parameters", ValidationError)
        if p.shape != (self.n_parameters,) or not np.isfinite(p).all():
            raise ValidationError(f"{type(self).__name__} parameters must be "
                                  f"{self.n_parameters} finite real numbers, got shape {p.shape}")
        self._parameters = p

    @property
    @abstractmethod
    def n_parameters(self) -> int: ...

    @abstractmethod
    def _append(self, b: CircuitBuilder, wires: tuple[int, ...], offset: int
                ) -> tuple[int, ...]: ...

    def append_to(self, builder: CircuitBuilder, wires: Sequence[int], offset: int
                  ) -> tuple[int, ...]:
        """Append the layer's gates on ``wires`` using weights from ``offset``; return the
        wires that carry information afterwards."""
        ws = tuple(wires)
        if len(ws) != self.n_qubits:
            raise ValidationError(f"{type(self).__name__} acts on {self.n_qubits} qubits but "
                                  f"was given {len(ws)} active wires {ws}")
        return self._append(builder, ws, offset)

    def output_qubits(self) -> int:
        return self.n_qubits

    def init_parameters(self, rng: np.random.Generator, scale: float = np.pi / 2) -> None:
        """Fresh values uniform in [-scale, scale] (frozen parameters keep theirs)."""
        new = rng.uniform(-scale, scale, self.n_parameters)
        self.parameters = np.where(self._frozen, self.parameters, new)

    def freeze_parameters(self, indices: Iterable[int] | None = None) -> None:
        """Keep these parameters (all if None) fixed during training."""
        idx = self._indices(indices)
        self._frozen[idx] = True

    def unfreeze_parameters(self, indices: Iterable[int] | None = None) -> None:
        self._frozen[self._indices(indices)] = False

    @property
    def trainable_mask(self) -> np.ndarray:
        return ~self._frozen

    def _indices(self, indices: Iterable[int] | None) -> np.ndarray:
        if indices is None:
            return np.arange(self.n_parameters)
        idx = np.asarray(list(indices), dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= self.n_parameters)]
        if len(bad):
            raise ValidationError(f"parameter index {int(bad[0])} out of range for "
                                  f"{type(self).__name__} with {self.n_parameters} parameters")
        return idx

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_qubits={self.n_qubits}, parameters={self.n_parameters})"


class QuantumLayer(Layer):
    """``depth`` repetitions of rotations on every qubit (RX, RY, RZ unless ``rotations``
    names others, e.g. ``("RY",)`` for a real-amplitude ansatz) followed by CNOTs."""

    rotations: tuple[str, ...] = ("RX", "RY", "RZ")

    def __init__(self, n_qubits: int, depth: int = 1, entanglement: str = "circular",
                 backend: Any = None, rotations: Sequence[str] | None = None,
                 **_: Any) -> None:
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"depth must be a positive integer, got {depth!r}")
        if rotations is not None:
            rots = tuple(str(r).upper() for r in rotations)
            if not rots or any(r not in ("RX", "RY", "RZ") for r in rots):
                raise ConfigError(f"rotations must be a non-empty sequence of 'RX', 'RY', 'RZ', "
                                  f"got {rotations!r}")
            self.rotations = rots
        self.depth = depth
        self.entanglement = entanglement
        entangling_pairs(2, entanglement)  # validates the name
        super().__init__(n_qubits, backend)

    @property
    def n_parameters(self) -> int:
        return self.depth * self.n_qubits * len(self.rotations)

    def _append(self, b: CircuitBuilder, wires: tuple[int, ...], offset: int
                ) -> tuple[int, ...]:
        k = offset
        pairs = entangling_pairs(len(wires), self.entanglement)
        for _ in range(self.depth):
            for w in wires:
                for gate in self.rotations:
                    b.append(gate, w, theta[k])
                    k += 1
            for i, j in pairs:
                b.cnot(wires[i], wires[j])
        return wires


class HardwareEfficientQuantumLayer(QuantumLayer):
    """RY and RZ per qubit per layer (a third fewer parameters than :class:`QuantumLayer`)."""

    rotations = ("RY", "RZ")

    def __init__(self, n_qubits: int, depth: int = 1, backend: Any = None,
                 ansatz_type: str = "hardware_efficient", entanglement: str = "circular",
                 **_: Any) -> None:
        if ansatz_type != "hardware_efficient":
            raise ConfigError(f"ansatz_type={ansatz_type!r} is not allowed; the only type is "
                              "'hardware_efficient'")
        super().__init__(n_qubits, depth, entanglement, backend)


_KERNEL_PARAMS = 11


def _conv_kernel(b: CircuitBuilder, a: int, c: int, k: int) -> None:
    """A general-purpose two-qubit kernel: local RY, RZ; RXX, RYY, RZZ; local RY, RZ."""
    b.ry(a, theta[k]).rz(a, theta[k + 1]).ry(c, theta[k + 2]).rz(c, theta[k + 3])
    b.rxx(a, c, theta[k + 4]).ryy(a, c, theta[k + 5]).rzz(a, c, theta[k + 6])
    b.ry(a, theta[k + 7]).rz(a, theta[k + 8]).ry(c, theta[k + 9]).rz(c, theta[k + 10])


class QuantumConvolutionalLayer(Layer):
    """One two-qubit kernel, with the same weights at every position, applied to neighbouring
    pairs: first the pairs (0,1), (2,3), ..., then (1,2), (3,4), ... (translation invariance)."""

    def __init__(self, n_qubits: int, backend: Any = None, **_: Any) -> None:
        if n_qubits < 2:
            raise ConfigError("a convolutional layer needs at least 2 qubits")
        super().__init__(n_qubits, backend)

    @property
    def n_parameters(self) -> int:
        return _KERNEL_PARAMS

    def _append(self, b: CircuitBuilder, wires: tuple[int, ...], offset: int
                ) -> tuple[int, ...]:
        n = len(wires)
        for start in (0, 1):
            for i in range(start, n - 1, 2):
                _conv_kernel(b, wires[i], wires[i + 1], offset)
        return wires


class QuantumPoolingLayer(Layer):
    """Halves the qubits that carry information: each dropped qubit steers a controlled
    rotation on its kept neighbour (CRZ when it is 1, CRX after flipping it, i.e. when it is 0)
    and is not used afterwards. Shared weights across positions."""

    def __init__(self, n_qubits: int, backend: Any = None, **_: Any) -> None:
        if n_qubits < 2:
            raise ConfigError("a pooling layer needs at least 2 qubits")
        super().__init__(n_qubits, backend)

    @property
    def n_parameters(self) -> int:
        return 2

    def output_qubits(self) -> int:
        return (self.n_qubits + 1) // 2

    def _append(self, b: CircuitBuilder, wires: tuple[int, ...], offset: int
                ) -> tuple[int, ...]:
        kept = []
        for i in range(0, len(wires), 2):
            if i + 1 >= len(wires):
                kept.append(wires[i])
                continue
            sink, source = wires[i], wires[i + 1]
            b.crz(source, sink, theta[offset])
            b.x(source)
            b.crx(source, sink, theta[offset + 1])
            b.x(source)
            kept.append(sink)
        return tuple(kept)
