"""IonQ's cloud (simulator and QPUs) behind the async backend protocol.

Many circuits go as one multi-circuit job: one request to submit, one to poll, one to fetch
every child's probabilities. Circuits made only of native gates (GPI, GPI2, MS, ZZ) go with
gate set ``native``, others as QIS. IonQ keys results with qubit 0 as the least significant
bit; results here are big-endian like every backend's. With a :class:`JobLedger`, a restarted
run that submits the same requests re-attaches to the jobs it already created.
"""

from __future__ import annotations

import asyncio
import logging
import numbers
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from q_store.backends.base import (
    BackendCapabilities,
    CircuitResult,
    JobResult,
    JobStatus,
    QuantumBackend,
    as_circuit_list,
    check_job_seed,
    check_job_shots,
)
from q_store.backends.cost import CostEstimate, CostModel
from q_store.backends.ionq.client import IonQAPIError, IonQClient, check_metadata, job_body
from q_store.backends.ionq.ledger import JobLedger, request_fingerprint
from q_store.backends.ionq.serialize import circuit_to_ionq, probabilities_from_ionq
from q_store.circuit.ir import Circuit
from q_store.compile import CompiledCircuit, IonQNativeGateCompiler
from q_store.errors import BackendError, CircuitError, ConfigError, JobFailedError, JobTimeoutError

__all__ = ["BACKEND_QUBITS", "NOISE_MODELS", "IonQBackend"]

log = logging.getLogger(__name__)

# qubits per IonQ backend (simulator 29; Aria 25; Forte 36: IonQ's and Azure Quantum's pages)
BACKEND_QUBITS = {"simulator": 29, "qpu.aria-1": 25, "qpu.aria-2": 25, "qpu.forte-1": 36,
                  "qpu.forte-enterprise-1": 36}
NOISE_MODELS = ("ideal", "aria-1", "forte-1")
EXACT_SHOTS = 1000  # sent with exact requests: IonQ wants a shot count, the ideal simulator
# returns exact probabilities whatever it is
_COUNT_TOL = 1e-6


@dataclass(frozen=True)
class _JobInfo:
    """What a submitted job's results need: each circuit's qubit count."""

    qubits: tuple[int, ...]
    compiled: tuple[CompiledCircuit, ...] | None = None


