"""The template cache: a circuit's lowered program and parameter map, built once per circuit
structure and reused for every new binding of weights and inputs (the spec's
``SmartCircuitCache`` / ``QuantumCircuitCache`` compiled-circuit level)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from q_store.circuit.ir import Circuit
from q_store.circuit.params import ParameterMap, parameter_map_for
from q_store.errors import ConfigError
from q_store.sim.program import Program

__all__ = ["CircuitCache", "CompiledCircuit"]


@dataclass(frozen=True)
class CompiledCircuit:
    program: Program
    parameters: ParameterMap


class CircuitCache:
    """LRU cache of compiled circuits keyed by circuit value; ``max_size=0`` disables it (every
    lookup compiles afresh, as with ``enable_circuit_cache=False``)."""

    def __init__(self, max_size: int = 1000) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0:
            raise ConfigError(f"max_size must be a non-negative integer, got {max_size!r}")
        self.max_size = max_size
        self._items: OrderedDict[Circuit, CompiledCircuit] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, circuit: Circuit) -> CompiledCircuit:
        with self._lock:
            item = self._items.get(circuit)
            if item is not None:
                self._items.move_to_end(circuit)
                self.hits += 1
                return item
            self.misses += 1
        item = CompiledCircuit(Program(circuit), parameter_map_for(circuit))
        if self.max_size:
            with self._lock:
                self._items[circuit] = item
                while len(self._items) > self.max_size:
                    self._items.popitem(last=False)
        return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def get_stats(self) -> dict[str, float]:
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses,
                "hit_rate": self.hits / total if total else 0.0,
                "compiled_circuits": len(self._items)}

    def __len__(self) -> int:
        return len(self._items)
