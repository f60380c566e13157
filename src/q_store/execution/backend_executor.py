"""Expectation values on any :class:`~q_store.backends.QuantumBackend`.

:class:`BackendExecutor` is the bridge between gradient methods (which ask for ``<O_k>`` at
explicit gate angles, the ``AngleExecutor`` contract) and the async backends: it binds each
angle row into a circuit, adds the measurement-basis changes the observables need, checks the
cost against the budget before anything is submitted, runs the circuits as one job (or one
job per circuit), and turns the measured probabilities back into expectation values.
Amplitude-encoded inputs become a state-preparation circuit in front of each sample's circuit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import numpy as np

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.backends.cost import CostBudget, CostEstimate
from q_store.circuit.expr import Const
from q_store.circuit.ir import Circuit, Operation
from q_store.circuit.observables import Observable
from q_store.circuit.params import resolve_batch
from q_store.errors import ConfigError, NotSupportedError, ValidationError
from q_store.execution.measurement import measurement_plan
from q_store.execution.pipeline import CircuitPipeline, FixedBatches, SingleBackend
from q_store.sim.statevector import _as_observables, normalize_state, parameter_map_for

__all__ = ["BackendExecutor", "bind_angles", "run_sync"]

T = TypeVar("T")


def bind_angles(circuit: Circuit, angles: np.ndarray) -> Circuit:
    """``circuit`` with its gate parameters (in ``param_exprs`` order) set to ``angles``."""
    it = iter(float(a) for a in angles)
    ops = tuple(Operation(op.gate, op.wires, tuple(Const(next(it)) for _ in op.params))
                for op in circuit.operations)
    return Circuit(circuit.n_qubits, ops)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code. Inside a running event loop use the
    ``*_async`` method instead: blocking the loop there would deadlock it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise NotSupportedError("this synchronous call cannot run inside a running event loop; "
                            "await the matching *_async method (or trainer.train) instead")


class BackendExecutor:
    """Runs angle batches on ``backend`` through a :class:`CircuitPipeline`.

    ``shots``: None asks for exact probabilities (only backends with exact expectations);
    ``budget``: a :class:`CostBudget` checked before every submission; ``batch_jobs``: all
    circuits of a call in one job (when the backend takes multi-circuit jobs) or one job per
    circuit; ``timeout``: seconds to wait for a job; ``retries``: resubmissions of a job that
    failed on the backend; ``templates``: a
    :class:`~q_store.execution.cache.SmartCircuitCache` that keeps each circuit template's
    measurement plan and times the binding of angle rows (``template`` events);
    ``prune(circuit, measured_wires)``: an optional rewrite that may drop gates the measured
    wires cannot see (light-cone pruning, see
    :meth:`~q_store.compile.AdaptiveCircuitOptimizer.restrict_to_measured`), applied to each
    circuit with the wires its observables read. The ``*_async`` methods await the backend on
    the caller's event loop; the plain ones run them to completion (outside any running loop).
    """

    def __init__(self, backend: QuantumBackend, shots: int | None = None, *,
                 seed: int | None = None, budget: CostBudget | None = None,
                 batch_jobs: bool = True, timeout: float | None = None,
                 retries: int = 0, pipeline: CircuitPipeline | None = None,
                 templates: Any = None,
                 prune: Callable[[Circuit, frozenset[int]], Circuit] | None = None) -> None:
        if not isinstance(backend, QuantumBackend) and (
                pipeline is None or pipeline.submitter is not backend):
            raise ConfigError(f"expected a QuantumBackend (or the pipeline's own submitter, "
                              f"e.g. a MultiBackendOrchestrator), got {type(backend).__name__}")
        if shots is None and not backend.capabilities.exact_expectations:
            raise ConfigError(f"backend {backend.name!r} only samples; set shots (e.g. "
                              "TrainingConfig(shots=1000))")
        if not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"retries must be a non-negative integer, got {retries!r}")
        self.backend = backend
        self.shots = shots
        self.budget = budget if budget is not None else CostBudget(None)
        self.batch_jobs = batch_jobs
        self.timeout = timeout
        self.retries = retries
        if pipeline is None:
            max_size = None if batch_jobs and backend.capabilities.batch_jobs else 1
            pipeline = CircuitPipeline(
                SingleBackend(backend, timeout=timeout, retries=retries), shots=shots,
                budget=self.budget, seed=seed,
                batching=FixedBatches(one_job=max_size is None, max_size=max_size))
        self.pipeline = pipeline
        self.templates = templates
        self.prune = prune

    @property
    def stats(self) -> dict[str, float]:
        """Circuits run, jobs submitted (retries included), dollars charged, jobs retried."""
        p = self.pipeline.stats
        sub = getattr(self.pipeline.submitter, "stats", {})
        return {"circuits": p["circuits"], "jobs": sub.get("jobs", p["jobs"]),
                "usd": p["usd"], "retried_jobs": sub.get("retried_jobs", 0)}

    def __repr__(self) -> str:
        return (f"BackendExecutor(backend={self.backend!r}, shots={self.shots}, "
                f"budget={self.budget!r})")

    # -- the AngleExecutor contract -------------------------------------------------------------
    def circuits_for(self, circuit: Circuit, angles: np.ndarray,
                     observables: tuple[Observable, ...], initial_state: object = None
                     ) -> tuple[list[Circuit], Callable[[Sequence[CircuitResult]], np.ndarray]]:
        """The bound circuits (every angle row in every measurement basis) and how to turn
        their results into ``(R, K)`` expectations."""
        obs, _ = _as_observables(observables)
        angles = np.atleast_2d(np.asarray(angles, dtype=float))
        if angles.shape[1] != circuit.num_gate_params or not np.all(np.isfinite(angles)):
            raise ValidationError(f"angles must be finite with shape (R, "
                                  f"{circuit.num_gate_params}), got {angles.shape}")
        prefixes = self._state_preparations(initial_state, circuit.n_qubits, len(angles))
        found = None
        if self.templates is None:
            plan = measurement_plan(obs, circuit.n_qubits)
        else:  # the template: its measurement plan, built once per circuit and observables
            found = self.templates.lookup(("measurement", circuit, obs),
                                          lambda: measurement_plan(obs, circuit.n_qubits))
            plan = found.template
        t0 = time.perf_counter()
        circuits = []
        for i, row in enumerate(angles):
            bound = bind_angles(circuit, row)
            if prefixes is not None:
                bound = prefixes[i].compose(bound)
            if self.prune is None:
                circuits += plan.circuits(bound)
            else:
                circuits += [self.prune(c, wires) for c, wires in
                             zip(plan.circuits(bound), plan.measured_wires, strict=True)]
        if found is not None:
            self.templates.record(found, time.perf_counter() - t0)  # type: ignore[union-attr]
        rows, n_bases, dim = len(angles), len(plan.bases), 2**circuit.n_qubits

        def expectations(results: Sequence[CircuitResult]) -> np.ndarray:
            probs = np.array([r.probabilities for r in results]).reshape(rows, n_bases, dim)
            return plan.expectations([probs[:, j] for j in range(n_bases)])

        return circuits, expectations

    async def expectation_angles_async(self, circuit: Circuit, angles: np.ndarray,
                                       observables: tuple[Observable, ...], *,
                                       initial_state: object = None, role: str = "values"
                                       ) -> np.ndarray:
        """``<O_k>`` for each row of ``angles (R, n_params)``: ``(R, K)``."""
        circuits, expectations = self.circuits_for(circuit, angles, observables, initial_state)
        return expectations(await self.pipeline.run(circuits, role=role))

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], *,
                           initial_state: object = None, **options: Any) -> np.ndarray:
        """Synchronous :meth:`expectation_angles_async`."""
        return run_sync(self.expectation_angles_async(circuit, angles, observables,
                                                      initial_state=initial_state))

    def expectation(self, circuit: Circuit, observables: Observable | Sequence[Observable],
                    weights: object = None, inputs: object = None,
                    initial_state: object = None) -> np.ndarray:
        """``(B, K)`` expectation values for weights/inputs, like the simulator's."""
        batch = resolve_batch(circuit, weights, inputs)
        angles = parameter_map_for(circuit).angles(batch)
        rows = max(batch.size, 1)
        if initial_state is not None:
            rows = max(rows, np.atleast_2d(np.asarray(initial_state)).shape[0])
        if angles.shape[0] == 1 and rows > 1:
            angles = np.repeat(angles, rows, axis=0)
        obs, _ = _as_observables(observables)
        return self.expectation_angles(circuit, angles, obs, initial_state=initial_state)

    # -- running ---------------------------------------------------------------------------------
    @staticmethod
    def _state_preparations(initial_state: object, n: int, rows: int) -> list[Circuit] | None:
        if initial_state is None:
            return None
        from q_store.ml._state_prep import prepare_state_circuit

        states = np.atleast_2d(normalize_state(initial_state, n))
        if states.shape[0] == 1 and rows > 1:
            states = np.repeat(states, rows, axis=0)
        if states.shape[0] != rows:
            raise ValidationError(f"initial_state has {states.shape[0]} rows for {rows} "
                                  "angle rows")
        return [prepare_state_circuit(s) for s in states]

    def estimate(self, circuits: Sequence[Circuit]) -> CostEstimate:
        return self.backend.estimate_cost(circuits, self.shots)

    async def run_async(self, circuits: Sequence[Circuit]) -> list[CircuitResult]:
        """Run bound circuits after charging their estimated cost to the budget."""
        return await self.pipeline.run(circuits)

    def run(self, circuits: Sequence[Circuit]) -> list[CircuitResult]:
        return run_sync(self.run_async(circuits))

    async def aclose(self) -> None:
        """Close the backend's connections."""
        await self.pipeline.close()

    def close(self) -> None:
        """Close the backend's connections (from synchronous code)."""
        run_sync(self.aclose())
