"""Adaptive circuit depth: the model grows during training, one identity block at a time.

Layerwise learning (Skolik et al., Quantum Machine Intelligence 3, 5 (2021)) trains a shallow
circuit first and adds layers later. A layer added mid-training must not change what the model
computes, or the loss jumps; so every added layer has to *start as the identity*. A
hardware-efficient layer (rotations, then a CNOT ring) can never be the identity: the ring is a
fixed permutation whatever the angles. Mirrored pairs (a ring then its inverse) would be, but
would force depth steps of two. We add instead :class:`IdentityBlocks`: per block, the base
layer's rotations on every wire, then an ``RXX`` on each of its entangling pairs. At zero angles
every gate is exactly the identity matrix; trained, the block is a full entangling layer with
the same two-qubit gate count as a CNOT ring (``RXX`` is IonQ's MS interaction: one native
gate per pair), at the price of one parameter per pair. ``XX`` rather than ``ZZ``: a block is
grown at the end of the circuit, where ``RZZ`` gates would sit right before the
computational-basis measurement, commute with it and never matter (nor get a gradient).

How a run goes (:class:`AdaptiveDepth`, one call from the trainer at each epoch start):

- :meth:`AdaptiveDepth.prepare` appends to the model (its trainable layers must be
  :class:`~q_store.ml.layers.QuantumLayer` stacks, whose repetitions are its depth) the blocks
  that take it to ``max_circuit_depth``, all at zero: the *full-depth model*. Its weight vector
  has its final size from then on (optimiser state, checkpoints).
- :meth:`AdaptiveDepth.at_epoch_start` activates blocks as :class:`DepthSchedule` says (never
  fewer than before). Inactive blocks are frozen at zero and left out of the circuit training
  steps run (``model.training_circuit``): the cheaper circuit computes exactly the same values.
  A block activated at an epoch start is still at zero, so the loss just before and just after
  a depth change agree (to rounding; tested to 1e-12).
- Validation and prediction run the full-depth model (``model.circuit``): every block, the
  not-yet-trained ones at the identity. They therefore see exactly the function being trained;
  on a backend with circuit optimisation, identity removal strips the zero blocks before
  anything is sent.

The depth only grows: removing trained layers (the spec's "complex early, simple late") would
change the model and jump the loss, which this feature promises not to do.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from q_store.circuit import CircuitBuilder, theta
from q_store.circuit.ir import Circuit
from q_store.errors import ConfigError, ConfigWarning
from q_store.ml.layers import Layer, QuantumLayer, entangling_pairs

__all__ = ["SCHEDULES", "AdaptiveDepth", "DepthSchedule", "IdentityBlocks"]

log = logging.getLogger("q_store.trainer")

SCHEDULES = ("linear", "exponential", "step")


@dataclass(frozen=True)
class DepthSchedule:
    """The depth of each epoch, from ``min_depth`` (first epoch) to ``max_depth`` (last).

    With progress ``p = epoch / (epochs - 1)`` (1 for a one-epoch run) the depth follows the
    curve ``linear``: ``min + (max - min) p``; ``exponential``: ``min (max / min)^p`` (long at
    shallow depths, the cheap ones); ``step``: ``min`` for the first half, then ``max``;
    rounded to the nearest integer (halves up)."""

    kind: str = "exponential"
    min_depth: int = 2
    max_depth: int = 4

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(f"circuit_depth_schedule={self.kind!r} is not allowed; choose "
                              f"one of {', '.join(SCHEDULES)}")
        for name in ("min_depth", "max_depth"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.max_depth < self.min_depth:
            raise ConfigError(f"max_depth={self.max_depth} is below min_depth={self.min_depth}")

    def depth_at(self, epoch: int, epochs: int) -> int:
        """Depth for ``epoch`` (0-based) of ``epochs``."""
        p = 1.0 if epochs <= 1 else min(1.0, max(0.0, epoch / (epochs - 1)))
        lo, hi = self.min_depth, self.max_depth
        if self.kind == "linear":
            curve = lo + (hi - lo) * p
        elif self.kind == "exponential":
            curve = lo * (hi / lo) ** p
        else:
            curve = lo if p < 0.5 else hi
        return min(hi, max(lo, math.floor(curve + 0.5 + 1e-9)))


class IdentityBlocks(Layer):
    """``n_blocks`` blocks, each: ``rotations`` on every wire, then ``RXX`` on every
    entangling pair of ``entanglement``. One gate per parameter; all zero is the identity.
    Only the first :attr:`active` blocks train; the others stay frozen at zero."""

    def __init__(self, n_qubits: int, n_blocks: int, rotations: tuple[str, ...] = ("RY", "RZ"),
                 entanglement: str = "circular", **_: Any) -> None:
        if not isinstance(n_blocks, int) or isinstance(n_blocks, bool) or n_blocks < 1:
            raise ConfigError(f"n_blocks must be a positive integer, got {n_blocks!r}")
        self.n_blocks = n_blocks
        self.rotations = tuple(rotations)
        self.entanglement = entanglement
        self.pairs = entangling_pairs(n_qubits, entanglement)
        super().__init__(n_qubits)
        self.active = 0
        self._frozen[:] = True

    @property
    def block_size(self) -> int:
        """Gates (= parameters) per block."""
        return self.n_qubits * len(self.rotations) + len(self.pairs)

    @property
    def n_parameters(self) -> int:
        return self.n_blocks * self.block_size

    def init_parameters(self, rng: np.random.Generator, scale: float = math.pi / 2) -> None:
        """Blocks start at zero, the identity (frozen values are kept)."""
        self.parameters = np.where(self._frozen, self.parameters, 0.0)

    def set_active(self, active: int) -> None:
        """Train the first ``active`` blocks; freeze the rest (at their values)."""
        self.active = active
        self._frozen[:] = True
        self._frozen[: active * self.block_size] = False

    def _append(self, b: CircuitBuilder, wires: tuple[int, ...], offset: int
                ) -> tuple[int, ...]:
        k = offset
        for _ in range(self.n_blocks):
            for w in wires:
                for gate in self.rotations:
                    b.append(gate, w, theta[k])
                    k += 1
            for i, j in self.pairs:
                b.rxx(wires[i], wires[j], theta[k])
                k += 1
        return wires

    def __repr__(self) -> str:
        return (f"IdentityBlocks(n_qubits={self.n_qubits}, n_blocks={self.n_blocks}, "
                f"rotations={self.rotations}, entanglement={self.entanglement!r})")


class AdaptiveDepth:
    """Grows a model along a :class:`DepthSchedule` (see the module docstring); ``tracker``
    receives a ``depth`` event per epoch. Holds no per-run state: the active depth lives in
    the model's :class:`IdentityBlocks`."""

    def __init__(self, schedule: DepthSchedule, tracker: Any = None, *,
                 explicit: bool = True) -> None:
        self.schedule = schedule
        self.tracker = tracker
        # switched on by enable_all_v35_features rather than asked for: where it cannot apply
        # (a model that is already deep enough, or not built from QuantumLayers) it stays out
        # of the way, with a log line instead of a warning or an error
        self.explicit = explicit

    @classmethod
    def from_config(cls, config: Any, tracker: Any = None) -> AdaptiveDepth | None:
        if not config.adaptive_circuit_depth:
            return None
        explicit = "adaptive_circuit_depth" in getattr(config, "explicitly_set", ())
        return cls(DepthSchedule(config.circuit_depth_schedule, config.min_circuit_depth,
                                 config.max_circuit_depth), tracker, explicit=explicit)

    @staticmethod
    def base_depth(model: Any) -> int:
        """Repetitions of the model's own (non-block) layers."""
        depth = 0
        for layer in model.layers:
            if isinstance(layer, QuantumLayer):
                depth += layer.depth
            elif not isinstance(layer, IdentityBlocks):
                raise ConfigError(
                    f"adaptive_circuit_depth grows models built from QuantumLayer or "
                    f"HardwareEfficientQuantumLayer; this model has a {type(layer).__name__}")
        return depth

    def prepare(self, model: Any) -> bool:
        """Append the zero blocks that make ``model`` full depth; True if it grew."""
        if not self.explicit:
            try:
                return self._prepare(model)
            except (ConfigError, ConfigWarning) as exc:
                log.info("enable_all_v35_features: adaptive circuit depth does not apply to this "
                         "model (%s)", exc)
                return False
        return self._prepare(model)

    def _prepare(self, model: Any) -> bool:
        r = self.base_depth(model)
        blocks = _blocks(model)
        need = self.schedule.max_depth - r
        if blocks is not None:
            if blocks.n_blocks != need:
                raise ConfigError(f"the model was grown to depth {r + blocks.n_blocks}; "
                                  f"max_circuit_depth is now {self.schedule.max_depth}")
            return False
        if need <= 0:
            message = (f"adaptive_circuit_depth adds no layer: the model already has depth {r} "
                       f">= max_circuit_depth={self.schedule.max_depth} (build it with "
                       "QuantumModel.from_config, which starts at min_circuit_depth)")
            if not self.explicit:
                raise ConfigWarning(message)
            warnings.warn(message, ConfigWarning, stacklevel=4)
            return False
        bases = [layer for layer in model.layers if isinstance(layer, QuantumLayer)]
        if not bases:
            raise ConfigError("adaptive_circuit_depth needs a model with a QuantumLayer to "
                              "copy its rotations and entanglement from")
        base = bases[-1]
        model.layers.append(IdentityBlocks(base.n_qubits, need, base.rotations,
                                           base.entanglement))
        model._build()
        return True

    def at_epoch_start(self, model: Any, epoch: int, epochs: int) -> int:
        """Activate the blocks ``epoch`` (0-based, of ``epochs``) calls for; return the
        depth."""
        r = self.base_depth(model)
        blocks = _blocks(model)
        depth = r
        if blocks is not None:
            want = self.schedule.depth_at(epoch, epochs) - r
            active = min(blocks.n_blocks, max(blocks.active, want, 0))
            blocks.set_active(active)
            depth = r + active
            model.training_circuit = _truncate(model.circuit,
                                               (blocks.n_blocks - active) * blocks.block_size)
        if self.tracker is not None:
            train, full = model.training_circuit, model.circuit
            self.tracker.emit("depth", epoch=epoch + 1, depth=depth,
                              max_depth=r + (blocks.n_blocks if blocks else 0),
                              gates=len(train), two_qubit_gates=train.num_two_qubit_gates,
                              full_gates=len(full),
                              full_two_qubit_gates=full.num_two_qubit_gates,
                              trainable_parameters=model.count_parameters())
        return depth


def _blocks(model: Any) -> IdentityBlocks | None:
    last = model.layers[-1] if model.layers else None
    return last if isinstance(last, IdentityBlocks) else None


def _truncate(circuit: Circuit, drop: int) -> Circuit:
    """``circuit`` without its last ``drop`` gates, keeping its weight and input counts."""
    if drop == 0:
        return circuit
    return Circuit(circuit.n_qubits, circuit.operations[:-drop], circuit.n_weights,
                   circuit.n_inputs)
