"""The spec's names for IonQ access: ``IonQBatchClient`` (v3.4) and ``CirqIonQBackend`` (v3.3).

``IonQBatchClient.submit_batch`` sends many circuits in one request (a multi-circuit job);
``get_results_parallel`` fetches the results of several jobs concurrently. Both are thin layers
over :class:`IonQBackend`, which does the work.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

from q_store.backends.base import CircuitResult, JobResult
from q_store.backends.ionq.backend import IonQBackend
from q_store.circuit.ir import Circuit
from q_store.errors import BackendError, NotSupportedError

__all__ = ["CirqIonQBackend", "IonQBatchClient"]


class IonQBatchClient:
    """True batch submission to IonQ, as an async context manager.

    ``backend`` is an :class:`IonQBackend` or the name of an IonQ backend, in which case the
    remaining keyword arguments configure a new one (``api_key``, ``noise_model``,
    ``pool_size``...). ``max_concurrent`` bounds concurrent result fetches (default: the
    connection pool size).
    """

    def __init__(self, api_key: str | None = None, backend: str | IonQBackend = "simulator",
                 *, max_concurrent: int | None = None, **backend_kwargs: Any) -> None:
        if isinstance(backend, IonQBackend):
            if api_key is not None or backend_kwargs:
                raise BackendError("pass either a configured IonQBackend or its settings, "
                                   "not both")
            self.backend = backend
        else:
            self.backend = IonQBackend(api_key, backend, **backend_kwargs)
        limit = self.backend.client.pool_size if max_concurrent is None else max_concurrent
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise BackendError(f"max_concurrent must be a positive integer, got {limit!r}")
        self.max_concurrent = limit

    def __repr__(self) -> str:
        return f"IonQBatchClient({self.backend!r}, max_concurrent={self.max_concurrent})"

    async def submit_batch(self, circuits: Sequence[Circuit], shots: int | None = 1000, *,
                           circuits_per_job: int | None = None, seed: int | None = None,
                           name: str | None = None,
                           metadata: Mapping[str, str] | None = None) -> list[str]:
        """Submit ``circuits`` and return the job ids: one multi-circuit job by default, or
        jobs of at most ``circuits_per_job`` circuits (submitted concurrently)."""
        items = list(circuits)
        if not items:
            raise BackendError("submit_batch needs at least one circuit")
        size = len(items) if circuits_per_job is None else circuits_per_job
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise BackendError(f"circuits_per_job must be a positive integer or None, "
                               f"got {circuits_per_job!r}")
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        seeds = [None if seed is None else seed + i for i in range(len(chunks))]
        return list(await asyncio.gather(*(
            self.backend.submit_job_async(chunk, shots, seed=s, name=name, metadata=metadata)
            for chunk, s in zip(chunks, seeds, strict=True))))

    async def get_results_parallel(self, job_ids: Sequence[str], *,
                                   timeout: float | None = None) -> list[JobResult]:
        """Wait for every job concurrently (``asyncio.gather``); results in ``job_ids`` order.
        ``timeout`` bounds each job's wait (None: the backend's ``job_timeout``, one hour by
        default; never unlimited). Jobs this client did not submit (say, after a restart) are
        read from IonQ's job objects."""
        gate = asyncio.Semaphore(self.max_concurrent)

        async def one(job_id: str) -> JobResult:
            async with gate:
                return await self.backend.get_job_result(job_id, timeout=timeout)

        return list(await asyncio.gather(*(one(j) for j in job_ids)))

    async def execute_batch(self, circuits: Sequence[Circuit], shots: int | None = 1000, *,
                            circuits_per_job: int | None = None, seed: int | None = None,
                            timeout: float | None = None) -> list[CircuitResult]:
        """Submit and wait: one result per circuit, in order."""
        jobs = await self.submit_batch(circuits, shots, circuits_per_job=circuits_per_job,
                                       seed=seed)
        results = await self.get_results_parallel(jobs, timeout=timeout)
        return [c for r in results for c in r.circuits]

    async def average_queue_time(self) -> float:
        """IonQ's current average queue time of this backend, in seconds."""
        for entry in await self.backend.client.get_backends():
            if entry.get("backend") == self.backend.backend:
                ms = entry.get("average_queue_time", 0)
                if (not isinstance(ms, (int, float)) or isinstance(ms, bool)
                        or not math.isfinite(ms) or ms < 0):
                    raise BackendError(f"IonQ lists {self.backend.backend!r} with "
                                       f"average_queue_time={ms!r:.40}; expected a number of "
                                       "milliseconds >= 0")
                return float(ms) / 1000.0
        raise BackendError(f"IonQ does not list backend {self.backend.backend!r}")

    async def close(self) -> None:
        await self.backend.close()

    async def __aenter__(self) -> IonQBatchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _from_cirq(circuit: Any) -> Circuit:
    if isinstance(circuit, Circuit):
        return circuit
    if not type(circuit).__module__.startswith("cirq"):
        raise BackendError(f"expected a q_store Circuit or a cirq.Circuit, got "
                           f"{type(circuit).__name__}")
    try:
        from q_store.backends.cirq import from_cirq
    except ImportError as exc:
        raise NotSupportedError(f"converting cirq circuits needs q_store.backends.cirq and "
                                f"cirq-core (pip install 'q-store[cirq]'): {exc}") from None
    return from_cirq(circuit)


class CirqIonQBackend(IonQBackend):
    """The v3.3 spec's IonQ backend: an :class:`IonQBackend` that also takes ``cirq.Circuit``
    input (converted with ``q_store.backends.cirq.from_cirq``); ``target`` names the
    backend."""

    def __init__(self, api_key: str | None = None, target: str = "simulator",
                 **kwargs: Any) -> None:
        super().__init__(api_key, target, **kwargs)

    async def submit_job_async(self, circuits: Any, shots: int | None = None, *,
                               seed: int | None = None, name: str | None = None,
                               metadata: Mapping[str, str] | None = None) -> str:
        items = ([_from_cirq(c) for c in circuits] if isinstance(circuits, list | tuple)
                 else [_from_cirq(circuits)])
        return await super().submit_job_async(items, shots, seed=seed, name=name,
                                              metadata=metadata)
