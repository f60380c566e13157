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
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import numpy as np

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.backends.cost import CostBudget, CostEstimate
from q_store.circuit.expr import Const
from q_store.circuit.ir import Circuit, Operation
from q_store.circuit.observables import Observable
from q_store.circuit.params import resolve_batch
from q_store.errors import ConfigError, JobFailedError, ValidationError
from q_store.execution.measurement import measurement_plan
from q_store.sim.statevector import _as_observables, normalize_state, parameter_map_for

__all__ = ["BackendExecutor", "bind_angles"]

T = TypeVar("T")


def bind_angles(circuit: Circuit, angles: np.ndarray) -> Circuit:
    """``circuit`` with its gate parameters (in ``param_exprs`` order) set to ``angles``."""
    it = iter(float(a) for a in angles)
    ops = tuple(Operation(op.gate, op.wires, tuple(Const(next(it)) for _ in op.params))
                for op in circuit.operations)
    return Circuit(circuit.n_qubits, ops)


class _LoopThread:
    """A private event loop in a daemon thread: synchronous callers (gradient methods) run
    backend coroutines there, whether or not their own thread has a running loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="q_store-backend-loop")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
        self.loop.close()


class BackendExecutor:
    """Runs angle batches on ``backend``.

    ``shots``: None asks for exact probabilities (only backends with exact expectations);
    ``budget``: a :class:`CostBudget` checked before every submission; ``batch_jobs``: all
    circuits of a call in one job (when the backend takes multi-circuit jobs) or one job per
    circuit; ``timeout``: seconds to wait for a job; ``retries``: resubmissions of a job that
    failed on the backend.
    """

    def __init__(self, backend: QuantumBackend, shots: int | None = None, *,
                 seed: int | None = None, budget: CostBudget | None = None,
                 batch_jobs: bool = True, timeout: float | None = None,
                 retries: int = 0) -> None:
        if not isinstance(backend, QuantumBackend):
            raise ConfigError(f"expected a QuantumBackend, got {type(backend).__name__}")
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
        self._seed = np.random.default_rng(seed)
        self._loop: _LoopThread | None = None
        self.stats = {"circuits": 0, "jobs": 0, "usd": 0.0, "retried_jobs": 0}

    def __repr__(self) -> str:
        return (f"BackendExecutor(backend={self.backend!r}, shots={self.shots}, "
                f"budget={self.budget!r})")

    # -- the AngleExecutor contract -------------------------------------------------------------
    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], *,
                           initial_state: object = None, **options: Any) -> np.ndarray:
        """``<O_k>`` for each row of ``angles (R, n_params)``: ``(R, K)``."""
        obs, _ = _as_observables(observables)
        angles = np.atleast_2d(np.asarray(angles, dtype=float))
        if angles.shape[1] != circuit.num_gate_params or not np.all(np.isfinite(angles)):
            raise ValidationError(f"angles must be finite with shape (R, "
                                  f"{circuit.num_gate_params}), got {angles.shape}")
        prefixes = self._state_preparations(initial_state, circuit.n_qubits, len(angles))
        plan = measurement_plan(obs, circuit.n_qubits)
        circuits = []
        for i, row in enumerate(angles):
            bound = bind_angles(circuit, row)
            if prefixes is not None:
                bound = prefixes[i].compose(bound)
            circuits += plan.circuits(bound)
        results = self.run(circuits)
        probs = np.array([r.probabilities for r in results]).reshape(
            len(angles), len(plan.bases), 2**circuit.n_qubits)
        return plan.expectations([probs[:, j] for j in range(len(plan.bases))])

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

    def run(self, circuits: Sequence[Circuit]) -> list[CircuitResult]:
        """Run bound circuits after charging their estimated cost to the budget."""
        estimate = self.estimate(circuits)
        self.budget.charge(estimate)  # raises before anything is submitted
        if self._loop is None:
            self._loop = _LoopThread()
        results = self._loop.run(self._run(list(circuits)))
        self.stats["circuits"] += len(circuits)
        self.stats["usd"] += estimate.usd
        return results

    async def _run(self, circuits: list[Circuit]) -> list[CircuitResult]:
        groups = ([circuits] if self.batch_jobs and self.backend.capabilities.batch_jobs
                  else [[c] for c in circuits])
        parts = await asyncio.gather(*(self._job(g) for g in groups))
        return [r for part in parts for r in part]

    async def _job(self, circuits: list[Circuit]) -> list[CircuitResult]:
        for attempt in range(self.retries + 1):
            seed = int(self._seed.integers(2**31))
            job = await self.backend.submit_job_async(circuits, self.shots, seed=seed)
            self.stats["jobs"] += 1
            try:
                result = await self.backend.get_job_result(job, timeout=self.timeout)
                return list(result.circuits)
            except JobFailedError:
                if attempt == self.retries:
                    raise
                self.stats["retried_jobs"] += 1
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the backend's connections and the private event loop."""
        if self._loop is not None:
            self._loop.run(self.backend.close())
            self._loop.close()
            self._loop = None
