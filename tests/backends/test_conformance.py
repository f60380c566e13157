"""The backend conformance suite: the same tests run against every backend, which must agree
with the reference simulators exactly (where results are exact) or within shot noise.

Backends: the local exact and noisy simulators (density matrices and trajectories), Qiskit Aer
and Cirq (ideal and with IonQ Aria's noise model), and IonQ over real loopback HTTP against the
local IonQ server (ideal simulator, the ``aria-1`` noise model, native-gate compilation with and
without it, API v0.3, and the Cirq-flavoured IonQ backend).
References: :class:`StatevectorSimulator` for ideal backends, :class:`DensityMatrixSimulator`
with the same :class:`NoiseModel` for noisy ones.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.base import CircuitResult, JobResult, JobStatus, QuantumBackend
from q_store.backends.cirq import CirqSimulatorBackend
from q_store.backends.cost import CostEstimate, count_billed_gates
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.batch import CirqIonQBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.backends.ionq.serialize import circuit_from_ionq, circuit_to_ionq
from q_store.backends.qiskit import QiskitAerBackend
from q_store.circuit import Circuit, Observable, PauliString, PauliSum, Projector, X, Y, Z, theta
from q_store.compile.ionq_native import IonQNativeGateCompiler
from q_store.errors import BackendError, CircuitError
from q_store.execution.backend_executor import BackendExecutor
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel

KEY = "conformance-key-3f9a"
EXACT = 1e-9  # exact results against the reference
SHOTS = 2000
SEED = 1234
SIGMAS = 5.0
ARIA = NoiseModel.ionq_aria()
SIM = StatevectorSimulator()
NOISY_SIM = DensityMatrixSimulator(ARIA)
COMPILER = IonQNativeGateCompiler("aria")

# Fixed bound circuits: every gate family, asymmetric (no two basis states share a probability
# and the distribution changes under bit reversal, so bit-order errors show), and every gate but
# the identity changes the distribution (test_reference_circuits_are_sensitive).
ONE_Q = (Circuit(3).h(0).t(0).sx(0).ry(1, 0.9).s(1).h(1).x(2).rx(2, 0.4).tdg(2).h(2)
         .cnot(0, 2).y(1).sdg(0).rz(0, 0.7).h(0).z(2).phase(2, 1.1).ry(2, 0.6)
         .u3(1, 0.5, 0.8, -0.3).i(1).toffoli(0, 1, 2).swap(0, 1).rx(0, 0.35))
TWO_Q = (Circuit(2).ry(0, 1.1).rx(1, 0.4).cz(0, 1).rxx(0, 1, 0.7).h(1).ryy(0, 1, -0.5)
         .rzz(1, 0, 0.9).h(0).crx(0, 1, 0.8).cry(1, 0, -1.2).crz(0, 1, 0.6).h(1).ry(0, 0.2))
SMALL = Circuit(1).ry(0, 0.9).rz(0, 0.4).sx(0)
NATIVE = (Circuit(3).gpi2(0, 0.1).gpi(1, 0.3).ms(0, 1, 0.05, 0.2, 0.15).gpi2(1, 0.35)
          .zz(1, 2, 0.12).gpi2(2, 0.7).ms(2, 0, 0.4, 0.1, 0.25).gpi2(0, 0.6).gpi(2, 0.9)
          .ms(1, 2, 0.3, 0.7, 0.1))
# Two jobs: standard gates on circuits of 3, 2 and 1 qubits in one multi-circuit job, and IonQ's
# native gates (which IonQ takes as a separate gate set) in another.
JOBS: tuple[tuple[Circuit, ...], ...] = ((ONE_Q, TWO_Q, SMALL), (NATIVE,))

# A small parametrised circuit and observables for the executor test.
TEMPLATE = (Circuit(2).ry(0, theta[0]).rx(1, theta[1]).cnot(0, 1).ry(0, theta[2])
            .rz(1, theta[3]).h(1))
WEIGHTS = np.array([[0.3, -0.8, 1.2, 0.5], [1.4, 0.6, -0.4, 2.1]])
OBSERVABLES: tuple[Observable, ...] = (Z(0), X(1), Y(0) @ Z(1), 0.5 * X(0) @ X(1) - 0.25 * Z(1),
                                      Projector("10", (0, 1)))


@dataclass(frozen=True)
class Spec:
    """One backend under test. ``noisy``: its reference is the Aria noise model; ``exact``: it
    gives exact probabilities (``shots=None``); ``ionq``: it runs on the local IonQ server;
    ``exact_when_sampled``: it returns exact probabilities even
    when shots are asked for (IonQ's ideal simulator); ``wire_form``: the reference runs the
    circuit as IonQ's JSON carries it (U3 as three rotations, identities dropped), since noise
    follows each gate the device runs; ``native``: it compiles to IonQ's native gates before
    sending, and bills those (a noisy reference then runs the compiled circuit)."""

    id: str
    make: Callable[[IonQEmulator], QuantumBackend]
    noisy: bool = False
    exact: bool = True
    ionq: bool = False
    exact_when_sampled: bool = False
    wire_form: bool = False
    native: bool = False


def _ionq(cls: type[IonQBackend] = IonQBackend, **kwargs: Any
          ) -> Callable[[IonQEmulator], QuantumBackend]:
    def make(emu: IonQEmulator) -> QuantumBackend:
        return cls(KEY, base_url=emu.root_url, poll_min=0.005, poll_max=0.05,
                   backoff_base=0.01, **kwargs)
    return make


SPECS = (
    Spec("mock_ideal", lambda emu: LocalSimulatorBackend()),
    Spec("mock_noisy", lambda emu: NoisySimulatorBackend(), noisy=True),
    Spec("mock_noisy_trajectories", lambda emu: NoisySimulatorBackend(method="trajectories"),
         noisy=True, exact=False),
    Spec("qiskit_aer", lambda emu: QiskitAerBackend()),
    Spec("qiskit_aer_noisy", lambda emu: QiskitAerBackend(noise_model=ARIA), noisy=True),
    Spec("cirq", lambda emu: CirqSimulatorBackend()),
    Spec("cirq_noisy", lambda emu: CirqSimulatorBackend(noise=ARIA), noisy=True),
    Spec("ionq_ideal", _ionq(), ionq=True, exact_when_sampled=True),
    Spec("ionq_aria", _ionq(noise_model="aria-1"), noisy=True, exact=False, ionq=True,
         wire_form=True),
    Spec("ionq_native", _ionq(native_gates=True), ionq=True, exact_when_sampled=True,
         native=True),
    Spec("ionq_native_aria", _ionq(native_gates=True, noise_model="aria-1"), noisy=True,
         exact=False, ionq=True, native=True),
    Spec("ionq_v03", _ionq(api_version="v0.3"), ionq=True, exact_when_sampled=True),
    Spec("cirq_ionq", _ionq(CirqIonQBackend), ionq=True, exact_when_sampled=True),
)


# Client bug surfaced by the emulator's documented-only job objects: IonQ v0.3 lists a
# multi-circuit job's children in "children"; IonQBackend reads v0.4's "child_job_ids" only.


@pytest.fixture(scope="module")
def emu() -> Iterator[IonQEmulator]:
    with IonQEmulator(api_key=KEY, latency=LatencyModel(time_scale=0.001)) as e:
        yield e


@pytest.fixture(params=SPECS, ids=[s.id for s in SPECS])
def spec(request: pytest.FixtureRequest) -> Spec:
    return request.param


def run(backend: QuantumBackend, work: Callable[[QuantumBackend], Any]) -> Any:
    """Run ``work(backend)`` in a fresh event loop and close the backend there."""
    async def go() -> Any:
        async with backend:
            return await work(backend)
    return asyncio.run(go())


# -- references ------------------------------------------------------------------------------

def as_sent(circuit: Circuit) -> Circuit:
    """The circuit the IonQ server runs: our circuit through IonQ's JSON format."""
    gateset, gates = circuit_to_ionq(circuit)
    return circuit_from_ionq(circuit.n_qubits, gates, gateset)


@functools.cache
def _reference(circuit: Circuit, noisy: bool, wire_form: bool, native: bool) -> np.ndarray:
    if not noisy:  # compiling and serialising keep the unitary: the ideal reference is exact
        return SIM.probabilities(circuit)
    if native:  # noise follows the native gates; SWAPs became a relabelling of the wires
        compiled = COMPILER.compile(circuit)
        return compiled.restore_probabilities(NOISY_SIM.probabilities(compiled.circuit))
    return NOISY_SIM.probabilities(as_sent(circuit) if wire_form else circuit)


def reference(spec: Spec, circuit: Circuit) -> np.ndarray:
    return _reference(circuit, spec.noisy, spec.wire_form, spec.native)


def assert_exact(result: CircuitResult, expected: np.ndarray) -> None:
    assert result.shots is None and result.counts is None
    assert result.probabilities.shape == expected.shape
    np.testing.assert_allclose(result.probabilities, expected, rtol=0, atol=EXACT)


def assert_within_shot_noise(result: CircuitResult, expected: np.ndarray, shots: int) -> None:
    """Counts sum to shots, frequencies are counts / shots, and every frequency lies within
    5 binomial sigma (plus one count, for discreteness) of the reference probability; states of
    probability zero are never seen."""
    assert result.shots == shots and result.counts is not None
    assert sum(result.counts.values()) == shots
    assert all(0 <= k < expected.size and v > 0 for k, v in result.counts.items())
    hist = np.zeros(expected.size)
    for k, v in result.counts.items():
        hist[k] = v
    np.testing.assert_allclose(result.probabilities, hist / shots, rtol=0, atol=1e-12)
    assert np.all(hist[expected < 1e-12] == 0)
    sigma = np.sqrt(expected * (1.0 - expected) / shots)
    dev = np.abs(result.probabilities - expected)
    assert np.all(dev <= SIGMAS * sigma + 1.0 / shots), (dev / np.maximum(sigma, 1e-300)).max()


def check_result(spec: Spec, result: CircuitResult, circuit: Circuit, shots: int | None) -> None:
    expected = reference(spec, circuit)
    assert result.n_qubits == circuit.n_qubits
    if shots is None or spec.exact_when_sampled:
        assert_exact(result, expected)
    else:
        assert_within_shot_noise(result, expected, shots)


async def run_jobs(backend: QuantumBackend, shots: int | None, seed: int | None = None
                   ) -> list[list[CircuitResult]]:
    """Submit every job of :data:`JOBS` at once, then collect the results in order."""
    ids = [await backend.submit_job_async(list(job), shots, seed=seed) for job in JOBS]
    results = [await backend.get_job_result(i, timeout=30.0) for i in ids]
    return [list(r.circuits) for r in results]


# -- the reference circuits themselves --------------------------------------------------------

@pytest.mark.parametrize("circuit", [ONE_Q, TWO_Q, SMALL, NATIVE],
                         ids=["one_q", "two_q", "small", "native"])
def test_reference_circuits_are_sensitive(circuit: Circuit) -> None:
    """Guard on the test data: dropping any gate but an identity, or reading the result in the
    reversed bit order, changes the probabilities, so no backend can pass by ignoring a gate
    or reversing bits."""
    p = SIM.probabilities(circuit)
    n = circuit.n_qubits
    for i, op in enumerate(circuit.operations):
        if op.gate == "I":
            continue
        dropped = Circuit(n, circuit.operations[:i] + circuit.operations[i + 1:])
        assert np.abs(SIM.probabilities(dropped) - p).max() > 0.01, (i, op)
    if n > 1:
        reversed_bits = p.reshape((2,) * n).transpose(tuple(range(n - 1, -1, -1))).reshape(-1)
        assert np.abs(reversed_bits - p).max() > 0.05
    assert np.all(np.diff(np.sort(p)) > 1e-3)


def test_every_gate_family_is_covered() -> None:
    from q_store.circuit import GATES

    used = {op.gate for job in JOBS for c in job for op in c.operations}
    assert used == set(GATES)


# -- (1) exact probabilities -------------------------------------------------------------------

@pytest.mark.parametrize("spec", [s for s in SPECS if s.exact], ids=lambda s: s.id)
def test_exact_probabilities_match_reference(spec: Spec, emu: IonQEmulator,
                                            request: pytest.FixtureRequest) -> None:
    backend = spec.make(emu)
    results = run(backend, lambda b: run_jobs(b, None))
    for job, got in zip(JOBS, results, strict=True):
        assert len(got) == len(job)
        for circuit, result in zip(job, got, strict=True):
            check_result(spec, result, circuit, None)


# -- (2) sampled results -----------------------------------------------------------------------

def test_sampled_results_within_shot_noise_and_reproducible(spec: Spec, emu: IonQEmulator,
                                                            request: pytest.FixtureRequest
                                                            ) -> None:
    backend = spec.make(emu)

    async def work(b: QuantumBackend) -> tuple[Any, Any, Any]:
        return (await run_jobs(b, SHOTS, SEED), await run_jobs(b, SHOTS, SEED),
                await run_jobs(b, SHOTS, SEED + 1))

    first, again, other = run(backend, work)
    for job, got in zip(JOBS, first, strict=True):
        for circuit, result in zip(job, got, strict=True):
            check_result(spec, result, circuit, SHOTS)
    flat = [r for job in first for r in job]
    flat_again = [r for job in again for r in job]
    flat_other = [r for job in other for r in job]
    for a, b in zip(flat, flat_again, strict=True):
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
        assert a.counts == b.counts
    if not spec.exact_when_sampled:  # a different seed draws different shots
        assert any(a.counts != c.counts for a, c in zip(flat, flat_other, strict=True))
        counts = flat[0].bitstring_counts()
        assert sum(counts.values()) == SHOTS
        assert all(len(k) == ONE_Q.n_qubits for k in counts)


# -- (3) the job protocol -----------------------------------------------------------------------

def test_job_protocol(spec: Spec, emu: IonQEmulator, request: pytest.FixtureRequest) -> None:
    backend = spec.make(emu)
    exact = backend.capabilities.exact_expectations
    shots = None if exact else 500
    circuits = list(JOBS[0])

    async def work(b: QuantumBackend) -> tuple[str, str, list[JobStatus], JobResult, JobStatus]:
        job = await b.submit_job_async(circuits, shots, seed=SEED)
        other = await b.submit_job_async(circuits[:1], shots, seed=SEED)
        seen = []
        deadline = time.monotonic() + 20.0
        while True:
            status = await b.check_job_status(job)
            seen.append(status)
            if status.done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.005)
        result = await b.get_job_result(job, timeout=20.0)
        await b.cancel_job(job)  # a completed job keeps its results
        after = await b.check_job_status(job)
        again = await b.get_job_result(job, timeout=20.0)
        assert again.probabilities[0].tolist() == result.probabilities[0].tolist()
        await b.get_job_result(other, timeout=20.0)
        return job, other, seen, result, after

    job, other, seen, result, after = run(backend, work)
    assert isinstance(job, str) and isinstance(other, str) and job != other
    assert all(isinstance(s, JobStatus) for s in seen)
    assert seen[-1] is JobStatus.COMPLETED and after is JobStatus.COMPLETED
    assert set(seen[:-1]) <= {JobStatus.SUBMITTED, JobStatus.READY, JobStatus.STARTED}
    assert isinstance(result, JobResult)
    assert result.job_id == job and result.backend == backend.name
    assert len(result) == len(circuits)
    for circuit, r in zip(circuits, result, strict=True):  # submission order
        check_result(spec, r, circuit, shots)


