"""Seeded sampling on top of any simulator that gives basis-state probabilities."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.errors import ValidationError
from q_store.sim.measure import sample_bits, sample_counts

__all__ = ["SamplingMixin", "check_shots"]


def check_shots(shots: object) -> int:
    if not isinstance(shots, numbers.Integral) or isinstance(shots, bool) or shots < 1:
        raise ValidationError(f"shots must be a positive integer, got {shots!r}")
    return int(shots)


class SamplingMixin:
    """``sample`` and ``counts`` for a class providing ``probabilities(circuit, weights, inputs,
    wires, initial_state)``."""

    def probabilities(self, circuit: Circuit, weights: object = None, inputs: object = None,
                      wires: Sequence[int] | None = None,
                      initial_state: object = None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def sample(self, circuit: Circuit, shots: int, weights: object = None,
               inputs: object = None, wires: Sequence[int] | None = None,
               seed: int | np.random.Generator | None = None,
               initial_state: object = None) -> np.ndarray:
        """Measured bits ``(B, shots, k)`` (or ``(shots, k)``); reproducible for a given seed."""
        shots = check_shots(shots)
        ws = tuple(range(circuit.n_qubits)) if wires is None else tuple(wires)
        probs = self.probabilities(circuit, weights, inputs, ws, initial_state)
        bits = sample_bits(np.atleast_2d(probs), shots, len(ws), np.random.default_rng(seed))
        return bits if probs.ndim == 2 else bits[0]

    def counts(self, circuit: Circuit, shots: int, weights: object = None,
               inputs: object = None, wires: Sequence[int] | None = None,
               seed: int | np.random.Generator | None = None) -> dict[str, int]:
        """Histogram of measured bitstrings (first wire first) for one (unbatched) call, in
        bitstring order, without the outcomes that did not occur.

        Drawn from the multinomial distribution over the basis states, so memory and time do
        not grow with ``shots``; reproducible for a given seed."""
        shots = check_shots(shots)
        ws = tuple(range(circuit.n_qubits)) if wires is None else tuple(wires)
        probs = self.probabilities(circuit, weights, inputs, ws)
        if probs.ndim != 1:
            raise ValidationError("counts() takes one circuit binding; use sample() for batches")
        hist = sample_counts(probs[None, :], shots, np.random.default_rng(seed))[0]
        return {format(int(k), f"0{len(ws)}b"): int(hist[k]) for k in np.flatnonzero(hist)}
