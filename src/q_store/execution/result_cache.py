"""Level 2 of the engine's caches: results of circuits already run.

A result is reused only under a key holding everything that changes it: the bound circuit (its
gates, angles and any state preparation), the shots asked for, the backend (the instance and its
description, which names its noise model), and for sampled results the seed. Exact results
(``shots=None`` on the result) are deterministic and always reusable. Sampled results are stored
only when the cache was built with ``cache_sampled=True`` and the caller gives the seed the
circuit ran with: a repeated seeded run then gets the very histogram a rerun would give, and no
other run ever sees that noise.

Entries expire ``ttl`` seconds after they were stored (None: never; exact simulator results
cannot go stale, measured hardware results can) and the least recently used ones are evicted
beyond ``max_entries`` or ``max_bytes``. Memory is each result's arrays plus an estimate of its
key (about 160 bytes per gate of the circuit).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from threading import Lock
from typing import Any

import numpy as np

from q_store.backends.base import CircuitResult
from q_store.circuit.expr import Const
from q_store.circuit.ir import Circuit
from q_store.errors import ConfigError

__all__ = ["ResultCache", "array_digest", "backend_identity", "circuit_digest", "circuit_seed"]

_BYTES_PER_GATE = 160  # a bound Operation with its Const angles, roughly


def backend_identity(backend: Any) -> tuple[Any, str]:
    """The part of a result key that names the backend: the instance (results never move
    between two backends, even alike ones) and its description at the time (a backend whose
    noise model or compilation changed no longer matches its earlier results)."""
    compiler = getattr(backend, "compiler", None)  # IonQ's native-gate compilation
    return backend, repr(backend) + ("" if compiler is None else f" compiled by {compiler!r}")


def circuit_digest(circuit: Circuit) -> bytes:
    """A digest of a circuit's value that is the same in every process (Python's ``hash`` of
    strings is not): gates, wires and exact angles."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((circuit.n_qubits, circuit.n_weights, circuit.n_inputs)).encode())
    for op in circuit.operations:
        params = ",".join(p.value.hex() if isinstance(p, Const) else repr(p) for p in op.params)
        h.update(f"|{op.gate}{op.wires}{params}".encode())
    return h.digest()


def circuit_seed(seed: int, circuit: Circuit) -> int:
    """The seed of ``circuit`` in a run seeded with ``seed``: a function of both alone, so the
    circuit's sampled result does not depend on what else ran with it."""
    h = hashlib.blake2b(circuit_digest(circuit), digest_size=8, key=int(seed).to_bytes(16, "big"))
    return int.from_bytes(h.digest(), "big") % 2**31


def array_digest(array: np.ndarray | None) -> bytes | None:
    """Digest of an array's dtype, shape and bytes (None stays None)."""
    if array is None:
        return None
    a = np.ascontiguousarray(array)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.data)
    return h.digest()


@dataclass
class _Entry:
    value: Any
    nbytes: int
    expires: float


def _frozen(result: CircuitResult) -> CircuitResult:
    """A copy whose arrays cannot be changed by whoever receives it."""
    p = np.array(result.probabilities, dtype=float)
    p.flags.writeable = False
    counts = None if result.counts is None else dict(result.counts)
    return CircuitResult(p, result.shots, counts)


def _result_bytes(circuit: Circuit, result: CircuitResult) -> int:
    counts = 0 if result.counts is None else 64 * len(result.counts)
    return int(result.probabilities.nbytes) + counts + _BYTES_PER_GATE * (len(circuit) + 1)