def test_unknown_job_id_raises_backend_error(spec: Spec, emu: IonQEmulator) -> None:
    backend = spec.make(emu)
    missing = "no-such-job-00000000"

    async def work(b: QuantumBackend) -> None:
        with pytest.raises(BackendError):
            await b.check_job_status(missing)
        with pytest.raises(BackendError):
            await b.get_job_result(missing, timeout=5.0)
        with pytest.raises(BackendError):
            await b.cancel_job(missing)

    run(backend, work)


# -- (4) capabilities --------------------------------------------------------------------------

def posts(emu: IonQEmulator) -> int:
    return sum(1 for method, _, _ in emu.requests if method == "POST")


def test_capabilities_are_consistent(spec: Spec, emu: IonQEmulator) -> None:
    backend = spec.make(emu)
    caps = backend.capabilities
    assert isinstance(caps.max_qubits, int) and caps.max_qubits >= ONE_Q.n_qubits
    assert caps.noisy == spec.noisy and caps.exact_expectations == spec.exact
    assert isinstance(backend.name, str) and backend.name
    too_big = Circuit(caps.max_qubits + 1).x(caps.max_qubits)
    before = posts(emu)

    async def work(b: QuantumBackend) -> None:
        with pytest.raises(CircuitError, match="at most"):
            await b.submit_job_async(too_big, 10)
        if caps.exact_expectations:
            job = await b.submit_job_async(SMALL, None)
            assert (await b.get_job_result(job, timeout=20.0))[0].shots is None
        else:
            with pytest.raises(BackendError, match="only samples"):
                await b.submit_job_async(SMALL, None)

    run(backend, work)
    expected_posts = 1 if spec.ionq and caps.exact_expectations else 0
    assert posts(emu) - before == expected_posts  # refused requests never left the machine


