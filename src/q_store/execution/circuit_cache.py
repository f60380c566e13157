"""The spec's multi-level ``QuantumCircuitCache`` (v3.3): the three caches of the engine in one.

1. compiled templates (:class:`~q_store.execution.cache.SmartCircuitCache`): a circuit's
   structure built once, bound with new values for every sample;
2. results (:class:`~q_store.execution.result_cache.ResultCache`): circuits already run, keyed
   by everything that changes their answer, with a TTL and a memory bound;
3. optimised circuits per target (:class:`OptimizedCircuitCache`): what the circuit optimiser
   made of a circuit for one backend, so it is not optimised again.

The pipeline takes the whole object as its ``result_cache`` (``get``/``put``/``cache_sampled``)
and its level 3 as ``optimized_cache``; the local engine takes it for exact answers
(``lookup``/``store``). ``enable_smart_caching=True`` builds one per engine
(:func:`q_store.execution.factory.engine_from_config`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from threading import Lock
from typing import Any

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.circuit.ir import Circuit
from q_store.circuit.params import parameter_map_for, resolve_batch
from q_store.errors import ConfigError, ValidationError
from q_store.execution.cache import SmartCircuitCache
from q_store.execution.result_cache import ResultCache, backend_identity

__all__ = ["OptimizedCircuitCache", "QuantumCircuitCache"]


class OptimizedCircuitCache:
    """LRU cache of optimised circuits keyed by ``(circuit, target)``."""

    def __init__(self, max_size: int = 1000) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
            raise ConfigError(f"max_size must be a positive integer, got {max_size!r}")
        self.max_size = max_size
        self._items: OrderedDict[tuple[Circuit, Hashable], Circuit] = OrderedDict()
        self._lock = Lock()
        self.hits = self.misses = 0

    def get_or_build(self, circuit: Circuit, target: Hashable,
                     optimize: Callable[[Circuit], Circuit]) -> Circuit:
        """``optimize(circuit)`` for ``target``, computed once."""
        key = (circuit, target)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        out = optimize(circuit)
        if not isinstance(out, Circuit):
            raise ValidationError(f"the circuit optimiser returned {type(out).__name__}, not a "
                                  "Circuit")
        with self._lock:
            self._items[key] = out
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
        return out

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def get_stats(self) -> dict[str, float]:
        with self._lock:
            total = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses,
                    "hit_rate": self.hits / total if total else 0.0,
                    "optimized_circuits": len(self._items)}

    def __len__(self) -> int:
        return len(self._items)


class QuantumCircuitCache:
    """The three cache levels (see the module docstring).

    ``max_compiled_circuits``: templates kept (level 1; or pass ``templates``, e.g. the
    simulator's cache, to share it); ``max_results``, ``max_result_bytes``, ``result_ttl``
    (seconds, None: no expiry) and ``cache_sampled`` bound level 2; ``max_optimized_circuits``
    (default: ``max_compiled_circuits``) bounds level 3; ``clock``: monotonic seconds for the
    TTL."""

    def __init__(self, max_compiled_circuits: int = 1000, max_results: int = 5000,
                 result_ttl: float | None = 300.0, *, max_result_bytes: int = 64 * 2**20,
                 max_optimized_circuits: int | None = None, cache_sampled: bool = False,
                 templates: SmartCircuitCache | None = None, tracker: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if templates is None:
            templates = SmartCircuitCache(max_compiled_circuits, tracker=tracker)
        elif not isinstance(templates, SmartCircuitCache):
            raise ConfigError(f"templates must be a SmartCircuitCache, got {templates!r}")
        self.templates = templates
        self.results = ResultCache(max_results, max_bytes=max_result_bytes, ttl=result_ttl,
                                   cache_sampled=cache_sampled, clock=clock)
        self.optimized = OptimizedCircuitCache(
            max_compiled_circuits if max_optimized_circuits is None else max_optimized_circuits)

    # -- the pipeline's result-cache protocol ---------------------------------------------------
    @property
    def cache_sampled(self) -> bool:
        return self.results.cache_sampled

    def get(self, circuit: Circuit, shots: int | None, backend: Hashable, *,
            seed: int | None = None) -> CircuitResult | None:
        return self.results.get(circuit, shots, backend, seed=seed)

    def put(self, circuit: Circuit, shots: int | None, backend: Hashable,
            result: CircuitResult, *, seed: int | None = None) -> bool:
        return self.results.put(circuit, shots, backend, result, seed=seed)

    def lookup(self, key: Hashable) -> Any:
        return self.results.lookup(key)

    def store(self, key: Hashable, value: Any, nbytes: int) -> bool:
        return self.results.store(key, value, nbytes)

    # -- the spec's calls -------------------------------------------------------------------------
    def get_execution_result(self, circuit: Circuit, parameters: object = None,
                             shots: int | None = None, *, inputs: object = None,
                             backend: QuantumBackend | str | None = None,
                             seed: int | None = None) -> CircuitResult | None:
        """The stored result of ``circuit`` bound with weights ``parameters`` (and ``inputs``)
        and run with ``shots`` on ``backend`` (a backend, its name, or None when results of one
        backend only are stored), else None. The angles are computed as the engine computes
        them, so a circuit the trainer ran is found."""
        from q_store.execution.backend_executor import bind_angles

        if not isinstance(circuit, Circuit):
            raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
        bound = circuit
        if circuit.symbols or parameters is not None or inputs is not None:
            angles = parameter_map_for(circuit).angles(resolve_batch(circuit, parameters,
                                                                     inputs))
            if angles.shape[0] != 1:
                raise ValidationError("get_execution_result takes one binding of weights and "
                                      f"inputs, got {angles.shape[0]}")
            bound = bind_angles(circuit, angles[0])
        ident = (backend_identity(backend) if isinstance(backend, QuantumBackend)
                 else self.results.backend_named(backend))
        return self.results.get(bound, shots, ident, seed=seed)

    async def prewarm(self, circuits: Iterable[Circuit], *, pipeline: Any = None,
                      shots: int | None = ...) -> int:  # type: ignore[assignment]
        """Build the templates of ``circuits`` now (in a worker thread: the event loop keeps
        running) and return how many were new. With a ``pipeline`` that uses this cache, the
        bound circuits among them are also run (``shots``: the pipeline's by default), so their
        results are stored."""
        items = list(circuits)
        bad = [type(c).__name__ for c in items if not isinstance(c, Circuit)]
        if bad:
            raise ValidationError(f"prewarm takes Circuits, got {bad[0]}")
        if pipeline is not None and getattr(pipeline, "result_cache", None) is not self:
            raise ConfigError("prewarm(pipeline=...) needs a pipeline built with this cache as "
                              "its result_cache; results run elsewhere would not be stored")
        found = await asyncio.to_thread(lambda: [self.templates.find(c) for c in items])
        bound = [c for c in items if not c.symbols]
        if pipeline is not None and bound:
            await pipeline.run(bound, shots, role="prewarm")
        return sum(not f.hit for f in found)

    def clear(self) -> None:
        """Empty every level and reset the statistics."""
        self.templates.clear()
        self.results.clear()
        self.optimized.clear()

    def get_stats(self) -> dict[str, Any]:
        """The spec's keys over all levels (``hits``, ``misses``, ``hit_rate``,
        ``compiled_circuits``, ``cached_results``), each level's own hit rate and counts,
        and the result memory in MB."""
        t, r, o = (self.templates.get_stats(), self.results.get_stats(),
                   self.optimized.get_stats())
        hits = t["hits"] + r["hits"] + o["hits"]
        misses = t["misses"] + r["misses"] + o["misses"]
        return {"hits": hits, "misses": misses,
                "hit_rate": hits / (hits + misses) if hits + misses else 0.0,
                "compiled_circuits": t["compiled_circuits"],
                "cached_results": r["cached_results"],
                "optimized_circuits": o["optimized_circuits"],
                "template_hit_rate": t["hit_rate"], "result_hit_rate": r["hit_rate"],
                "optimized_hit_rate": o["hit_rate"], "result_hits": r["hits"],
                "result_misses": r["misses"], "evictions": r["evictions"],
                "expired": r["expired"], "memory_mb": r["memory_mb"],
                "build_time_ms": t["build_time_ms"], "bind_time_ms": t["bind_time_ms"]}

    def __repr__(self) -> str:
        return f"QuantumCircuitCache({self.templates!r}, {self.results!r})"
