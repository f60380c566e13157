"""IonQ's cloud (simulator and QPUs) behind the async backend protocol.

Many circuits go as one multi-circuit job: one request to submit, one to poll, one to fetch
every child's probabilities. Circuits made only of native gates (GPI, GPI2, MS, ZZ) go with
gate set ``native``, others as QIS. IonQ keys results with qubit 0 as the least significant
bit; results here are big-endian like every backend's. With a :class:`JobLedger`, a restarted
run that submits the same requests re-attaches to the jobs it already created.

The backend keeps, per job in flight, only what turning its answer into results needs (each
circuit's qubit count and, with native gates, how the compiler relabelled wires); the entry is
returned by :meth:`IonQBackend.build_request` rather than stored on the backend, so concurrent
submissions cannot mix them up. Once a job's result is delivered its layout moves to a small
cache of the last :data:`DELIVERED_KEPT` delivered jobs (so fetching a result again gives the
same result) and is dropped from there, as it is at once for failed and canceled jobs: a long
run holds a bounded amount of per-job state. Re-attachment after a restart needs only the
ledger: the re-submitted request rebuilds the layout. Result probabilities are validated (finite,
non-negative, summing to one, keys within the job's qubits) before they are used.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections import Counter, OrderedDict
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
    ProgressCallback,
    QuantumBackend,
    as_circuit_list,
    check_job_seeds,
    check_job_shots,
)
from q_store.backends.cost import CostEstimate, CostModel
from q_store.backends.ionq.client import (
    DEFAULT_LOOKUP_WINDOW,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_REQUEST_TIMEOUT,
    IonQAPIError,
    IonQClient,
    check_metadata,
    job_body,
    job_timeout_seconds,
    parse_timestamp,
)
from q_store.backends.ionq.ledger import JobLedger, request_fingerprint
from q_store.backends.ionq.serialize import circuit_to_ionq, probabilities_from_ionq
from q_store.circuit.ir import Circuit
from q_store.compile import CompiledCircuit, IonQNativeGateCompiler
from q_store.errors import BackendError, CircuitError, ConfigError, JobFailedError

__all__ = ["BACKEND_QUBITS", "DELIVERED_KEPT", "NOISE_MODELS", "PROBABILITY_TOLERANCE",
           "IonQBackend", "JobLayout"]

log = logging.getLogger(__name__)

# qubits per IonQ backend (simulator 29; Aria 25; Forte 36: IonQ's and Azure Quantum's pages)
BACKEND_QUBITS = {"simulator": 29, "qpu.aria-1": 25, "qpu.aria-2": 25, "qpu.forte-1": 36,
                  "qpu.forte-enterprise-1": 36}
NOISE_MODELS = ("ideal", "aria-1", "forte-1")
EXACT_SHOTS = 1000  # sent with exact requests: IonQ wants a shot count, the ideal simulator
# returns exact probabilities whatever it is
_COUNT_TOL = 1e-6
PROBABILITY_TOLERANCE = 1e-6  # how far a result's probabilities may sum from 1 (or dip below 0)
DELIVERED_KEPT = 256  # delivered jobs whose layouts are kept, so their results can be re-read


@dataclass(frozen=True)
class JobLayout:
    """What turning a job's answer into results needs: each circuit's qubit count, the job's
    qubit count (result keys must lie below ``2**job_qubits``) and, with native gates, each
    compiled circuit (its wire relabelling is undone on the results)."""

    qubits: tuple[int, ...]
    job_qubits: int
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
    ``read_timeout`` per connection and read, ``request_timeout`` (120 s) per whole HTTP
    exchange; ``job_timeout``: how long :meth:`get_job_result` waits for a job (None: one hour,
    ``client.DEFAULT_JOB_TIMEOUT``; there is no unlimited wait: pass a large number for long
    QPU queues); ``max_retries`` per request; ``max_retry_after`` (120 s): the longest
    ``Retry-After`` waited for; ``lookup_window`` (60 s): how long a maybe-created job is looked
    for before a submission is resent; ``poll_min``/``poll_max``: status polling interval
    bounds; ``native_gates``: compile QIS circuits to GPI/GPI2/MS (ZZ on Forte) with
    :class:`IonQNativeGateCompiler` before sending (results come back in the original wire
    order); ``ledger`` (path or :class:`JobLedger`) with ``run_key``: re-attach to jobs of an
    earlier run of the same requests. The ideal simulator returns exact probabilities (results
    have ``shots=None`` even when shots were given); noisy models and QPUs return shot
    histograms with ``counts``.

    Seeds: IonQ's noise seed (simulator only) is per job, and a multi-circuit job's circuits
    draw from it one after another. ``seed`` may be one integer for the job, or one per circuit;
    per-circuit seeds on a noisy simulator need one circuit per job (a multi-circuit job with
    them is refused: its circuits' samples would depend on their position in the job; the
    pipeline's submitters send such circuits one per job, ``capabilities.seeds_per_circuit``
    is False). The ideal simulator is exact and a QPU's shots are physical, so seeds have no
    effect there (none is sent).
    """

    def __init__(self, api_key: str | None = None, backend: str = "simulator", *,
                 noise_model: str = "ideal", api_version: str = "v0.4",
                 base_url: str | None = None, pool_size: int = 5,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 job_timeout: float | None = None, max_retries: int = 5,
                 backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
                 lookup_window: float = DEFAULT_LOOKUP_WINDOW,
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
        self.job_timeout = job_timeout_seconds("job_timeout", job_timeout)
        self.poll_min = _seconds("poll_min", poll_min)
        self.poll_max = max(_seconds("poll_max", poll_max), self.poll_min)
        self.client = IonQClient(api_key, base_url=base_url, api_version=api_version,
                                 pool_size=pool_size, connect_timeout=connect_timeout,
                                 read_timeout=read_timeout, request_timeout=request_timeout,
                                 max_retries=max_retries, backoff_base=backoff_base,
                                 backoff_max=backoff_max, max_retry_after=max_retry_after,
                                 lookup_window=lookup_window, transport=transport)
        self.ledger = (ledger if isinstance(ledger, JobLedger) or ledger is None
                       else JobLedger(ledger))
        self.run_key = run_key
        self._occurrences: Counter[str] = Counter()
        self._jobs: dict[str, JobLayout] = {}  # jobs in flight
        self._delivered: OrderedDict[str, JobLayout] = OrderedDict()  # the last delivered
        exact = backend == "simulator" and noise_model == "ideal"
        self._capabilities = BackendCapabilities(
            max_qubits=BACKEND_QUBITS[backend], exact_expectations=exact, noisy=not exact,
            batch_jobs=True,
            cost_model=(CostModel.free() if backend == "simulator"
                        else CostModel.ionq_aria(error_mitigation)),
            seeds_per_circuit=not (backend == "simulator" and noise_model != "ideal"),
            exact_with_shots=exact)

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
                      *, seed: int | Sequence[int] | None = None, name: str | None = None,
                      metadata: Mapping[str, str] | None = None
                      ) -> tuple[dict[str, Any], JobLayout]:
        """The validated ``POST /jobs`` body for ``circuits`` and the :class:`JobLayout` its
        results need. Nothing is stored on the backend: concurrent submissions each keep
        their own layout."""
        caps = self.capabilities
        items = as_circuit_list(circuits, caps.max_qubits)
        shots = check_job_shots(shots, caps.exact_expectations)
        seed = self._job_seed(check_job_seeds(seed, len(items)))
        if name is not None and not isinstance(name, str):
            raise BackendError(f"name must be a string, got {type(name).__name__}")
        meta = check_metadata(metadata)
        compiled: tuple[CompiledCircuit, ...] | None = None
        if self.compiler is not None:
            compiled = tuple(self.compiler.compile(c) for c in items)
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
        job_qubits = max(c.n_qubits for c in items)
        body = job_body(self.api_version, self.backend, EXACT_SHOTS if shots is None else shots,
                        gatesets[0], job_qubits, [gates for _, gates in serialized], name=name,
                        metadata=meta, noise=noise)
        if compiled is not None and not any(cc.is_permuted for cc in compiled):
            compiled = None  # nothing to undo: keep no compiled circuits while the job runs
        return body, JobLayout(tuple(c.n_qubits for c in items), job_qubits, compiled)

    def _job_seed(self, seeds: int | tuple[int, ...] | None) -> int | None:
        """The noise seed to send: per-circuit seeds matter on the noisy simulator only, and
        there only one circuit per job can have its own seed."""
        if not isinstance(seeds, tuple):
            return seeds
        if self.capabilities.seeds_per_circuit:
            return None  # ideal simulator (exact) or QPU (physical shots): seeds do nothing
        if len(seeds) != 1:
            raise BackendError(
                f"IonQ's noise seed is per job, so {len(seeds)} circuits with one seed each "
                f"cannot share a job on {self.name}: their samples would depend on their "
                "position in the job; submit one circuit per job (the execution pipeline does "
                "this), or give one integer seed for the whole job")
        return seeds[0]

    async def submit_job_async(self, circuits: Circuit | Sequence[Circuit],
                               shots: int | None = None, *,
                               seed: int | Sequence[int] | None = None,
                               name: str | None = None,
                               metadata: Mapping[str, str] | None = None) -> str:
        """Submit one job (one request, however many circuits) and return its id; with a
        ledger, re-attach to the job an earlier run created for the same request."""
        body, layout = self.build_request(circuits, shots, seed=seed, name=name,
                                          metadata=metadata)
        if self.ledger is None:
            job_id = str((await self.client.create_job(body))["id"])
        else:
            job_id = await self._submit_with_ledger(body)
        self._jobs[job_id] = layout
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

    async def get_job_result(self, job_id: str, *, timeout: float | None = None,
                             progress: ProgressCallback | None = None) -> JobResult:
        """Wait for the job (``timeout`` s, default ``job_timeout``, beyond IonQ's predicted
        queue and execution time; never unlimited) and return every circuit's probabilities,
        in submission order; ``progress`` gets the job's state at every poll.

        A delivered result moves the job's layout to the cache of the last
        :data:`DELIVERED_KEPT` delivered jobs (reading it again gives the same result); a
        failed or canceled job drops it; a timeout keeps it, so waiting again works."""
        limit = self.job_timeout if timeout is None else _seconds("timeout", timeout)
        job = await self.client.wait_for_job(job_id, timeout=limit, on_poll=progress,
                                             poll_min=self.poll_min, poll_max=self.poll_max)
        try:
            result = await self._result(job_id, job)
        except JobFailedError:
            self._forget(job_id)
            raise
        self._keep_delivered(job_id)
        return result

    def _keep_delivered(self, job_id: str) -> None:
        """Move a delivered job's layout from the jobs in flight to the bounded cache (a job
        read from its job object has none: it is read the same way next time)."""
        layout = self._jobs.pop(job_id, None) or self._delivered.get(job_id)
        if layout is None:
            return
        self._delivered[job_id] = layout
        self._delivered.move_to_end(job_id)
        while len(self._delivered) > DELIVERED_KEPT:
            self._delivered.popitem(last=False)

    def _layout(self, job_id: str) -> JobLayout | None:
        return self._jobs.get(job_id) or self._delivered.get(job_id)

    def _forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._delivered.pop(job_id, None)

    async def _result(self, job_id: str, job: Mapping[str, Any]) -> JobResult:
        """The results of a finished job object ``job``."""
        status = JobStatus.parse(str(job.get("status")))
        if status is JobStatus.FAILED:
            raise JobFailedError(f"IonQ job {job_id} on {self.name} failed {_failure(job)}")
        if status is JobStatus.CANCELED:
            raise JobFailedError(f"IonQ job {job_id} on {self.name} was canceled")
        children = _child_ids(job_id, job, self.api_version)
        layout = self._layout(job_id) or self._foreign_layout(job_id, job, children)
        n = len(layout.qubits)
        if children:
            if len(children) != n:
                raise BackendError(f"IonQ job {job_id} has {len(children)} child jobs, but "
                                   f"{n} circuits were submitted")
            probs = await self.client.get_probabilities(job_id, multi=True)
            missing = [c for c in children if c not in probs]
            if missing:
                raise BackendError(f"IonQ results of job {job_id} lack child jobs {missing}")
            maps = [probs[c] for c in children]
        elif n != 1:
            raise BackendError(f"IonQ job {job_id} lists no child jobs, but {n} circuits were "
                               "submitted in it (a multi-circuit job has one child each)")
        else:
            maps = [await self.client.get_probabilities(job_id)]
        shots = self._shots(job_id, job)
        results = [_circuit_result(m, q, layout.job_qubits, shots,
                                   f"circuit {i} of IonQ job {job_id}")
                   for i, (m, q) in enumerate(zip(maps, layout.qubits, strict=True))]
        if layout.compiled is not None:
            results = [_restore(r, cc) for r, cc in zip(results, layout.compiled, strict=True)]
        return JobResult(job_id, self.name, tuple(results), _queue_seconds(job))

    def _foreign_layout(self, job_id: str, job: Mapping[str, Any], children: Sequence[str]
                        ) -> JobLayout:
        """The layout of a job this backend has no record of (submitted elsewhere, by a
        process that stopped, or already delivered): every circuit spans the job's qubits."""
        if self.compiler is not None:
            raise BackendError(
                f"IonQ job {job_id} is not in flight on this backend (submitted elsewhere or "
                f"before a restart, or delivered more than {DELIVERED_KEPT} jobs ago); with "
                "native_gates=True its circuits may have been sent with relabelled wires that "
                "only the submitting backend knew, so the results cannot be put back in order. "
                "Submit the same request again with the same ledger and run_key to re-attach, "
                "or read the job with native_gates=False if its circuits had no SWAPs")
        qubits = _job_qubits(job)
        if qubits is None:
            raise BackendError(f"IonQ job {job_id} does not say how many qubits it has "
                               "(no stats.qubits in v0.4, no qubits in v0.3)")
        return JobLayout((qubits,) * max(1, len(children)), qubits)

    def _shots(self, job_id: str, job: Mapping[str, Any]) -> int | None:
        """None for IonQ's ideal simulator (exact probabilities), else the job's shot count."""
        backend = job.get("backend", job.get("target", self.backend))
        noise = job.get("noise")
        model = noise.get("model", "ideal") if isinstance(noise, Mapping) else "ideal"
        if backend == "simulator" and model == "ideal":
            return None
        shots = job.get("shots")
        if not isinstance(shots, int) or isinstance(shots, bool) or shots < 1:
            raise BackendError(f"IonQ job {job_id} has shots={shots!r:.40}; a sampled result "
                               "needs a positive integer shot count")
        return shots

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a job; one that already completed keeps its results (logged)."""
        answer = await self.client.cancel_job(job_id)
        status = JobStatus.parse(str(answer.get("status")))
        if status is JobStatus.CANCELED:
            self._forget(job_id)
        else:
            log.info("IonQ job %s was already %s; nothing to cancel", job_id, status.value)

    async def close(self) -> None:
        await self.client.close()


def _queue_seconds(job: Mapping[str, Any]) -> float | None:
    """How long the job waited before it started, from IonQ's own timestamps
    (``started_at - submitted_at`` in v0.4, ``start - request`` in v0.3); None if absent."""
    start = parse_timestamp(job.get("started_at", job.get("start")))
    submitted = parse_timestamp(job.get("submitted_at", job.get("request")))
    if start is None or submitted is None:
        return None
    return max(0.0, start - submitted)


def _job_qubits(job: Mapping[str, Any]) -> int | None:
    """The qubit count of a job object: ``stats.qubits`` in v0.4, top-level ``qubits`` in v0.3."""
    stats = job.get("stats")
    n = stats.get("qubits") if isinstance(stats, Mapping) else job.get("qubits")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _child_ids(job_id: str, job: Mapping[str, Any], api_version: str) -> list[str]:
    """A job's child job ids (empty for a single-circuit job): ``child_job_ids`` in v0.4;
    v0.3 calls them ``children``."""
    raw = job.get("child_job_ids")
    if api_version == "v0.3" and raw is None:
        raw = job.get("children")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) and c for c in raw):
        raise BackendError(f"IonQ job {job_id}'s child job ids are {raw!r:.100}; expected a "
                           "JSON array of job id strings")
    return raw


def _failure(job: Mapping[str, Any]) -> str:
    """``(code): reason`` of a failed job object."""
    failure = job.get("failure")
    if isinstance(failure, Mapping):
        reason = failure.get("message", failure.get("error"))  # v0.4: message; v0.3: error
        return f"({failure.get('code', 'no code')}): {reason or 'no reason given'}"
    return f"(no code): {failure or 'no reason given'}"


def _finite(value: object) -> float | None:
    """A JSON number as a finite float, else None (strings, booleans, NaN, infinities)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        p = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return p if math.isfinite(p) else None


