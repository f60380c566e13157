"""Reuse of quantum metrics across steps (``qfim_cache_size``), with hit statistics.

A metric is determined by the circuit template, the estimator, the inputs batch and the weights.
The key holds all of them, so a hit at identical weights and inputs is exact reuse (for a
sampled metric: the same estimate again, not a new one). With ``reuse_steps = N > 1`` the
weights are replaced by the step window ``step // N``: the metric of the window's first step is
reused for the next ``N - 1`` steps with the same inputs, an approximation whose error grows
with how far the weights move in ``N`` steps (Gacon et al. and the spec's "QFIM caching").
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

from q_store.errors import ValidationError

__all__ = ["MetricCache", "array_digest"]


def array_digest(*arrays: np.ndarray | None) -> str:
    """A digest of exact array values and shapes (None counts as absent)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(a, dtype=float)
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class MetricCache:
    """A least-recently-used map from metric keys to ``(n_w, n_w)`` metrics."""

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValidationError(f"qfim cache capacity must be a positive integer, got "
                                  f"{capacity!r}")
        self.capacity = capacity
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, metric: np.ndarray) -> None:
        self._items[key] = np.array(metric, dtype=float, copy=True)
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.evictions += 1

    def clear(self) -> None:
        self._items.clear()

    def get_stats(self) -> dict[str, Any]:
        looked = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "size": len(self._items), "capacity": self.capacity,
                "hit_rate": self.hits / looked if looked else 0.0}

    def __len__(self) -> int:
        return len(self._items)
