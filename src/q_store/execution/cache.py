"""Level 1 of the engine's caches: circuit templates built once per structure and bound with new
values many times (the spec's ``SmartCircuitCache``; ``CircuitCache`` is the same class).

The simulator keys a circuit's lowered :class:`Program` and parameter map by the circuit value
(:meth:`SmartCircuitCache.get`); other users build their own template kinds through
:meth:`SmartCircuitCache.lookup` (the backend executor keeps each template's measurement plan
here). A caller that binds after a lookup reports the bind with :meth:`SmartCircuitCache.record`:
the cache adds it to its statistics and, when a tracker is attached, emits one ``template``
event (``hit``, ``build_seconds``, ``bind_seconds``) per call, never per sample.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from threading import Lock
from typing import Any, Generic, TypeVar

from q_store.circuit.ir import Circuit
from q_store.circuit.params import ParameterMap, parameter_map_for
from q_store.errors import ConfigError
from q_store.sim.program import Program

__all__ = ["CircuitCache", "CompiledCircuit", "SmartCircuitCache", "TemplateLookup"]

T = TypeVar("T")


@dataclass(frozen=True)
class CompiledCircuit:
    program: Program
    parameters: ParameterMap


@dataclass(frozen=True)
class TemplateLookup(Generic[T]):
    """A template found (``hit``) or built now (``build_seconds`` spent building it)."""

    template: T
    hit: bool
    build_seconds: float

    @property
    def compiled(self) -> T:  # the simulator's name for its template
        return self.template


def compile_circuit(circuit: Circuit) -> CompiledCircuit:
    return CompiledCircuit(Program(circuit), parameter_map_for(circuit))


class SmartCircuitCache:
    """LRU cache of circuit templates; ``max_size=0`` disables it (every lookup builds afresh,
    as with ``enable_circuit_cache=False``). ``tracker`` (``emit(event, **fields)``, optional)
    receives one ``template`` event per recorded bind."""

    def __init__(self, max_size: int = 1000, *, tracker: Any = None) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0:
            raise ConfigError(f"max_size must be a non-negative integer, got {max_size!r}")
        self.max_size = max_size
        self.tracker = tracker
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0
        self.build_seconds = 0.0
        self.binds = 0
        self.bind_seconds = 0.0

    def lookup(self, key: Hashable, build: Callable[[], T]) -> TemplateLookup[T]:
        """The template under ``key``, built by ``build()`` (and timed) when absent."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return TemplateLookup(item, True, 0.0)
            self.misses += 1
        t0 = time.perf_counter()
        item = build()
        seconds = time.perf_counter() - t0
        with self._lock:
            self.build_seconds += seconds
            if self.max_size:
                self._items[key] = item
                while len(self._items) > self.max_size:
                    self._items.popitem(last=False)
        return TemplateLookup(item, False, seconds)

    def find(self, circuit: Circuit) -> TemplateLookup[CompiledCircuit]:
        """The simulator's compiled template of ``circuit``."""
        return self.lookup(circuit, lambda: compile_circuit(circuit))

    def get(self, circuit: Circuit) -> CompiledCircuit:
        return self.find(circuit).template

    def record(self, found: TemplateLookup[Any], bind_seconds: float) -> None:
        """One bind of a looked-up template: statistics, and a ``template`` event."""
        with self._lock:
            self.binds += 1
            self.bind_seconds += bind_seconds
        tracker = self.tracker
        if tracker is not None:
            tracker.emit("template", hit=found.hit, build_seconds=found.build_seconds,
                         bind_seconds=bind_seconds)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = self.binds = 0
            self.build_seconds = self.bind_seconds = 0.0

    def get_stats(self) -> dict[str, float | None]:
        """Lookups (``hits``/``misses``, ``hit_rate``, also as ``template_hit_rate``), templates
        held (``compiled_circuits``) and mean build and bind times in milliseconds (None until
        something was built or bound)."""
        with self._lock:
            total = self.hits + self.misses
            rate = self.hits / total if total else 0.0
            return {"hits": self.hits, "misses": self.misses, "hit_rate": rate,
                    "template_hit_rate": rate, "compiled_circuits": len(self._items),
                    "build_time_ms": (1000 * self.build_seconds / self.misses
                                      if self.misses else None),
                    "bind_time_ms": (1000 * self.bind_seconds / self.binds
                                     if self.binds else None)}

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (f"SmartCircuitCache(max_size={self.max_size}, templates={len(self._items)}, "
                f"hits={self.hits}, misses={self.misses})")


CircuitCache = SmartCircuitCache  # the v3.3 name