# -- (5) cost estimates ------------------------------------------------------------------------

@pytest.mark.parametrize("shots", [None, 100])
def test_estimate_cost_counts_billed_gates(spec: Spec, emu: IonQEmulator,
                                           shots: int | None) -> None:
    backend = spec.make(emu)
    circuits = [c for job in JOBS for c in job]
    est = backend.estimate_cost(circuits, shots)
    assert isinstance(est, CostEstimate)
    sent = [COMPILER.compile(c).circuit for c in circuits] if spec.native else circuits
    counts = [count_billed_gates(c) for c in sent]
    assert est.circuits == len(circuits)
    assert est.shots == shots and est.billed_shots == (1 if shots is None else shots)
    assert est.one_qubit_gates == sum(n1 for n1, _ in counts)
    assert est.two_qubit_gates == sum(n2 for _, n2 in counts)
    assert est.usd >= 0.0 and est.seconds >= 0.0
    if backend.capabilities.cost_model.is_free:
        assert est.usd == 0.0
    single = backend.estimate_cost(ONE_Q, shots)
    assert (single.one_qubit_gates, single.two_qubit_gates) == counts[0]


# -- (6) expectation values through the BackendExecutor -------------------------------------------

def _rotated(circuit: Circuit, letters: dict[int, str]) -> Circuit:
    b = Circuit.builder(circuit.n_qubits)
    for w, letter in sorted(letters.items()):
        if letter == "Y":
            b.sdg(w)
        if letter in "XY":
            b.h(w)
    return circuit.compose(b.build())


