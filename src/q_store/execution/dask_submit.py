"""Backend jobs as Dask tasks: :class:`DaskSubmitter`, the pipeline's submitter on a cluster.

A worker cannot use the client's backend object (it holds open connections on the client's
event loop), so each task rebuilds the backend from a :class:`BackendRecipe` (an IonQ backend
from its settings; other backends are shipped as they are) and runs its one job to the end.

Paid backends must not be paid twice when a worker dies after submitting: a dead worker's task
runs again elsewhere, and a task that raised runs again up to ``task_retries`` times. Each job
therefore carries a run key fixed on the client (the same for every re-run of its task), and the
IonQ backend records its submission in a :class:`ClusterLedger`, the IonQ job ledger kept in the
Dask scheduler's metadata where every worker sees it: the idempotency token is written before
``POST /jobs``, so the re-run finds the job its predecessor created (by id, or by token when
the worker died between the request and recording the id) and waits for that job instead of
creating another.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from q_store.backends.base import CircuitResult, QuantumBackend
from q_store.backends.cost import CostEstimate
from q_store.backends.ionq.ledger import JobLedger, LedgerEntry
from q_store.circuit.ir import Circuit
from q_store.errors import ConfigError, JobFailedError
from q_store.execution.pipeline import seeded_jobs

__all__ = ["BackendRecipe", "ClusterLedger", "DaskSubmitter", "run_backend_job"]

_NAMESPACE = "q-store-ionq-ledger"


class ClusterLedger(JobLedger):
    """An IonQ :class:`JobLedger` whose entries live in the Dask scheduler's metadata under
    ``namespace`` (shared by every worker, surviving worker deaths). Used inside tasks."""

    def __init__(self, namespace: str) -> None:  # no file: nothing to load
        self.namespace = namespace
        self.path = Path(f"dask-scheduler:{_NAMESPACE}/{namespace}")
        import threading

        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClusterLedger({self.namespace!r})"

    def _client(self) -> Any:
        from distributed import get_client

        return get_client()

    def _all(self) -> dict[str, Any]:
        data = self._client().get_metadata([_NAMESPACE, self.namespace], default=None)
        return {k: v for k, v in (data or {}).items() if v is not None}

    def get(self, key: str) -> LedgerEntry | None:
        v = self._client().get_metadata([_NAMESPACE, self.namespace, key], default=None)
        return None if v is None else LedgerEntry(v["token"], v["job_id"], v["time"])

    def _put(self, key: str, entry: LedgerEntry | None) -> None:
        value = None if entry is None else dataclasses.asdict(entry)
        self._client().set_metadata([_NAMESPACE, self.namespace, key], value)

    def reserve(self, key: str) -> LedgerEntry:
        entry = LedgerEntry(uuid.uuid4().hex, None, time.time())
        self._put(key, entry)
        return entry

    def record(self, key: str, job_id: str, token: str) -> LedgerEntry:
        if not isinstance(job_id, str) or not job_id:
            raise ConfigError(f"job_id must be a non-empty string, got {job_id!r}")
        entry = LedgerEntry(token, job_id, time.time())
        self._put(key, entry)
        return entry

    def forget(self, key: str) -> None:
        self._put(key, None)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._all()))

    def job_ids(self) -> list[str]:
        return [v["job_id"] for v in self._all().values() if v.get("job_id")]


@dataclass(frozen=True)
class BackendRecipe:
    """How a worker builds the backend: ``kind`` "ionq" (IonQBackend keyword arguments; the
    API key is never shown) or "object" (the backend itself, pickled)."""

    kind: str
    options: dict[str, Any] = field(repr=False)
    name: str = ""

    @classmethod
    def of(cls, backend: QuantumBackend) -> BackendRecipe:
        from q_store.backends.ionq.backend import IonQBackend

        if isinstance(backend, IonQBackend):
            c = backend.client
            if getattr(c, "_transport", None) is not None:
                raise ConfigError("an IonQ backend with a custom HTTP transport cannot be "
                                  "rebuilt on Dask workers; give it a base_url instead")
            opts = {"api_key": c._key, "backend": backend.backend,
                    "noise_model": backend.noise_model, "api_version": c.api_version,
                    "base_url": c.root_url, "pool_size": c.pool_size,
                    "connect_timeout": c.connect_timeout, "read_timeout": c.read_timeout,
                    "request_timeout": c.request_timeout, "job_timeout": backend.job_timeout,
                    "max_retries": c.max_retries, "backoff_base": c.backoff_base,
                    "backoff_max": c.backoff_max, "max_retry_after": c.max_retry_after,
                    "lookup_window": c.lookup_window, "poll_min": backend.poll_min,
                    "poll_max": backend.poll_max,
                    "native_gates": backend.compiler is not None}
            return cls("ionq", opts, backend.name)
        try:
            import cloudpickle

            cloudpickle.dumps(backend)
        except Exception as exc:
            raise ConfigError(f"backend {backend.name!r} cannot be shipped to Dask workers "
                              f"({type(exc).__name__}: {exc}); use executor='local' for it"
                              ) from None
        return cls("object", {"backend": backend}, backend.name)

    def build(self, ledger: str, run_key: str) -> QuantumBackend:
        if self.kind == "ionq":
            from q_store.backends.ionq.backend import IonQBackend

            return IonQBackend(**self.options, ledger=ClusterLedger(ledger), run_key=run_key)
        return pickle.loads(pickle.dumps(self.options["backend"]))  # a private copy


def run_backend_job(recipe: BackendRecipe, circuits: list[Circuit], shots: int | None,
                    seed: list[int], timeout: float | None, retries: int, ledger: str,
                    run_key: str) -> tuple[list[CircuitResult], dict[str, Any]]:
    """On a worker: submit one job (re-attaching through the ledger), wait, return results."""
    return asyncio.run(_job(recipe, circuits, shots, seed, timeout, retries, ledger, run_key))


async def _job(recipe: BackendRecipe, circuits: list[Circuit], shots: int | None,
               seed: list[int],
               timeout: float | None, retries: int, ledger: str, run_key: str
               ) -> tuple[list[CircuitResult], dict[str, Any]]:
    backend = recipe.build(ledger, run_key)
    try:
        for attempt in range(retries + 1):
            t0 = time.perf_counter()
            job = await backend.submit_job_async(circuits, shots, seed=seed)
            t1 = time.perf_counter()
            try:
                result = await backend.get_job_result(job, timeout=timeout)
            except JobFailedError:
                if attempt == retries:
                    raise
                continue
            return list(result.circuits), {"job": job, "submit_seconds": t1 - t0,
                                           "wait_seconds": time.perf_counter() - t1,
                                           "attempts": attempt + 1}
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        await backend.close()


class DaskSubmitter:
    """The pipeline's :class:`~q_store.execution.pipeline.Submitter` on a Dask cluster: one
    task per job, all of a call's jobs in flight at once, results in order. Costs are estimated
    on the client's ``backend``; ``retries`` resubmits a job that failed on the backend;
    ``task_retries`` re-runs a task that raised."""

    def __init__(self, backend: QuantumBackend, client: Any, *, timeout: float | None = None,
                 retries: int = 0, task_retries: int = 2, tracker: Any = None) -> None:
        self.backend, self.client = backend, client
        self.recipe = BackendRecipe.of(backend)
        self.name = backend.name
        self.timeout, self.retries, self.task_retries = timeout, retries, task_retries
        self.tracker = tracker
        self.ledger = uuid.uuid4().hex  # this submitter's jobs in the cluster ledger
        self._count = 0  # jobs so far: the run key of the next
        self.stats = {"jobs": 0, "tasks": 0}

    def estimate_cost(self, circuits: Sequence[Circuit], shots: int | None) -> CostEstimate:
        return self.backend.estimate_cost(list(circuits), shots)

    @property
    def max_job_size(self) -> int | None:
        return None if self.backend.capabilities.batch_jobs else 1

    async def run_jobs(self, jobs: Sequence[Sequence[Circuit]], shots: int | None,
                       seeds: Sequence[Sequence[int]]) -> list[list[CircuitResult]]:
        """One task per job; each circuit keeps its own seed (jobs split one circuit each
        where the backend's seed is per job, :func:`~q_store.execution.pipeline.seeded_jobs`)."""
        parts = [seeded_jobs(self.backend, j, s, shots) for j, s in zip(jobs, seeds, strict=True)]
        tasks = [(c, s) for part in parts for c, s in part]
        futures = []
        for circuits, seed in tasks:
            run_key = f"{self.ledger}/{self._count}"
            self._count += 1
            futures.append(self.client.submit(
                run_backend_job, self.recipe, list(circuits), shots, [int(x) for x in seed],
                self.timeout, self.retries, self.ledger, run_key,
                key=f"qstore-job-{uuid.uuid4().hex}", retries=self.task_retries, pure=False))
        self.stats["tasks"] += len(futures)
        done = await asyncio.to_thread(self.client.gather, futures)
        flat = []
        for (results, info), (circuits, _) in zip(done, tasks, strict=True):
            self.stats["jobs"] += 1
            if self.tracker is not None:
                self.tracker.emit("job", backend=self.name, circuits=len(circuits), shots=shots,
                                  submit_seconds=info["submit_seconds"],
                                  wait_seconds=info["wait_seconds"], via="dask")
            flat.append(results)
        it = iter(flat)
        return [[r for _ in part for r in next(it)] for part in parts]

    async def close(self) -> None:
        await self.backend.close()