class ResultCache:
    """LRU cache of results with a TTL and a memory bound (see the module docstring).

    ``max_entries``: results kept; ``max_bytes``: their memory; ``ttl``: seconds a result stays
    valid (None: no expiry); ``cache_sampled``: also keep sampled results of seeded runs;
    ``clock``: monotonic seconds (a fake clock in tests)."""

    def __init__(self, max_entries: int = 5000, *, max_bytes: int = 64 * 2**20,
                 ttl: float | None = 300.0, cache_sampled: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if ttl is not None and (not isinstance(ttl, numbers.Real) or isinstance(ttl, bool)
                                or not math.isfinite(ttl) or ttl <= 0):
            raise ConfigError(f"result_ttl must be a positive number of seconds or None (no "
                              f"expiry), got {ttl!r}")
        if not isinstance(cache_sampled, bool):
            raise ConfigError(f"cache_sampled must be True or False, got {cache_sampled!r}")
        self.max_entries, self.max_bytes = int(max_entries), int(max_bytes)
        self.ttl = None if ttl is None else float(ttl)
        self.cache_sampled = cache_sampled
        self.clock = clock
        self._items: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = Lock()
        self._backends: dict[str, Any] = {}  # description -> identity, for lookups by name
        self.bytes = 0
        self.hits = self.misses = self.evictions = self.expired = 0

    # -- results of circuits on backends (the pipeline's calls) --------------------------------
    def get(self, circuit: Circuit, shots: int | None, backend: Hashable, *,
            seed: int | None = None) -> CircuitResult | None:
        """The result of ``circuit`` run with ``shots`` on ``backend`` (a
        :func:`backend_identity`), if stored and not expired: an exact one, else (with
        ``cache_sampled`` and a ``seed``) the sampled one of that seed."""
        keys = [(circuit, shots, backend, None)]
        if seed is not None and shots is not None and self.cache_sampled:
            keys.append((circuit, shots, backend, int(seed)))
        return self._find(keys)

    def put(self, circuit: Circuit, shots: int | None, backend: Hashable,
            result: CircuitResult, *, seed: int | None = None) -> bool:
        """Store ``result``; returns whether it was kept. Exact results are always kept;
        sampled ones only with ``cache_sampled`` and the ``seed`` they ran with."""
        if result.shots is None:
            key = (circuit, shots, backend, None)
        elif self.cache_sampled and seed is not None:
            key = (circuit, shots, backend, int(seed))
        else:
            return False
        name = (getattr(backend[0], "name", backend[1]) if isinstance(backend, tuple)
                and len(backend) == 2 else str(backend))
        with self._lock:
            self._backends[name] = backend
        return self.store(key, _frozen(result), _result_bytes(circuit, result))

    def backend_named(self, name: str | None) -> Hashable:
        """The identity of a backend whose results are stored, by name (None: the only one)."""
        with self._lock:
            known = dict(self._backends)
        if name is None and len(known) == 1:
            return next(iter(known.values()))
        if name in known:
            return known[name]
        raise ConfigError(f"say which backend's result to look up (backend=...); results "
                          f"are stored for {sorted(known) or 'no backend yet'}")

    # -- any key (the local engine's exact answers) ---------------------------------------------
    def lookup(self, key: Hashable) -> Any:
        """The value stored under ``key`` (None when absent or expired)."""
        return self._find([key])

    def store(self, key: Hashable, value: Any, nbytes: int) -> bool:
        """Keep ``value`` under ``key`` (``nbytes`` of memory); a value larger than the whole
        memory bound is not kept."""
        if nbytes > self.max_bytes:
            return False
        expires = math.inf if self.ttl is None else self.clock() + self.ttl
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old.nbytes
            self._items[key] = _Entry(value, int(nbytes), expires)
            self.bytes += int(nbytes)
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                _, gone = self._items.popitem(last=False)
                self.bytes -= gone.nbytes
                self.evictions += 1
        return True

    def _find(self, keys: list[Hashable]) -> Any:
        now = self.clock()
        with self._lock:
            for key in keys:
                entry = self._items.get(key)
                if entry is None:
                    continue
                if entry.expires <= now:
                    del self._items[key]
                    self.bytes -= entry.nbytes
                    self.expired += 1
                    continue
                self._items.move_to_end(key)
                self.hits += 1
                return entry.value
            self.misses += 1
            return None

    # -- housekeeping -----------------------------------------------------------------------------
    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._backends.clear()
            self.bytes = 0
            self.hits = self.misses = self.evictions = self.expired = 0

    def get_stats(self) -> dict[str, float]:
        with self._lock:
            total = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses,
                    "hit_rate": self.hits / total if total else 0.0,
                    "cached_results": len(self._items), "memory_bytes": self.bytes,
                    "memory_mb": self.bytes / 2**20, "evictions": self.evictions,
                    "expired": self.expired}

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (f"ResultCache(entries={len(self._items)}/{self.max_entries}, "
                f"bytes={self.bytes}/{self.max_bytes}, ttl={self.ttl}, "
                f"cache_sampled={self.cache_sampled})")
