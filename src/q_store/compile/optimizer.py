"""``AdaptiveCircuitOptimizer``: the circuit-optimisation stage of the execution pipeline.

It runs the passes of :mod:`q_store.compile.optimize` that the configuration selects on every
bound circuit before it is sent to a backend ("adaptive": what it removes depends on the bound
values, e.g. layers whose angles are still zero, rotations that add up to the identity):

- ``gate_merging``: same-generator rotations merged, one-qubit runs fused;
- ``identity_removal``: gates that are the identity up to phase dropped;
- ``entanglement_pruning``: inverse pairs cancelled, identity entanglers (controlled rotations at
  zero angle ...) dropped, diagonal gates that only precede basis permutations before the
  measurement dropped, and, where the executor knows which wires are read, gates outside their
  light cone (:meth:`AdaptiveCircuitOptimizer.restrict_to_measured`);
- ``virtual_z``: the target compiles to IonQ native gates, where one-qubit Z rotations are free
  frame changes; final one-qubit diagonal gates are then left to that compiler (removing them
  first can change its greedy pulse choices and cost a GPI2), multi-qubit ones still go;
- ``pruning_tolerance`` (radians, None by default): also drop two-qubit rotations that close to
  the identity. This is the only rewrite that changes results; each circuit's fidelity loss
  ``1 - |<psi|psi_pruned>|^2`` is simulated and reported.

Everything else is exact: probabilities are unchanged (up to rounding, about 1e-15), so
results, losses and gradients are the same as without the stage, with fewer gates sent, billed
and exposed to noise. The pipeline calls :func:`optimization_stage` once per batch of circuits
and reports the gate counts before and after as a tracker event ``optimization``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from q_store.circuit.ir import Circuit
from q_store.compile.optimize import (
    cancel_and_merge,
    drop_small_entanglers,
    fuse_runs,
    prune_light_cone,
    remove_final_diagonal,
    remove_identities,
    state_fidelity,
)
from q_store.errors import ConfigError

__all__ = ["AdaptiveCircuitOptimizer", "OptimizationResult", "optimization_stage"]

_MAX_ROUNDS = 8


@dataclass(frozen=True)
class OptimizationResult:
    """One circuit before and after: gate counts, and the fidelity loss where approximate
    pruning removed something (None: the rewrite is exact)."""

    circuit: Circuit
    gates_before: int
    gates_after: int
    two_qubit_before: int
    two_qubit_after: int
    fidelity_loss: float | None = None


class AdaptiveCircuitOptimizer:
    """Selected passes over bound circuits; ``optimizer(circuit)`` is the pipeline stage.

    Stateless apart from cumulative :attr:`stats` (guarded by a lock), so one instance can
    serve concurrent pipeline calls."""

    def __init__(self, *, gate_merging: bool = True, identity_removal: bool = True,
                 entanglement_pruning: bool = True, pruning_tolerance: float | None = None,
                 virtual_z: bool = False) -> None:
        for name, v in (("gate_merging", gate_merging), ("identity_removal", identity_removal),
                        ("entanglement_pruning", entanglement_pruning),
                        ("virtual_z", virtual_z)):
            if not isinstance(v, bool):
                raise ConfigError(f"{name} must be True or False, got {v!r}")
        if pruning_tolerance is not None:
            ok = isinstance(pruning_tolerance, (int, float)) and not isinstance(
                pruning_tolerance, bool) and 0.0 < pruning_tolerance <= math.pi
            if not ok:
                raise ConfigError(f"pruning_tolerance must be None or an angle in (0, pi] "
                                  f"radians, got {pruning_tolerance!r}")
            if not entanglement_pruning:
                raise ConfigError("pruning_tolerance drops small entanglers, part of "
                                  "entanglement_pruning; set entanglement_pruning=True")
        self.gate_merging = gate_merging
        self.identity_removal = identity_removal
        self.entanglement_pruning = entanglement_pruning
        self.pruning_tolerance = None if pruning_tolerance is None else float(pruning_tolerance)
        self.virtual_z = virtual_z
        self._lock = threading.Lock()
        self.stats: dict[str, float] = {"circuits": 0, "gates_before": 0, "gates_after": 0,
                                        "two_qubit_before": 0, "two_qubit_after": 0,
                                        "light_cone_removed": 0, "approximate_circuits": 0,
                                        "max_fidelity_loss": 0.0}

    @classmethod
    def from_config(cls, config: Any, *, virtual_z: bool = False) -> AdaptiveCircuitOptimizer:
        """The passes a :class:`~q_store.ml.config.TrainingConfig` selects (``virtual_z``:
        the target compiles to IonQ native gates)."""
        return cls(gate_merging=config.gate_merging, identity_removal=config.identity_removal,
                   entanglement_pruning=config.entanglement_pruning,
                   pruning_tolerance=config.pruning_tolerance, virtual_z=virtual_z)

    @property
    def exact(self) -> bool:
        """Whether every rewrite leaves the measured probabilities unchanged."""
        return self.pruning_tolerance is None

    def __repr__(self) -> str:
        return (f"AdaptiveCircuitOptimizer(gate_merging={self.gate_merging}, "
                f"identity_removal={self.identity_removal}, "
                f"entanglement_pruning={self.entanglement_pruning}, "
                f"pruning_tolerance={self.pruning_tolerance}, virtual_z={self.virtual_z})")

    # -- the passes -------------------------------------------------------------------------------
    def optimize(self, circuit: Circuit) -> OptimizationResult:
        """The circuit with the selected passes applied until nothing changes."""
        out, loss = circuit, None
        if self.pruning_tolerance is not None:
            pruned = drop_small_entanglers(circuit, self.pruning_tolerance)
            if pruned is not circuit:
                loss = max(0.0, 1.0 - state_fidelity(circuit, pruned))
                out = pruned
        for _ in range(_MAX_ROUNDS):
            out, again = self._round(out)
            if not again:
                break
        result = OptimizationResult(out, len(circuit), len(out), circuit.num_two_qubit_gates,
                                    out.num_two_qubit_gates, loss)
        self._record(result)
        return result

    def _round(self, c: Circuit) -> tuple[Circuit, bool]:
        """One pass of each selected rewrite, and whether another round may find more.
        Identity removal and cancelling/merging (which cascades) reach their fixed point in
        one pass; only a fused run that vanished (two-qubit gates become adjacent) or a
        dropped multi-qubit diagonal gate (runs join) can give them new work."""
        again = False
        if self.identity_removal or self.entanglement_pruning:  # pruning: entanglers only
            c = remove_identities(c, min_wires=1 if self.identity_removal else 2)
        if self.gate_merging or self.entanglement_pruning:
            c = cancel_and_merge(c, cancel=self.entanglement_pruning, merge=self.gate_merging)
        if self.gate_merging:
            c, again = fuse_runs(c)
        if self.entanglement_pruning:
            two = c.num_two_qubit_gates
            c = remove_final_diagonal(c, min_wires=2 if self.virtual_z else 1)
            again = again or c.num_two_qubit_gates < two
        return c, again

    def __call__(self, circuit: Circuit) -> Circuit:
        return self.optimize(circuit).circuit

    def restrict_to_measured(self, circuit: Circuit, measured: Iterable[int]) -> Circuit:
        """``circuit`` without the gates outside the light cone of the ``measured`` wires
        (when entanglement pruning is on): exact for the marginal of those wires, which is
        all the caller may read from the result."""
        if not self.entanglement_pruning:
            return circuit
        out = prune_light_cone(circuit, measured)
        if out is not circuit:
            with self._lock:
                self.stats["light_cone_removed"] += len(circuit) - len(out)
        return out

    def _record(self, r: OptimizationResult) -> None:
        with self._lock:
            s = self.stats
            s["circuits"] += 1
            s["gates_before"] += r.gates_before
            s["gates_after"] += r.gates_after
            s["two_qubit_before"] += r.two_qubit_before
            s["two_qubit_after"] += r.two_qubit_after
            if r.fidelity_loss is not None:
                s["approximate_circuits"] += 1
                s["max_fidelity_loss"] = max(s["max_fidelity_loss"], r.fidelity_loss)

    def get_stats(self) -> dict[str, float]:
        """Cumulative counts: circuits, gates and two-qubit gates before and after, gates
        removed by light-cone pruning, circuits changed by approximate pruning and the largest
        fidelity loss."""
        with self._lock:
            return dict(self.stats)


def optimization_stage(optimizer: Any, circuits: Sequence[Circuit]
                       ) -> tuple[list[Circuit], dict[str, Any] | None]:
    """The pipeline's optimisation stage: the circuits to run and the fields of its
    ``optimization`` event (None when there is no optimizer). ``optimizer`` is an
    :class:`AdaptiveCircuitOptimizer` or any callable circuit -> equivalent circuit."""
    if optimizer is None or not circuits:
        return list(circuits), None
    if isinstance(optimizer, AdaptiveCircuitOptimizer):
        results = [optimizer.optimize(c) for c in circuits]
    else:
        results = [OptimizationResult(o, len(c), len(o), c.num_two_qubit_gates,
                                      o.num_two_qubit_gates)
                   for c in circuits for o in (optimizer(c),)]
    losses = [r.fidelity_loss for r in results if r.fidelity_loss is not None]
    summary: dict[str, Any] = {
        "circuits": len(results),
        "gates_before": sum(r.gates_before for r in results),
        "gates_after": sum(r.gates_after for r in results),
        "two_qubit_before": sum(r.two_qubit_before for r in results),
        "two_qubit_after": sum(r.two_qubit_after for r in results),
        "exact": not losses,
    }
    if losses:
        summary.update(approximate_circuits=len(losses), max_fidelity_loss=max(losses),
                       mean_fidelity_loss=sum(losses) / len(losses))
    return [r.circuit for r in results], summary