def _seconds(name: str, value: object) -> float:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not np.isfinite(float(value)) or not value > 0):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class IonQBackend(QuantumBackend):
    """IonQ simulator or QPU over HTTP (see the module docstring).

    ``api_key`` (default: ``IONQ_API_KEY``); ``backend``: ``"simulator"`` or ``"qpu.aria-1"``,
    ``"qpu.forte-1"``...; ``noise_model`` (simulator only): ``"ideal"``, ``"aria-1"``,
    ``"forte-1"``; ``api_version``: ``"v0.4"`` or ``"v0.3"``; ``base_url``: API root (default
    ``https://api.ionq.co``); ``pool_size``: HTTP connections kept; ``connect_timeout`` and
    ``read_timeout`` per request, ``job_timeout`` for a whole :meth:`get_job_result` (None: no
    limit); ``max_retries`` per request; ``poll_min``/``poll_max``: status polling interval
    bounds; ``native_gates``: compile QIS circuits to GPI/GPI2/MS (ZZ on Forte) with
    :class:`IonQNativeGateCompiler` before sending (results come back in the original wire
    order); ``ledger`` (path or :class:`JobLedger`) with ``run_key``: re-attach to jobs of an
    earlier run of the same requests. The ideal simulator returns exact probabilities (results
    have ``shots=None`` even when shots were given); noisy models and QPUs return shot
    histograms with ``counts``.
    """

    def __init__(self, api_key: str | None = None, backend: str = "simulator", *,
                 noise_model: str = "ideal", api_version: str = "v0.4",
                 base_url: str | None = None, pool_size: int = 5,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 job_timeout: float | None = None, max_retries: int = 5,
                 backoff_base: float = 0.5, backoff_max: float = 30.0,
                 poll_min: float = 0.25, poll_max: float = 10.0,
                 ledger: str | os.PathLike[str] | JobLedger | None = None, run_key: str = "",
                 error_mitigation: bool = True, native_gates: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if backend not in BACKEND_QUBITS:
            raise ConfigError(f"unknown IonQ backend {backend!r}; use one of "
                              f"{', '.join(BACKEND_QUBITS)}")
        if noise_model not in NOISE_MODELS:
            raise ConfigError(f"unknown IonQ noise model {noise_model!r}; use one of "
                              f"{', '.join(NOISE_MODELS)}")
        if backend != "simulator" and noise_model != "ideal":
            raise ConfigError(f"noise models are for the simulator only; {backend} has its own "
                              "noise (use noise_model='ideal', the default)")
        if not isinstance(run_key, str):
            raise ConfigError(f"run_key must be a string, got {type(run_key).__name__}")
        if not isinstance(native_gates, bool):
            raise ConfigError(f"native_gates must be True or False, got {native_gates!r}")
        self.backend = backend
        self.compiler = (IonQNativeGateCompiler("forte" if "forte" in backend else "aria")
                         if native_gates else None)
        self.noise_model = noise_model
        self.name = f"ionq.{backend}" + ("" if noise_model == "ideal" else f".{noise_model}")
        self.job_timeout = None if job_timeout is None else _seconds("job_timeout", job_timeout)
        self.poll_min = _seconds("poll_min", poll_min)
        self.poll_max = max(_seconds("poll_max", poll_max), self.poll_min)
        self.client = IonQClient(api_key, base_url=base_url, api_version=api_version,
                                 pool_size=pool_size, connect_timeout=connect_timeout,
                                 read_timeout=read_timeout, max_retries=max_retries,
                                 backoff_base=backoff_base, backoff_max=backoff_max,
                                 transport=transport)
        self.ledger = (ledger if isinstance(ledger, JobLedger) or ledger is None
                       else JobLedger(ledger))
        self.run_key = run_key
        self._occurrences: Counter[str] = Counter()
        self._jobs: dict[str, _JobInfo] = {}
        exact = backend == "simulator" and noise_model == "ideal"
        self._capabilities = BackendCapabilities(
            max_qubits=BACKEND_QUBITS[backend], exact_expectations=exact, noisy=not exact,
            batch_jobs=True,
            cost_model=(CostModel.free() if backend == "simulator"
                        else CostModel.ionq_aria(error_mitigation)))

    @property
    def api_version(self) -> str:
        return self.client.api_version

    @property
    def capabilities(self) -> BackendCapabilities:
        return self._capabilities

    def __repr__(self) -> str:
        return (f"IonQBackend(backend={self.backend!r}, noise_model={self.noise_model!r}, "
                f"api_version={self.api_version!r}, base_url={self.client.root_url!r})")

    # -- submission --------------------------------------------------------------------------

    def build_request(self, circuits: Circuit | Sequence[Circuit], shots: int | None = None,
                      *, seed: int | None = None, name: str | None = None,
                      metadata: Mapping[str, str] | None = None
                      ) -> tuple[dict[str, Any], tuple[int, ...]]:
        """The validated ``POST /jobs`` body for ``circuits`` and each circuit's qubit count."""
        caps = self.capabilities
        items = as_circuit_list(circuits, caps.max_qubits)
        shots = check_job_shots(shots, caps.exact_expectations)
        seed = check_job_seed(seed)
        if name is not None and not isinstance(name, str):
            raise BackendError(f"name must be a string, got {type(name).__name__}")
        meta = check_metadata(metadata)
        self._last_compiled: tuple[CompiledCircuit, ...] | None = None
        if self.compiler is not None:
            compiled = tuple(self.compiler.compile(c) for c in items)
            self._last_compiled = compiled
            items = [cc.circuit for cc in compiled]
        serialized = [circuit_to_ionq(c) for c in items]
        gatesets = sorted({g for g, gates in serialized if gates}) or ["qis"]
        if len(gatesets) > 1:
            raise CircuitError("a job's circuits must all use one gate set, but these mix IonQ "
                               "native circuits (GPI, GPI2, MS, ZZ) with QIS circuits; submit "
                               "them as separate jobs or compile all of them")
        noise = None
        if self.backend == "simulator":
            noise = {"model": self.noise_model}
            if seed is not None:
                noise["seed"] = int(seed)
        body = job_body(self.api_version, self.backend, EXACT_SHOTS if shots is None else shots,
                        gatesets[0], max(c.n_qubits for c in items),
                        [gates for _, gates in serialized], name=name, metadata=meta,
                        noise=noise)
        return body, tuple(c.n_qubits for c in items)

    async def submit_job_async(self, circuits: Circuit | Sequence[Circuit],
                               shots: int | None = None, *, seed: int | None = None,
                               name: str | None = None,
                               metadata: Mapping[str, str] | None = None) -> str:
        """Submit one job (one request, however many circuits) and return its id; with a
        ledger, re-attach to the job an earlier run created for the same request."""
        body, qubits = self.build_request(circuits, shots, seed=seed, name=name,
                                          metadata=metadata)
        if self.ledger is None:
            job_id = str((await self.client.create_job(body))["id"])
        else:
            job_id = await self._submit_with_ledger(body)
        self._jobs[job_id] = _JobInfo(qubits, self._last_compiled)
        return job_id

    def request_key(self, body: Mapping[str, Any]) -> str:
        """Ledger key of a job body: the fingerprint of what it asks for (not its name or
        metadata) and the run key."""
        what = {k: v for k, v in body.items() if k not in ("name", "metadata")}
        return request_fingerprint({"root": self.client.root_url, "body": what}, self.run_key)

    async def _submit_with_ledger(self, body: Mapping[str, Any]) -> str:
        assert self.ledger is not None
        fp = self.request_key(body)
        key = f"{fp}-{self._occurrences[fp]}"  # the n-th identical request of this run
        self._occurrences[fp] += 1
        entry = self.ledger.get(key)
        if entry is not None:
            if entry.job_id is not None:
                job = await self._existing_job(entry.job_id)
            else:  # reserved but never recorded: the process stopped around POST /jobs
                job = await self.client.find_job(entry.token, since=entry.time - 600.0)
            if job is not None:
                status = JobStatus.parse(str(job.get("status")))
                if status not in (JobStatus.FAILED, JobStatus.CANCELED):
                    job_id = str(job["id"])
                    if entry.job_id is None:
                        self.ledger.record(key, job_id, entry.token)
                    log.info("re-attached to IonQ job %s (%s) from the ledger", job_id,
                             status.value)
                    return job_id
                log.info("IonQ job %s in the ledger was %s; submitting the request again",
                         job.get("id"), status.value)
        entry = self.ledger.reserve(key)
        job_id = str((await self.client.create_job(body, token=entry.token))["id"])
        self.ledger.record(key, job_id, entry.token)
        return job_id

    async def _existing_job(self, job_id: str) -> dict[str, Any] | None:
        try:
            return await self.client.get_job(job_id)
        except IonQAPIError as exc:
            if exc.status == 404:
                log.info("IonQ job %s in the ledger no longer exists", job_id)
                return None
            raise

    def estimate_cost(self, circuits: Circuit | Sequence[Circuit], shots: int | None
                      ) -> CostEstimate:
        """Cost of the circuits as they would be sent (compiled first with ``native_gates``,
        which is what IonQ bills)."""
        items = as_circuit_list(circuits)
        if self.compiler is not None:
            items = [self.compiler.compile(c).circuit for c in items]
        return self.capabilities.cost_model.estimate(items, shots)

    # -- status, results, cancel -------------------------------------------------------------

    async def check_job_status(self, job_id: str) -> JobStatus:
        return JobStatus.parse(str((await self.client.get_job(job_id)).get("status")))

    async def get_job_result(self, job_id: str, *, timeout: float | None = None) -> JobResult:
        """Wait for the job (at most ``timeout`` s, default ``job_timeout``) and return every
        circuit's probabilities, in submission order."""
        limit = self.job_timeout if timeout is None else _seconds("timeout", timeout)
        if limit is None:
            return await self._result(job_id)
        try:
            return await asyncio.wait_for(self._result(job_id), limit)
        except asyncio.TimeoutError:
            raise JobTimeoutError(f"IonQ job {job_id} on {self.name} did not finish within "
                                  f"{limit} s; it may still be running (get its result again "
                                  "later or cancel it)") from None

    async def _result(self, job_id: str) -> JobResult:
        job = await self.client.wait_for_job(job_id, poll_min=self.poll_min,
                                             poll_max=self.poll_max)
        status = JobStatus.parse(str(job.get("status")))
        if status is JobStatus.FAILED:
            failure = job.get("failure") or {}
            raise JobFailedError(f"IonQ job {job_id} on {self.name} failed "
                                 f"({failure.get('code', 'no code')}): "
                                 f"{failure.get('error', 'no reason given')}")
        if status is JobStatus.CANCELED:
            raise JobFailedError(f"IonQ job {job_id} on {self.name} was canceled")
        children = [str(c) for c in job.get("child_job_ids") or ()]
        info = self._jobs.get(job_id)
        if info is None:  # a job submitted elsewhere: every circuit has the job's qubits
            qubits = _job_qubits(job)
            if qubits is None:
                raise BackendError(f"IonQ job {job_id} does not say how many qubits it has "
                                   "(no stats.qubits in v0.4, no qubits in v0.3)")
            info = _JobInfo((qubits,) * max(1, len(children)))
        if children:
            if len(children) != len(info.qubits):
                raise BackendError(f"IonQ job {job_id} has {len(children)} child jobs, but "
                                   f"{len(info.qubits)} circuits were submitted")
            probs = await self.client.get_probabilities(job_id, multi=True)
            missing = [c for c in children if c not in probs]
            if missing:
                raise BackendError(f"IonQ results of job {job_id} lack child jobs {missing}")
            maps = [probs[c] for c in children]
        else:
            maps = [await self.client.get_probabilities(job_id)]
        backend = job.get("backend", job.get("target", self.backend))
        model = (job.get("noise") or {}).get("model", "ideal")
        shots = None if backend == "simulator" and model == "ideal" else int(job["shots"])
        results = [_circuit_result(m, n, shots) for m, n in zip(maps, info.qubits, strict=True)]
        if info.compiled is not None:
            results = [_restore(r, cc) for r, cc in zip(results, info.compiled, strict=True)]
        return JobResult(job_id, self.name, tuple(results))

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a job; one that already completed keeps its results (logged)."""
        answer = await self.client.cancel_job(job_id)
        status = JobStatus.parse(str(answer.get("status")))
        if status is not JobStatus.CANCELED:
            log.info("IonQ job %s was already %s; nothing to cancel", job_id, status.value)

    async def close(self) -> None:
        await self.client.close()


def _job_qubits(job: Mapping[str, Any]) -> int | None:
    """The qubit count of a job object: ``stats.qubits`` in v0.4, top-level ``qubits`` in v0.3."""
    stats = job.get("stats")
    n = stats.get("qubits") if isinstance(stats, Mapping) else job.get("qubits")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _circuit_result(probs: Mapping[str, Any], n_qubits: int, shots: int | None
                    ) -> CircuitResult:
    """IonQ's map (qubit 0 least significant, over the job's qubits) to a big-endian result
    of the circuit's ``n_qubits`` (extra job qubits, idle in |0>, are summed out)."""
    if not isinstance(probs, Mapping):
        raise BackendError(f"IonQ returned {type(probs).__name__} for a circuit's "
                           "probabilities, not a map")
    mask = (1 << n_qubits) - 1
    merged: dict[int, float] = {}
    for k, v in probs.items():
        try:
            key, p = int(k), float(v)
        except (TypeError, ValueError):
            raise BackendError(f"IonQ returned a malformed probability entry {k!r}: {v!r}"
                               ) from None
        merged[key & mask] = merged.get(key & mask, 0.0) + p
    p = probabilities_from_ionq({str(k): v for k, v in merged.items()}, n_qubits)
    if shots is None:
        return CircuitResult(p)
    counts = p * shots
    rounded = np.rint(counts)
    if np.all(np.abs(counts - rounded) < _COUNT_TOL) and rounded.sum() == shots:
        nz = np.flatnonzero(rounded)
        return CircuitResult(p, shots, {int(i): int(rounded[i]) for i in nz})
    return CircuitResult(p, shots)  # error-mitigated results are not shot histograms


def _restore(result: CircuitResult, compiled: CompiledCircuit) -> CircuitResult:
    """A compiled circuit's result in the original circuit's wire order."""
    if not compiled.is_permuted:
        return result
    p = compiled.restore_probabilities(result.probabilities)
    if result.counts is None:
        return CircuitResult(p, result.shots)
    counts = np.zeros_like(result.probabilities)
    for k, v in result.counts.items():
        counts[k] = v
    restored = np.rint(compiled.restore_probabilities(counts)).astype(int)
    return CircuitResult(p, result.shots, {int(i): int(restored[i])
                                           for i in np.flatnonzero(restored)})
