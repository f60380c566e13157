"""Measurements on batches of state vectors: observables, probabilities, marginals, samples."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.errors import ObservableError, ValidationError
from q_store.sim.memory import check_memory

__all__ = [
    "apply_observable",
    "expectations",
    "marginal_probabilities",
    "sample_bits",
    "sample_counts",
]


@lru_cache(maxsize=512)
def _pauli_data(p: PauliString, n: int) -> tuple[np.ndarray | None, np.ndarray]:
    """``(perm, factor)`` with ``(P psi)[k] = factor[k] * psi[perm[k]]``; perm None if diagonal."""
    xm, zm, ny = p.masks(n)
    k = np.arange(2**n, dtype=np.int64)
    src = k ^ xm
    parity = np.zeros(2**n, dtype=np.int64)
    v = src & zm
    while np.any(v):
        parity ^= v & 1
        v >>= 1
    factor = p.coeff * (1j**ny) * (1.0 - 2.0 * parity)
    if xm == 0:
        return None, factor.real.copy()
    return src, factor


@lru_cache(maxsize=512)
def _diagonal(obs: Observable, n: int) -> np.ndarray | None:
    """The diagonal of a diagonal observable, else None."""
    if isinstance(obs, Projector):
        d = np.zeros(2**n)
        d[obs.indices(n)] = 1.0
        return d
    terms = obs.terms if isinstance(obs, PauliSum) else (obs,)
    out = np.zeros(2**n)
    for t in terms:
        perm, f = _pauli_data(t, n)
        if perm is not None:
            return None
        out += f
    return out


@lru_cache(maxsize=32)  # a model has one tuple; arrays of up to 2**13 amplitudes per term
def observable_terms(observables: tuple[Observable, ...], n: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observables as kernel arrays: term ``q`` of observable ``obs[q]`` maps
    ``psi -> factor[q] * psi[perm[q]]``. Cached by value (observables are immutable): the
    arrays are shared, the kernels only read them."""
    _check(observables, n)
    ident = np.arange(2**n, dtype=np.int64)
    obs, perms, factors = [], [], []
    for k, o in enumerate(observables):
        diag = _diagonal(o, n)
        if diag is not None:
            obs.append(k)
            perms.append(ident)
            factors.append(diag.astype(np.complex128))
            continue
        for t in o.terms if isinstance(o, PauliSum) else (o,):
            perm, f = _pauli_data(t, n)
            obs.append(k)
            perms.append(ident if perm is None else perm)
            factors.append(np.asarray(f, dtype=np.complex128))
    return (np.array(obs, dtype=np.int64), np.ascontiguousarray(perms),
            np.ascontiguousarray(factors))


def _check(observables: tuple[Observable, ...], n: int) -> None:
    for o in observables:
        if not isinstance(o, Observable):
            raise ObservableError(f"expected an Observable, got {o!r}")
        o.check_wires(n)


def apply_observable(states: np.ndarray, obs: Observable, n: int) -> np.ndarray:
    """``O psi`` for every row of ``states (B, 2**n)``."""
    diag = _diagonal(obs, n)
    if diag is not None:
        return states * diag
    out = np.zeros_like(states)
    for t in obs.terms if isinstance(obs, PauliSum) else (obs,):
        perm, f = _pauli_data(t, n)
        out += f * (states if perm is None else states[:, perm])
    return out


def expectations(states: np.ndarray, observables: tuple[Observable, ...], n: int) -> np.ndarray:
    """``<psi|O_k|psi>`` for every row and observable: ``(B, K)``."""
    _check(observables, n)
    out = np.empty((states.shape[0], len(observables)))
    probs = None
    for k, o in enumerate(observables):
        diag = _diagonal(o, n)
        if diag is not None:
            if probs is None:
                probs = states.real**2 + states.imag**2
            out[:, k] = np.einsum("bi,i->b", probs, diag)  # no BLAS threads
        else:
            out[:, k] = np.einsum("bi,bi->b", states.conj(), apply_observable(states, o, n)).real
    return out


def marginal_probabilities(probs: np.ndarray, n: int, wires: tuple[int, ...] | None
                           ) -> np.ndarray:
    """Probabilities of the basis states of ``wires`` (in the given order) for each row."""
    if wires is None:
        return probs
    wires = tuple(int(w) for w in wires)
    if len(set(wires)) != len(wires) or any(w < 0 or w >= n for w in wires):
        raise ValidationError(f"wires must be distinct and in 0..{n - 1}, got {wires}")
    t = probs.reshape((probs.shape[0],) + (2,) * n)
    others = tuple(1 + w for w in range(n) if w not in wires)
    t = t.sum(axis=others)
    kept = sorted(wires)
    t = np.transpose(t, (0, *(1 + kept.index(w) for w in wires)))
    return t.reshape(probs.shape[0], 2 ** len(wires))


def _normalised(probs: np.ndarray) -> np.ndarray:
    p = np.clip(probs, 0.0, None)
    return p / p.sum(axis=1, keepdims=True)


def sample_counts(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """How often each outcome occurs in ``shots`` samples per row of ``probs (B, 2**k)``:
    counts ``(B, 2**k)`` drawn from the multinomial distribution directly, so memory is
    ``O(2**k)`` whatever the number of shots."""
    return rng.multinomial(shots, _normalised(probs))


def sample_bits(probs: np.ndarray, shots: int, n_bits: int,
                rng: np.random.Generator) -> np.ndarray:
    """``shots`` samples per row of ``probs (B, 2**k)``: bits ``(B, shots, k)``, first wire
    first. Needs ``O(B * shots)`` memory (checked first); use :func:`sample_counts` when only
    frequencies matter."""
    rows = probs.shape[0]
    check_memory(rows * shots * (24 + n_bits),
                 f"sampling {shots} shots of {n_bits} bits for {rows} state(s) "
                 f"(one bit array entry per shot; use counts for histograms)")
    p = _normalised(probs)
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((p.shape[0], shots))
    idx = np.empty((p.shape[0], shots), dtype=np.int64)
    for b in range(p.shape[0]):
        idx[b] = np.searchsorted(cdf[b], u[b], side="right")
    shifts = np.arange(n_bits - 1, -1, -1, dtype=np.int64)
    return ((idx[..., None] >> shifts) & 1).astype(np.int8)
