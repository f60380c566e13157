"""Shot-based estimation of expectation values from final states.

Each Pauli term is measured in its own basis (X via H, Y via S^dagger then H); the estimate of a
term is the mean parity of the measured bits on its wires. Projectors are estimated from
computational-basis frequencies. Outcome frequencies are drawn from the multinomial
distribution directly (:func:`~q_store.sim.measure.sample_counts`), so memory does not grow with
the number of shots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.sim.measure import marginal_probabilities, sample_counts

if TYPE_CHECKING:
    from q_store.sim.statevector import StatevectorSimulator

__all__ = ["basis_rotation", "estimate_expectations"]


def basis_rotation(term: PauliString, n: int) -> Circuit:
    """The circuit that maps the eigenbasis of ``term`` onto the computational basis."""
    c = Circuit.builder(n)
    for w, p in term.paulis:
        if p == "X":
            c.h(w)
        elif p == "Y":
            c.sdg(w).h(w)
    return c.build()


def estimate_expectations(sim: StatevectorSimulator, states: np.ndarray,
                          observables: tuple[Observable, ...], n: int, shots: int,
                          rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((states.shape[0], len(observables)))
    for k, obs in enumerate(observables):
        if isinstance(obs, Projector):
            probs = marginal_probabilities(states.real**2 + states.imag**2, n, obs.wires)
            hits = sample_counts(probs, shots, rng)[:, int("".join(map(str, obs.bits)), 2)]
            out[:, k] = hits / shots
            continue
        terms = obs.terms if isinstance(obs, PauliSum) else (obs,)
        for term in terms:
            if not term.paulis:
                out[:, k] += term.coeff
                continue
            rot = sim.state(basis_rotation(term, n), initial_state=states)
            rot = rot.reshape(states.shape)
            probs = marginal_probabilities(rot.real**2 + rot.imag**2, n, term.wires)
            counts = sample_counts(probs, shots, rng)
            out[:, k] += term.coeff * (counts @ _parity_signs(len(term.wires))) / shots
    return out


def _parity_signs(k: int) -> np.ndarray:
    """``+1`` for basis states of ``k`` bits with even parity, ``-1`` for odd."""
    idx = np.arange(2**k)
    parity = np.zeros(2**k, dtype=np.int64)
    for b in range(k):
        parity ^= (idx >> b) & 1
    return 1.0 - 2.0 * parity
