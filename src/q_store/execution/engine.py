"""The execution engine: answers the requests of gradient plans and predictions on one target.

Two strategies behind one ``await engine.run(requests)``:

* the exact local simulator (optionally sampling ``shots``), which also answers adjoint and
  exact-metric requests;
* a backend, through :class:`~q_store.execution.backend_executor.BackendExecutor` and its
  :class:`~q_store.execution.pipeline.CircuitPipeline`: all circuits of a step's requests go
  through the pipeline together (one job where the backend takes batches), then are split back.

Built once by the trainer from its config; the trainer never talks to a backend itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.circuit.params import resolve_batch
from q_store.errors import ConfigError
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.local import answer
from q_store.execution.requests import AdjointRequest, ExpectationRequest, Plan, Request
from q_store.sim.statevector import StatevectorSimulator, parameter_map_for

__all__ = ["ExecutionEngine", "values_request"]


def values_request(circuit: Circuit, observables: tuple[Observable, ...], weights: object,
                   inputs: object, initial_state: np.ndarray | None = None
                   ) -> ExpectationRequest:
    """The request for plain expectation values ``(B, K)`` (predictions, validation)."""
    batch = resolve_batch(circuit, weights, inputs)
    angles = parameter_map_for(circuit).angles(batch)
    rows = batch.size if initial_state is None else max(batch.size, len(initial_state))
    angles = np.ascontiguousarray(np.broadcast_to(angles, (rows, angles.shape[1])))
    return ExpectationRequest(circuit, angles, tuple(observables), initial_state, "values")


def _native_adjoint(executor: BackendExecutor) -> Any:
    """The backend's own exact simulator when it answers adjoint requests (``mock_noisy``:
    the density-matrix simulator's adjoint-channel sweep), else None."""
    from q_store.sim.density import DensityMatrixSimulator

    backend = executor.backend
    sim = getattr(backend, "simulator", None)
    if (executor.shots is None and "adjoint" in backend.capabilities.native_gradients
            and isinstance(sim, DensityMatrixSimulator)):
        return sim
    return None


class ExecutionEngine:
    """Runs requests on the exact local ``simulator`` (``executor`` None) or on a backend
    through ``executor``. ``shots`` samples the local simulator's states (seeded by ``rng``);
    a backend executor has its own shots."""

    def __init__(self, simulator: StatevectorSimulator, *,
                 executor: BackendExecutor | None = None, shots: int | None = None,
                 rng: np.random.Generator | None = None, tracker: Any = None) -> None:
        self.simulator = simulator
        self.executor = executor
        self.tracker = tracker
        self.shots = shots if executor is None else executor.shots
        self.rng = rng if rng is not None else np.random.default_rng()
        self.stats = {"requests": 0, "rows": 0}

    @property
    def backend(self) -> Any:
        """The backend circuits go to; None for the exact local simulator."""
        return None if self.executor is None else self.executor.backend

    async def run(self, requests: Sequence[Request]) -> list[Any]:
        """Answers in request order."""
        self.stats["requests"] += len(requests)
        self.stats["rows"] += sum(r.rows for r in requests)
        if self.executor is not None:
            return await self._run_remote(requests)
        t0 = time.perf_counter()
        out = [answer(r, self.simulator, shots=self.shots, rng=self.rng) for r in requests]
        if self.tracker is not None:
            rows = sum(r.rows for r in requests)
            self.tracker.emit("circuits", role="+".join(sorted({r.role for r in requests})),
                              requested=rows, run=rows, cache_hits=0, deduplicated=0, jobs=0,
                              shots=self.shots, backend="local_simulator", usd=0.0,
                              seconds=time.perf_counter() - t0)
        return out

    async def execute(self, plan: Plan[Any]) -> Any:
        """Run a plan and finish it."""
        return plan.finish(await self.run(plan.requests))

    async def _run_remote(self, requests: Sequence[Request]) -> list[Any]:
        executor = self.executor
        assert executor is not None
        circuits: list[Circuit] = []
        parts: list[Any] = []
        native = _native_adjoint(executor)
        for r in requests:
            if native is not None and isinstance(r, AdjointRequest):
                parts.append(r)  # answered exactly by the backend's own simulator, below
                continue
            if not isinstance(r, ExpectationRequest):
                kind = "adjoint differentiation" if r.role == "gradient" else "the exact metric"
                raise ConfigError(
                    f"{kind} needs the exact local simulator; on backend "
                    f"{executor.backend.name!r} use gradient_method 'parameter_shift', "
                    "'finite_difference', 'spsa' or 'adaptive'")
            bound, finish = executor.circuits_for(r.circuit, r.angles, r.observables,
                                                  r.initial_state)
            parts.append((len(circuits), len(bound), finish))
            circuits += bound
        role = "+".join(sorted({r.role for r in requests}))
        results = await executor.pipeline.run(circuits, role=role) if circuits else []
        t0 = time.perf_counter()
        out = [answer(p, native) if isinstance(p, AdjointRequest)
               else p[2](results[p[0] : p[0] + p[1]]) for p in parts]
        rows = sum(p.rows for p in parts if isinstance(p, AdjointRequest))
        if rows and self.tracker is not None:
            self.tracker.emit("circuits", role="gradient", requested=rows, run=rows,
                              cache_hits=0, deduplicated=0, jobs=0, shots=None,
                              backend=executor.backend.name, usd=0.0,
                              seconds=time.perf_counter() - t0)
        return out

    async def aclose(self) -> None:
        if self.executor is not None:
            await self.executor.aclose()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()