def _term_value(circuit: Circuit, term: PauliString, spec: Spec) -> tuple[float, float]:
    """``(<term>, its standard deviation for one shot)`` measured as hardware does: the basis
    change is part of the circuit, so noise acts on it too."""
    p = reference(spec, _rotated(circuit, dict(term.paulis)))
    n = circuit.n_qubits
    sign = np.ones(2**n)
    for w, _ in term.paulis:
        sign *= 1.0 - 2.0 * ((np.arange(2**n) >> (n - 1 - w)) & 1)
    e = float(p @ sign)
    return term.coeff * e, abs(term.coeff) * np.sqrt(max(1.0 - e * e, 0.0))


def expected_values(spec: Spec, circuit: Circuit, obs: Sequence[Observable]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Reference ``<O_k>`` of a bound circuit and a bound on their one-shot deviations."""
    vals, devs = [], []
    for o in obs:
        if isinstance(o, Projector):
            v = float(reference(spec, circuit)[o.indices(circuit.n_qubits)].sum())
            vals.append(v)
            devs.append(np.sqrt(v * (1.0 - v)))
            continue
        terms = o.terms if isinstance(o, PauliSum) else (o,)
        parts = [_term_value(circuit, t, spec) for t in terms]
        vals.append(sum(v for v, _ in parts))
        devs.append(sum(d for _, d in parts))  # a bound, whatever the correlations
    return np.array(vals), np.array(devs)


def test_executor_expectations_agree(spec: Spec, emu: IonQEmulator,
                                     request: pytest.FixtureRequest) -> None:
    backend = spec.make(emu)
    exact = backend.capabilities.exact_expectations
    shots = None if exact else SHOTS
    executor = BackendExecutor(backend, shots, seed=SEED, timeout=30.0)
    try:
        got = executor.expectation(TEMPLATE, OBSERVABLES, weights=WEIGHTS)
    finally:
        executor.close()
    assert got.shape == (len(WEIGHTS), len(OBSERVABLES))
    for row, w in zip(got, WEIGHTS, strict=True):
        want, dev = expected_values(spec, TEMPLATE.bind(w), OBSERVABLES)
        if exact:
            np.testing.assert_allclose(row, want, rtol=0, atol=EXACT)
        else:
            assert np.all(np.abs(row - want) <= SIGMAS * dev / np.sqrt(SHOTS) + 2.0 / SHOTS)
    if not spec.noisy:
        ideal = SIM.expectation(TEMPLATE, OBSERVABLES, weights=WEIGHTS)
        np.testing.assert_allclose(got, ideal, rtol=0, atol=EXACT)
