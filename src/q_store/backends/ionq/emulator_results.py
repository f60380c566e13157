"""Job results as the local IonQ emulator keeps and sends them: nonzero entries only, as arrays.

IonQ returns only nonzero probabilities, keyed by the decimal integer whose bit ``i`` is qubit
``i``. The emulator keeps exactly those entries as two numpy arrays (16 bytes an entry) instead
of a dict of Python strings and floats (about 110 bytes an entry kept, more while building it:
one exact 22-qubit job once grew the process by 794 MB), and writes the JSON text straight from
the arrays when asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["EXACT_TOL", "Probabilities", "encode_aggregated"]

EXACT_TOL = 1e-14  # exact probabilities below this are rounding noise of zero amplitudes
_CHUNK = 4096  # entries per piece of JSON text


def _reverse_bits(idx: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros_like(idx)
    for i in range(n):
        out |= ((idx >> i) & 1) << (n - 1 - i)
    return out


@dataclass(frozen=True, eq=False)
class Probabilities:
    """Nonzero probabilities of one circuit: IonQ integer ``keys`` (ascending) and ``values``."""

    keys: np.ndarray
    values: np.ndarray

    @classmethod
    def from_dense(cls, probs: np.ndarray, n_qubits: int, tol: float = 0.0) -> Probabilities:
        """Our big-endian probability vector; entries at most ``tol`` are dropped."""
        probs = np.asarray(probs, dtype=np.float64)
        idx = np.flatnonzero(probs > tol)
        keys = _reverse_bits(idx.astype(np.int64), n_qubits)
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], probs[idx][order].copy())

    @classmethod
    def sampled(cls, probs: np.ndarray, shots: int, n_qubits: int,
                rng: np.random.Generator) -> Probabilities:
        """A ``shots``-shot histogram of ``probs``, as frequencies."""
        p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
        hist = rng.multinomial(shots, p / p.sum())
        return cls.from_dense(hist / shots, n_qubits)

    def __len__(self) -> int:
        return int(self.keys.size)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.values.nbytes)

    def to_dict(self) -> dict[str, float]:
        """IonQ's ``{"<int>": p}`` map."""
        return {str(k): v for k, v in zip(self.keys.tolist(), self.values.tolist(), strict=True)}

    def json_chunks(self) -> Iterator[str]:
        """The JSON object text of :meth:`to_dict`, in pieces (floats as ``repr``, which is how
        :mod:`json` writes them: the shortest text that reads back to the same float)."""
        yield "{"
        keys, values = self.keys, self.values
        for start in range(0, len(keys), _CHUNK):
            ks = keys[start:start + _CHUNK].tolist()
            vs = values[start:start + _CHUNK].tolist()
            piece = ",".join(f'"{k}":{v!r}' for k, v in zip(ks, vs, strict=True))
            yield piece if start == 0 else "," + piece
        yield "}"

    def to_json(self) -> bytes:
        return "".join(self.json_chunks()).encode()


def encode_aggregated(items: Iterable[tuple[str, Probabilities]]) -> bytes:
    """``{child id: {"<int>": p}}`` as JSON text, written from the arrays."""
    parts: list[str] = ["{"]
    for i, (job_id, probs) in enumerate(items):
        parts.append(("," if i else "") + f'"{job_id}":')
        parts.extend(probs.json_chunks())
    parts.append("}")
    return "".join(parts).encode()