def _probability(key: object, value: object, size: int, what: str) -> tuple[int, float]:
    """One validated result entry: a basis state below ``size`` and a probability >= 0."""
    digits = len(str(size - 1))
    if (not isinstance(key, str) or not key.isascii() or not key.isdigit()
            or len(key) > digits or int(key) >= size):
        raise BackendError(f"{what}: result key {key!r:.40} is not a basis state of the job's "
                           f"{size.bit_length() - 1} qubits (allowed: decimal integers 0 to "
                           f"{size - 1})")
    p = _finite(value)
    if p is None:
        raise BackendError(f"{what}: the probability of state {key} is {value!r:.40}, not a "
                           "finite number")
    if p < -PROBABILITY_TOLERANCE:
        raise BackendError(f"{what}: the probability of state {key} is negative ({p!r}); "
                           "probabilities must lie in [0, 1]")
    return int(key), max(p, 0.0)


def _validated(probs: object, job_qubits: int, what: str) -> dict[int, float]:
    """IonQ's ``{"<int>": p}`` map checked: keys are basis states of the job's qubits, values
    finite and non-negative, summing to 1 within :data:`PROBABILITY_TOLERANCE`. A wrong map
    would otherwise give wrong expectations silently."""
    if not isinstance(probs, Mapping):
        raise BackendError(f"{what}: IonQ returned {type(probs).__name__} for its "
                           "probabilities, expected a JSON object of state -> probability")
    size = 1 << job_qubits
    out: dict[int, float] = {}
    total = 0.0
    for k, v in probs.items():
        key, p = _probability(k, v, size, what)
        out[key] = out.get(key, 0.0) + p
        total += p
    if not abs(total - 1.0) <= PROBABILITY_TOLERANCE:
        raise BackendError(f"{what}: the probabilities sum to {total!r}, not 1 (allowed "
                           f"deviation {PROBABILITY_TOLERANCE:g})")
    return out


def _circuit_result(probs: object, n_qubits: int, job_qubits: int, shots: int | None,
                    what: str) -> CircuitResult:
    """IonQ's map (qubit 0 least significant, over the job's qubits) to a big-endian result
    of the circuit's ``n_qubits`` (extra job qubits, idle in |0> up to readout error, are
    summed out)."""
    mask = (1 << n_qubits) - 1
    merged: dict[str, float] = {}
    for key, p in _validated(probs, job_qubits, what).items():
        merged[str(key & mask)] = merged.get(str(key & mask), 0.0) + p
    p = probabilities_from_ionq(merged, n_qubits)
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
