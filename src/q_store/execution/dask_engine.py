"""The execution engine on a Dask cluster (``TrainingConfig(executor="dask")``).

Exact local simulation: every request of a call is cut into slices of rows (an
ExpectationRequest's angle rows, an AdjointRequest's or MetricRequest's samples), each slice one
Dask task; the circuit template and observables are scattered to every worker once (a
broadcast value, compiled once per worker), so a task carries only its rows. Results come back
in order and equal the local engine's bit for bit: rows are independent in the simulator, a
slice is never cut below the batch size at which the simulator changes strategy, and shot
sampling stays on the client, drawing from the engine's generator in request order (the
workers return the exact probabilities it samples). A loss's cotangent needs all values first,
so an AdjointRequest with one takes two rounds (values, then the backward sweeps), as locally.

Data-parallel training is this engine's adjoint path: a step's batch is sharded over the
workers and the per-sample gradients are reduced on the client, so the trainer is unchanged.

Backends: the pipeline's jobs run as Dask tasks (:mod:`q_store.execution.dask_submit`).

A worker that dies loses no rows: the scheduler re-runs its tasks elsewhere; a task that raised
is re-run ``retries`` times.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit.params import resolve_batch
from q_store.errors import ValidationError
from q_store.execution import dask_tasks as tasks
from q_store.execution.engine import _DEFAULT, ExecutionEngine
from q_store.execution.local import _exact_simulator
from q_store.execution.requests import AdjointRequest, ExpectationRequest, MetricRequest, Request
from q_store.sim.adjoint import AdjointResult
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["DaskEngine", "dask_engine_from_config", "row_bounds", "submit_spread"]

_TEMPLATES_KEPT = 64  # scattered templates an engine keeps referenced


def row_bounds(rows: int, per_task: int, min_rows: int) -> list[tuple[int, int]]:
    """Balanced ``[start, stop)`` slices of about ``per_task`` rows; never a slice under
    ``min_rows`` when the whole has that many (the simulator's strategy depends on it)."""
    parts = max(1, math.ceil(rows / max(1, per_task)))
    if rows >= min_rows > 0:
        parts = min(parts, rows // min_rows)
    edges = [rows * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _rows(arr: Any, a: int, b: int) -> Any:
    """Rows ``a:b`` of a per-sample array; a broadcast one (one row, or none) as it is."""
    if arr is None:
        return None
    arr = np.asarray(arr)
    return arr if arr.ndim < 2 or arr.shape[0] == 1 else arr[a:b]


class DaskEngine(ExecutionEngine):
    """An :class:`ExecutionEngine` whose circuit runs are Dask tasks on ``client``'s cluster.

    ``chunk_rows``: rows per task (None: each request split evenly over the workers);
    ``retries``: re-runs of a task that raised."""

    def __init__(self, simulator: StatevectorSimulator, *, client: Any, executor: Any = None,
                 shots: int | None = None, rng: np.random.Generator | None = None,
                 tracker: Any = None, chunk_rows: int | None = None, retries: int = 2,
                 **engine_options: Any) -> None:
        super().__init__(simulator, executor=executor, shots=shots, rng=rng, tracker=tracker,
                         **engine_options)
        self.client = client
        self.chunk_rows = chunk_rows
        self.retries = retries
        self._templates: OrderedDict[Any, Any] = OrderedDict()
        self.stats.update(tasks=0, rounds=0)

    async def run(self, requests: Sequence[Request], *, shots: int | None = _DEFAULT
                  ) -> list[Any]:
        shots = self.shots if shots is _DEFAULT else shots
        if self.executor is not None:  # a backend: the pipeline's submitter runs the jobs
            return await super().run(requests, shots=shots)
        requests = list(requests)
        for r in requests:
            if isinstance(r, ExpectationRequest):
                _check_angles(r)
            else:
                _exact_simulator(self.simulator, r, shots)  # refuses what local refuses
        self.stats["requests"] += len(requests)
        self.stats["rows"] += sum(r.rows for r in requests)
        t0 = time.perf_counter()
        before = self.stats["tasks"]
        keys = [self._cache_key(r, shots) for r in requests]  # exact answers seen before
        out: list[Any] = [None if k is None else self.result_cache.lookup(k) for k in keys]
        todo = [i for i, v in enumerate(out) if v is None]
        fresh = await asyncio.to_thread(self._run_blocking, [requests[i] for i in todo], shots)
        for i, value in zip(todo, fresh, strict=True):
            out[i] = value
            if keys[i] is not None:
                kept = np.array(value)
                kept.flags.writeable = False
                self.result_cache.store(keys[i], kept, kept.nbytes + 256)
        if self.tracker is not None:
            rows = sum(r.rows for r in requests)
            seconds = time.perf_counter() - t0
            self.tracker.emit("circuits", role="+".join(sorted({r.role for r in requests})),
                              requested=rows, run=rows, cache_hits=0, deduplicated=0, jobs=0,
                              shots=shots, backend="dask", usd=0.0, seconds=seconds)
            self.tracker.emit("dask", tasks=self.stats["tasks"] - before,
                              workers=self.workers, seconds=seconds)
        return out

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))


    # -- on a thread: the client's calls block ---------------------------------------------------
    def _run_blocking(self, requests: list[Request], shots: int | None) -> list[Any]:
        workers = self.workers
        first = [self._submit_first(r, workers, shots) for r in requests]
        done = self._gather(first)
        out: list[Any] = [None] * len(requests)
        second: list[tuple[int, Any, list[Any]]] = []
        for i, (r, parts) in enumerate(zip(requests, done, strict=True)):
            if isinstance(r, ExpectationRequest):
                out[i] = self._expectations(r, parts, shots)
            elif isinstance(r, MetricRequest):
                out[i] = np.concatenate(parts).mean(axis=0)
            elif r.cotangent is None:
                out[i] = self._adjoint_result(r, parts)
            else:  # the cotangent needs every value: a second round of backward sweeps
                values = np.concatenate(parts)
                cot = np.asarray(r.cotangent(values), dtype=float)
                second.append((i, r, self._submit_adjoint(r, workers, cot)))
        if second:
            for (i, r, _), parts in zip(second, self._gather([s[2] for s in second]),
                                        strict=True):
                out[i] = self._adjoint_result(r, parts)
        return out

    def _gather(self, futures: list[list[Any]]) -> list[list[Any]]:
        self.stats["rounds"] += 1
        flat = [f for group in futures for f in group]
        self.stats["tasks"] += len(flat)
        results = iter(self.client.gather(flat))
        return [[next(results) for _ in group] for group in futures]

    def _submit(self, fn: Any, *args: Any) -> Any:
        return submit_spread(self.client, fn, *args, retries=self.retries)

    def _template(self, circuit: Any, observables: Any) -> Any:
        """The scattered (broadcast) template: shipped to each worker once, not per task."""
        key = (circuit, observables)
        fut = self._templates.get(key)
        if fut is None or fut.status in ("error", "cancelled", "lost"):
            value = circuit if observables is None else (circuit, observables)
            fut = self.client.scatter([value], broadcast=True, hash=False)[0]
            self._templates[key] = fut
            while len(self._templates) > _TEMPLATES_KEPT:
                self._templates.popitem(last=False)[1].release()
        self._templates.move_to_end(key)
        return fut

    def _min_rows(self, circuit: Any) -> int:
        return 2 * 2**circuit.n_qubits  # from here on the simulator may use one unitary

    def _bounds(self, rows: int, workers: int, circuit: Any) -> list[tuple[int, int]]:
        per_task = self.chunk_rows or math.ceil(rows / workers)
        return row_bounds(rows, per_task, self._min_rows(circuit))

    def _submit_first(self, r: Request, workers: int, shots: int | None) -> list[Any]:
        strategy = self.simulator.strategy
        if isinstance(r, ExpectationRequest):
            tmpl = self._template(r.circuit, r.observables)
            fn = tasks.expectation_rows if shots is None else tasks.probability_rows
            return [self._submit(fn, tmpl, r.angles[a:b], _rows(r.initial_state, a, b),
                                 strategy)
                    for a, b in self._bounds(r.rows, workers, r.circuit)]
        b = r.batch
        rows = max(b.size, 0 if getattr(r, "initial_state", None) is None
                   else np.atleast_2d(r.initial_state).shape[0])
        bounds = self._bounds(rows, workers, r.circuit)
        if isinstance(r, MetricRequest):
            tmpl = self._template(r.circuit, None)
            return [self._submit(tasks.metric_rows, tmpl, _rows(b.weights, s, e),
                                 _rows(b.inputs, s, e), strategy) for s, e in bounds]
        if r.cotangent is None:
            return self._submit_adjoint(r, workers, None)
        tmpl = self._template(r.circuit, r.observables)
        return [self._submit(tasks.values_rows, tmpl, _rows(b.weights, s, e),
                             _rows(b.inputs, s, e), _rows(r.initial_state, s, e), strategy)
                for s, e in bounds]

    def _submit_adjoint(self, r: AdjointRequest, workers: int, cot: np.ndarray | None
                        ) -> list[Any]:
        b = r.batch
        rows = max(b.size, 0 if r.initial_state is None
                   else np.atleast_2d(r.initial_state).shape[0])
        tmpl = self._template(r.circuit, r.observables)
        return [self._submit(tasks.adjoint_rows, tmpl, _rows(b.weights, s, e),
                             _rows(b.inputs, s, e), _rows(r.initial_state, s, e),
                             None if cot is None else cot[s:e], self.simulator.strategy)
                for s, e in self._bounds(rows, workers, r.circuit)]

    def _expectations(self, r: ExpectationRequest, parts: list[Any], shots: int | None
                      ) -> np.ndarray:
        if shots is None:
            return np.concatenate(parts)
        probs = [np.concatenate(p) for p in zip(*parts, strict=True)]
        return tasks.sample_measured(probs, r.observables, shots, self.rng, r.rows)

    def _adjoint_result(self, r: AdjointRequest, parts: list[Any]) -> AdjointResult:
        values = np.concatenate([v for v, _ in parts])
        d_angles = np.concatenate([d for _, d in parts])
        return AdjointResult(values, d_angles,
                             resolve_batch(r.circuit, r.batch.weights, r.batch.inputs))

    def _release(self) -> None:
        for fut in self._templates.values():
            fut.release()
        self._templates.clear()

    async def aclose(self) -> None:
        self._release()
        await super().aclose()

    def close(self) -> None:
        self._release()
        super().close()


def submit_spread(client: Any, fn: Any, *args: Any, retries: int) -> Any:
    """Submit ``fn(*args)`` to the next worker in turn (any other if that one is gone): the
    scheduler places tasks that depend on the same broadcast value on one worker otherwise."""
    workers = sorted(client.scheduler_info().get("workers", {}))
    place: dict[str, Any] = {}
    if workers:  # the client's view can be empty for a moment: then the scheduler chooses
        place = {"workers": [workers[next(_turn) % len(workers)]], "allow_other_workers": True}
    return client.submit(fn, *args, key=f"qstore-{fn.__name__}-{uuid.uuid4().hex}",
                         retries=retries, pure=False, **place)


_turn = itertools.count()


def _check_angles(r: ExpectationRequest) -> None:
    """What the simulator checks first, checked here before anything is shipped."""
    from q_store.sim.statevector import parameter_map_for

    n_params = parameter_map_for(r.circuit).n_params
    angles = np.asarray(r.angles)
    if angles.ndim != 2 or angles.shape[1] != n_params:
        raise ValidationError(f"angles must have shape (R, {n_params}), got {angles.shape}")
    if not np.all(np.isfinite(angles)):
        raise ValidationError("angles must be finite; found NaN or infinity")


def dask_engine_from_config(config: Any, *, simulator: StatevectorSimulator, backend: Any,
                            rng: np.random.Generator, budget: Any, tracker: Any = None
                            ) -> DaskEngine:
    """The engine ``executor="dask"`` describes: the exact simulator's rows as tasks, or the
    backend pipeline's jobs as tasks (see :mod:`q_store.execution.dask_submit`)."""
    from q_store.execution.dask_cluster import ClusterSpec, client_for
    from q_store.execution.factory import (
        cache_from_config,
        optimizer_from_config,
        shot_allocator_from_config,
    )

    client = client_for(ClusterSpec.from_config(config))
    cache = cache_from_config(config, simulator)
    executor = None
    if backend is not None:
        from q_store.execution.backend_executor import BackendExecutor
        from q_store.execution.dask_submit import DaskSubmitter
        from q_store.execution.factory import pipeline_from_config

        seed = int(rng.integers(2**31))
        optimizer = optimizer_from_config(config, backend)
        pipeline = pipeline_from_config(config, backend, budget=budget, seed=seed,
                                        tracker=tracker, cache=cache, optimizer=optimizer)
        pipeline.submitter = DaskSubmitter(
            backend, client, timeout=config.batch_timeout,
            retries=2 if config.retry_failed_circuits else 0, task_retries=config.dask_retries,
            tracker=tracker)
        executor = BackendExecutor(backend, config.shots, budget=budget, pipeline=pipeline,
                                   timeout=config.batch_timeout,
                                   retries=2 if config.retry_failed_circuits else 0,
                                   templates=simulator.cache,
                                   prune=None if optimizer is None
                                   else optimizer.restrict_to_measured)
    return DaskEngine(simulator, client=client, executor=executor, shots=config.shots, rng=rng,
                      tracker=tracker, chunk_rows=config.dask_chunk_rows,
                      retries=config.dask_retries,
                      result_cache=cache if backend is None else None,
                      shot_allocator=shot_allocator_from_config(config, rng=rng,
                                                                tracker=tracker))
