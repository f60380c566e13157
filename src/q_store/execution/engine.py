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
from dataclasses import replace
from typing import Any

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.circuit.params import resolve_batch
from q_store.errors import ConfigError
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.local import answer
from q_store.execution.requests import AdjointRequest, ExpectationRequest, Plan, Request
from q_store.execution.result_cache import array_digest
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


_DEFAULT: Any = object()


def _native_adjoint(executor: BackendExecutor, shots: int | None) -> Any:
    """The backend's own exact simulator when it answers adjoint requests (``mock_noisy``:
    the density-matrix simulator's adjoint-channel sweep), else None."""
    from q_store.sim.density import DensityMatrixSimulator

    backend = executor.backend
    sim = getattr(backend, "simulator", None)
    if (shots is None and "adjoint" in backend.capabilities.native_gradients
            and isinstance(sim, DensityMatrixSimulator)):
        return sim
    return None


class ExecutionEngine:
    """Runs requests on the exact local ``simulator`` (``executor`` None) or on a backend
    through ``executor``. ``shots`` samples the local simulator's states (seeded by ``rng``);
    a backend executor has its own shots. ``result_cache`` (``lookup``/``store``, e.g. a
    :class:`~q_store.execution.circuit_cache.QuantumCircuitCache`) reuses the local exact
    answers of identical expectation requests (same circuit, angles, observables and initial
    state); sampled answers are never reused. ``batch_manager``: the manager whose pipeline the
    executor runs (for its statistics). ``shot_allocator`` (an
    :class:`~q_store.execution.shots.AdaptiveShotAllocator`) decides the shots of every plan
    :meth:`execute` runs, when the engine samples."""

    def __init__(self, simulator: StatevectorSimulator, *,
                 executor: BackendExecutor | None = None, shots: int | None = None,
                 rng: np.random.Generator | None = None, tracker: Any = None,
                 result_cache: Any = None, batch_manager: Any = None,
                 shot_allocator: Any = None) -> None:
        self.simulator = simulator
        self.executor = executor
        self.tracker = tracker
        self.result_cache = result_cache
        self.batch_manager = batch_manager
        self.shots = shots if executor is None else executor.shots
        self.rng = rng if rng is not None else np.random.default_rng()
        self.shot_allocator = shot_allocator if self.shots is not None else None
        self.stats = {"requests": 0, "rows": 0}

    @property
    def circuit_cache(self) -> Any:
        """The result cache on this engine's path (local or in the backend pipeline)."""
        if self.result_cache is not None or self.executor is None:
            return self.result_cache
        return self.executor.pipeline.result_cache

    @property
    def exact(self) -> bool:
        """Whether answers are exact state-vector results (adjoint and exact-metric requests
        can be answered): the local simulator without shots."""
        return self.executor is None and self.shots is None

    @property
    def plan_shots(self) -> int | None:
        """The shots the next plan runs with: the allocator's choice, else ``shots``."""
        return self.shots if self.shot_allocator is None else int(self.shot_allocator.shots)

    @property
    def backend(self) -> Any:
        """The backend circuits go to; None for the exact local simulator."""
        return None if self.executor is None else self.executor.backend

    async def run(self, requests: Sequence[Request], *, shots: int | None = _DEFAULT
                  ) -> list[Any]:
        """Answers in request order; ``shots`` overrides the engine's for this call."""
        shots = self.shots if shots is _DEFAULT else shots
        rows = sum(r.rows for r in requests)
        self.stats["requests"] += len(requests)
        self.stats["rows"] += rows
        if self.executor is not None:
            return await self._run_remote(requests, shots)
        t0 = time.perf_counter()
        out, hits = [], 0
        for r in requests:
            key = self._cache_key(r, shots)
            value = None if key is None else self.result_cache.lookup(key)
            if value is not None:
                hits += r.rows
                out.append(value.copy())
                continue
            value = answer(r, self.simulator, shots=shots, rng=self.rng)
            if key is not None:
                kept = np.array(value)
                kept.flags.writeable = False
                self.result_cache.store(key, kept, kept.nbytes + 256)
            out.append(value)
        if self.tracker is not None:
            self.tracker.emit("circuits", role="+".join(sorted({r.role for r in requests})),
                              requested=rows, run=rows - hits, cache_hits=hits, deduplicated=0,
                              jobs=0, shots=shots, backend="local_simulator", usd=0.0,
                              seconds=time.perf_counter() - t0)
            if self.result_cache is not None and hasattr(self.result_cache, "get_stats"):
                stats = self.result_cache.get_stats()
                self.tracker.emit("cache", level="results", entries=stats["cached_results"],
                                  memory_mb=stats["memory_mb"])
        return out

    def _cache_key(self, r: Request, shots: int | None) -> tuple[Any, ...] | None:
        """The key of a local exact expectation answer (None: not cacheable)."""
        if self.result_cache is None or shots is not None or not isinstance(
                r, ExpectationRequest):
            return None
        state = None if r.initial_state is None else np.asarray(r.initial_state)
        return ("local-exact", r.circuit, array_digest(np.asarray(r.angles)), r.observables,
                array_digest(state))

    async def execute(self, plan: Plan[Any], *, shots: int | None = _DEFAULT) -> Any:
        """Run a plan and finish it, with the allocator's shots (or ``shots``). Where the
        allocator decides, the gradient result carries its shot-noise variance
        (``shot_variance``) for the allocator's next decision."""
        shots = self.plan_shots if shots is _DEFAULT else shots
        answers = await self.run(plan.requests, shots=shots)
        result = plan.finish(answers)
        allocator = self.shot_allocator
        if allocator is not None and shots is not None and getattr(result, "weights",
                                                                   None) is not None:
            result = replace(result, shot_variance=allocator.variance(plan, answers, result,
                                                                      shots))
        return result

    async def _run_remote(self, requests: Sequence[Request], shots: int | None) -> list[Any]:
        executor = self.executor
        assert executor is not None
        circuits: list[Circuit] = []
        parts: list[Any] = []
        native = _native_adjoint(executor, shots)
        for r in requests:
            if native is not None and isinstance(r, AdjointRequest):
                parts.append(r)  # answered exactly by the backend's own simulator, below
                continue
            if not isinstance(r, ExpectationRequest):
                kind = "adjoint differentiation" if r.role == "gradient" else "the exact metric"
                raise ConfigError(
                    f"{kind} needs the exact local simulator; on backend "
                    f"{executor.backend.name!r} use gradient_method 'parameter_shift', "
                    "'finite_difference', 'spsa' or 'adaptive' (natural gradient: "
                    "metric 'block_diagonal' or 'spsa')")
            bound, finish = executor.circuits_for(r.circuit, r.angles, r.observables,
                                                  r.initial_state)
            parts.append((len(circuits), len(bound), finish))
            circuits += bound
        role = "+".join(sorted({r.role for r in requests}))
        results = await executor.pipeline.run(circuits, shots, role=role) if circuits else []
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
