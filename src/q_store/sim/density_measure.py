"""Pauli-coefficient states: conversions and measurement (see :mod:`density_kernels`).

A state is ``c (B, 4**n)`` with ``c_P = Tr(P rho)``. Measuring wires ``ws`` in the bases of
letters ``ls`` (Z: computational basis; X, Y: their eigenbases) gives the probabilities
``p(b) = 2**-k sum_S c_{P_S} (-1)**(b . S)`` over the subsets ``S`` of the wires, with ``P_S`` the
word carrying ``ls`` on ``S``: a gather of ``2**k`` coefficients and a Walsh-Hadamard transform.
Readout errors then act on ``p`` as on hardware. The same formula read backwards gives the
coefficient vector ``o`` of any measured quantity ``sum_b p_measured(b) f(b) = o . c``, which
seeds the adjoint sweep of noisy gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from q_store.circuit.observables import PauliString, Projector
from q_store.sim.density_program import pauli_basis
from q_store.sim.noise import NoiseModel

__all__ = ["LETTERS", "coeffs_to_rho", "functional", "marginal", "states_to_coeffs",
           "term_basis", "zero_state"]

LETTERS = {"X": 1, "Y": 2, "Z": 3}


@lru_cache(maxsize=64)
def subset_indices(n: int, wires: tuple[int, ...], letters: tuple[int, ...]) -> np.ndarray:
    """Index of the word ``P_S`` for every subset ``S`` of ``wires`` (as a k-bit number, first
    wire the top bit)."""
    k = len(wires)
    out = np.zeros(2**k, dtype=np.int64)
    for j, (w, letter) in enumerate(zip(wires, letters, strict=True)):
        bit = 1 << (k - 1 - j)
        out[(np.arange(2**k) & bit) != 0] += letter * 4 ** (n - 1 - w)
    out.setflags(write=False)
    return out


def zero_state(n: int) -> np.ndarray:
    """Coefficients of ``|0...0><0...0|``: 1 on every word of I and Z letters."""
    c = np.zeros(4**n)
    c[subset_indices(n, tuple(range(n)), (3,) * n)] = 1.0
    return c


def _wht(x: np.ndarray, k: int) -> np.ndarray:
    """``H^{(x)k} x`` along the last axis (``x (B, 2**k)``), unnormalised."""
    b = x.shape[0]
    for j in range(k):
        t = x.reshape(b, 2**j, 2, 2 ** (k - 1 - j))
        x = np.concatenate([t[:, :, :1] + t[:, :, 1:], t[:, :, :1] - t[:, :, 1:]], axis=2)
    return x.reshape(b, 2**k)


def marginal(cs: np.ndarray, n: int, wires: Sequence[int], letters: Sequence[int]
             ) -> np.ndarray:
    """Probabilities ``(B, 2**k)`` of measuring ``wires`` in the bases ``letters`` (before
    readout errors), clipped at 0 against rounding."""
    k = len(wires)
    g = cs[:, subset_indices(n, tuple(wires), tuple(letters))]
    return np.clip(_wht(g, k) / 2**k, 0.0, None)


def functional(n: int, wires: Sequence[int], letters: Sequence[int], f: np.ndarray,
               noise_model: NoiseModel) -> tuple[np.ndarray, np.ndarray]:
    """``(idx, h)`` with ``sum_b p_measured(b) f(b) = h . c[idx]`` for measured (readout-
    corrupted) probabilities over ``wires`` in the bases ``letters``."""
    k = len(wires)
    t = np.asarray(f, dtype=float).reshape((2,) * k)
    for axis, w in enumerate(wires):  # sum_b (M p)(b) f(b) = sum_b p(b) (M^T f)(b)
        err = noise_model.readout(w)
        if err is not None:
            t = np.moveaxis(np.tensordot(err.matrix.T, t, axes=([1], [axis])), 0, axis)
    h = _wht(t.reshape(1, 2**k), k)[0] / 2**k
    return subset_indices(n, tuple(wires), tuple(letters)), h


def term_basis(term: PauliString | Projector) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Wires and measurement letters of one observable term."""
    if isinstance(term, Projector):
        return tuple(term.wires), (3,) * len(term.wires)
    letters = dict(term.paulis)
    return tuple(term.wires), tuple(LETTERS[letters[w]] for w in term.wires)


def states_to_coeffs(states: np.ndarray, n: int) -> np.ndarray:
    """Coefficients ``(B, 4**n)`` of pure states ``(B, 2**n)``."""
    b = states.shape[0]
    rho = states[:, :, None] * states[:, None, :].conj()
    t = rho.reshape(b, *(2,) * (2 * n))
    t = t.transpose([0, *[a for w in range(n) for a in (1 + w, 1 + n + w)]])
    t = t.reshape(b, *(4,) * n)
    # c_l = sum_ij P_l[j, i] rho[i, j]: the word axis of each wire, in wire order
    a = pauli_basis(1).transpose(2, 1, 0).reshape(4, 4)
    for _ in range(n):
        t = np.tensordot(t, a, axes=([1], [0]))
    return t.reshape(b, 4**n).real.copy()


def coeffs_to_rho(cs: np.ndarray, n: int) -> np.ndarray:
    """Density matrices ``(B, 2**n, 2**n)`` of coefficients ``(B, 4**n)``."""
    b = cs.shape[0]
    t = cs.reshape(b, *(4,) * n).astype(np.complex128)
    basis = pauli_basis(1)
    for _ in range(n):
        t = np.tensordot(t, basis, axes=([1], [0]))
    t = t.transpose([0, *[1 + 2 * w for w in range(n)], *[2 + 2 * w for w in range(n)]])
    return t.reshape(b, 2**n, 2**n) / 2**n
