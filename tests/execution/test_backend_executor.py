"""BackendExecutor: expectation values from backend jobs equal the simulators' (exactly, or
within shot noise), noise acts on the basis changes as on hardware, the budget refuses work
before anything is submitted, failed jobs are resubmitted, and gradient methods run on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.base import BackendCapabilities, CircuitResult
from q_store.backends.cost import CostBudget, CostModel
from q_store.circuit import Circuit, Observable, PauliString, PauliSum, Projector, X, Y, Z, theta, x
from q_store.circuit.params import resolve_batch
from q_store.errors import (
    BudgetExceededError,
    ConfigError,
    JobFailedError,
    JobTimeoutError,
    NotSupportedError,
    ValidationError,
)
from q_store.execution.backend_executor import BackendExecutor, bind_angles
from q_store.gradients import AdjointGradient, ParameterShiftGradient
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel
from q_store.sim.statevector import parameter_map_for

SIM = StatevectorSimulator()
EXACT = 1e-12
GRAD = 1e-10

# weights and inputs, angle expressions, a controlled rotation (four-term shift rule)
CIRCUIT = (Circuit(3).ry(0, theta[0]).rx(1, 2.0 * theta[1] + x[0]).h(2).cnot(0, 1)
           .rz(1, theta[2]).cry(2, 0, theta[3]).rxx(1, 2, x[1] - 0.3).ry(2, theta[4]))
W = np.array([[0.3, -0.8, 1.2, 0.5, 2.0], [1.4, 0.6, -0.4, 2.1, -0.7]])
XIN = np.array([[0.2, 0.9], [-1.1, 0.4]])
OBS: tuple[Observable, ...] = (
    X(0), Y(1), Z(2), X(0) @ Y(1) @ Z(2), Y(0) @ Y(2),
    0.3 * X(0) @ X(1) - 0.7 * Y(2), Projector("101", (0, 1, 2)), Projector("1", (1,)))
# for amplitude encoding: a template on 3 qubits acting on prepared states
LAYER = Circuit(3).ry(0, theta[0]).cnot(0, 1).rx(2, theta[1]).crz(1, 2, theta[2]).h(0)


def states(rows: int, n: int, seed: int, complex_: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(rows, 2**n))
    if complex_:
        s = s + 1j * rng.normal(size=(rows, 2**n))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


class Recording(LocalSimulatorBackend):
    """The exact local backend, counting submitted jobs and circuits; it can carry a price,
    fail its first ``fail_first`` jobs, or hold jobs until :attr:`release` is set."""

    def __init__(self, *, cost_model: CostModel | None = None, exact: bool = True,
                 fail_first: int = 0, hold: bool = False) -> None:
        super().__init__("recording")
        self.cost_model = cost_model or CostModel.free()
        self.exact = exact
        self.fail_first = fail_first
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.submitted: list[int] = []  # circuits per submitted job
        self.executed = 0

    @property
    def capabilities(self) -> BackendCapabilities:
        return replace(super().capabilities, cost_model=self.cost_model,
                       exact_expectations=self.exact)

    async def submit_job_async(self, circuits, shots=None, **kwargs):  # type: ignore[no-untyped-def]
        job = await super().submit_job_async(circuits, shots, **kwargs)
        self.submitted.append(1 if isinstance(circuits, Circuit) else len(circuits))
        return job

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        self.executed += 1
        if not self.release.wait(10.0):
            raise RuntimeError("test job was never released")
        if self.executed <= self.fail_first:
            raise RuntimeError(f"transient failure {self.executed}")
        return super()._execute(circuits, shots, rng)


@pytest.fixture
def local() -> Iterator[BackendExecutor]:
    ex = BackendExecutor(LocalSimulatorBackend())
    yield ex
    ex.close()


# -- exact values ----------------------------------------------------------------------------------

def test_exact_backend_reproduces_the_simulator(local: BackendExecutor) -> None:
    got = local.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
    want = SIM.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
    assert got.shape == (2, len(OBS))
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)
    one = local.expectation(CIRCUIT, Z(2), weights=W[0], inputs=XIN[0])
    np.testing.assert_allclose(one, [[want[0, 2]]], atol=EXACT)


def test_expectation_angles_match_the_simulator(local: BackendExecutor) -> None:
    rng = np.random.default_rng(3)
    angles = rng.uniform(-np.pi, np.pi, size=(4, CIRCUIT.num_gate_params))
    np.testing.assert_allclose(local.expectation_angles(CIRCUIT, angles, OBS),
                               SIM.expectation_angles(CIRCUIT, angles, OBS), rtol=0, atol=EXACT)


@pytest.mark.parametrize("complex_", [False, True])
def test_amplitude_encoded_initial_states(local: BackendExecutor, complex_: bool) -> None:
    init = states(3, 3, seed=11, complex_=complex_)
    w = np.array([[0.4, -1.3, 0.8], [1.0, 0.2, -0.6], [-2.0, 0.7, 1.5]])
    got = local.expectation(LAYER, OBS, weights=w, initial_state=init)
    want = SIM.expectation(LAYER, OBS, weights=w, initial_state=init)
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)
    one = local.expectation(LAYER, OBS, weights=w[1], initial_state=init[1])
    np.testing.assert_allclose(one, want[1:2], rtol=0, atol=EXACT)


def test_one_weight_vector_broadcasts_over_initial_states(local: BackendExecutor) -> None:
    init = states(3, 3, seed=11, complex_=False)
    w = np.array([0.4, -1.3, 0.8])
    want = SIM.expectation(LAYER, OBS, weights=w, initial_state=init)
    np.testing.assert_allclose(local.expectation(LAYER, OBS, weights=w, initial_state=init),
                               want, rtol=0, atol=EXACT)


def test_bind_angles_sets_every_gate_parameter() -> None:
    batch = resolve_batch(CIRCUIT, W[1], XIN[1])
    angles = parameter_map_for(CIRCUIT).angles(batch)[0]
    bound = bind_angles(CIRCUIT, angles)
    assert not bound.symbols
    assert [op.gate for op in bound.operations] == [op.gate for op in CIRCUIT.operations]
    np.testing.assert_allclose(SIM.state(bound), SIM.state(CIRCUIT, W[1], XIN[1]), atol=EXACT)


def test_async_api_awaits_on_the_callers_loop_and_sync_api_refuses_inside_it(
        local: BackendExecutor) -> None:
    """No private event-loop thread: inside a running loop the caller awaits the async API;
    the synchronous call says so instead of blocking (and deadlocking) that loop."""
    pm = parameter_map_for(CIRCUIT)
    angles = pm.angles(resolve_batch(CIRCUIT, W, XIN))

    async def inside() -> np.ndarray:
        with pytest.raises(NotSupportedError, match="await the matching"):
            local.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
        return await local.expectation_angles_async(CIRCUIT, angles, OBS)

    np.testing.assert_allclose(asyncio.run(inside()),
                               SIM.expectation(CIRCUIT, OBS, weights=W, inputs=XIN), atol=EXACT)


# -- noise acts on the basis change ------------------------------------------------------------

def _hardware_value(dm: DensityMatrixSimulator, bound: Circuit, o: Observable) -> float:
    """``<o>`` as hardware measures it: each term's basis change appended to the circuit."""
    n = bound.n_qubits
    if isinstance(o, Projector):
        return float(dm.probabilities(bound)[o.indices(n)].sum())
    total = 0.0
    for term in (o.terms if isinstance(o, PauliSum) else (o,)):
        assert isinstance(term, PauliString)
        b = Circuit.builder(n)
        for w, letter in term.paulis:
            if letter == "Y":
                b.sdg(w)
            if letter != "Z":
                b.h(w)
        p = dm.probabilities(bound.compose(b.build()))
        sign = np.ones(2**n)
        for w, _ in term.paulis:
            sign *= 1.0 - 2.0 * ((np.arange(2**n) >> (n - 1 - w)) & 1)
        total += term.coeff * float(p @ sign)
    return total


def test_noisy_backend_equals_density_matrix_with_basis_changes() -> None:
    noise = NoiseModel.ionq_aria()
    ex = BackendExecutor(NoisySimulatorBackend(noise_model=noise))
    try:
        got = ex.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
    finally:
        ex.close()
    dm = DensityMatrixSimulator(noise)
    for row, w, xin in zip(got, W, XIN, strict=True):
        bound = CIRCUIT.bind(w, xin)
        want = [_hardware_value(dm, bound, o) for o in OBS]
        np.testing.assert_allclose(row, want, rtol=0, atol=EXACT)
    ideal = SIM.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
    assert np.abs(got - ideal).max() > 1e-3  # the noise is really there


# -- shots ---------------------------------------------------------------------------------------

def test_shot_estimates_within_five_sigma_and_seeded() -> None:
    shots = 4000
    obs = OBS[:5] + OBS[6:]  # single terms and projectors: one-shot variance 1 - <O>^2 or p(1-p)
    want = SIM.expectation(CIRCUIT, obs, weights=W, inputs=XIN)
    var = np.where([isinstance(o, Projector) for o in obs], want * (1 - want), 1 - want**2)
    sigma = np.sqrt(np.clip(var, 0, None) / shots)
    values = []
    for seed in (5, 5, 6):
        ex = BackendExecutor(LocalSimulatorBackend(), shots, seed=seed)
        try:
            values.append(ex.expectation(CIRCUIT, obs, weights=W, inputs=XIN))
        finally:
            ex.close()
    assert np.all(np.abs(values[0] - want) <= 5 * sigma + 1e-12)
    np.testing.assert_array_equal(values[0], values[1])
    assert not np.array_equal(values[0], values[2])


# -- budget --------------------------------------------------------------------------------------

def test_budget_refuses_before_submitting_anything() -> None:
    backend = Recording(cost_model=CostModel.ionq_aria())
    budget = CostBudget(50.0)
    ex = BackendExecutor(backend, 100, seed=1, budget=budget)
    try:
        with pytest.raises(BudgetExceededError, match="nothing was submitted"):
            ex.expectation(CIRCUIT, Z(0), weights=W, inputs=XIN)
    finally:
        ex.close()
    assert backend.submitted == [] and backend.executed == 0
    assert budget.spent_usd == 0.0 and ex.stats["circuits"] == 0 and ex.stats["jobs"] == 0


def test_budget_counts_every_basis_circuit_and_accepts_an_exact_fit() -> None:
    # 2 rows x 2 bases (Z and X on wire 0) = 4 circuits, each at the $97.50 minimum
    obs = (Z(0), X(0))
    backend = Recording(cost_model=CostModel.ionq_aria())
    too_small = BackendExecutor(backend, 100, budget=CostBudget(4 * 97.50 - 0.01))
    try:
        with pytest.raises(BudgetExceededError):
            too_small.expectation(CIRCUIT, obs, weights=W, inputs=XIN)
    finally:
        too_small.close()
    assert backend.submitted == []
    budget = CostBudget(4 * 97.50)
    ex = BackendExecutor(backend, 100, seed=2, budget=budget)
    try:
        ex.expectation(CIRCUIT, obs, weights=W, inputs=XIN)
        assert backend.submitted == [4] and budget.spent_usd == 4 * 97.50
        assert ex.stats["usd"] == 4 * 97.50 and ex.stats["circuits"] == 4
        with pytest.raises(BudgetExceededError):
            ex.expectation(CIRCUIT, obs, weights=W[:1], inputs=XIN[:1])
        assert backend.submitted == [4] and budget.spent_usd == 4 * 97.50
    finally:
        ex.close()


# -- jobs, retries, timeouts ---------------------------------------------------------------------

def test_one_job_per_call_or_one_per_circuit() -> None:
    batched, single = Recording(), Recording()
    a = BackendExecutor(batched)
    b = BackendExecutor(single, batch_jobs=False)
    try:
        va = a.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
        vb = b.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
    finally:
        a.close()
        b.close()
    n = sum(single.submitted)
    assert batched.submitted == [n] and single.submitted == [1] * n
    assert a.stats["jobs"] == 1 and b.stats["jobs"] == n
    np.testing.assert_allclose(va, vb, atol=EXACT)


def test_failed_jobs_are_resubmitted() -> None:
    backend = Recording(fail_first=2)
    ex = BackendExecutor(backend, retries=2)
    try:
        got = ex.expectation(CIRCUIT, OBS, weights=W, inputs=XIN)
    finally:
        ex.close()
    np.testing.assert_allclose(got, SIM.expectation(CIRCUIT, OBS, weights=W, inputs=XIN),
                               atol=EXACT)
    assert len(backend.submitted) == 3 and ex.stats["retried_jobs"] == 2
    assert ex.stats["jobs"] == 3


def test_failure_after_the_last_retry_is_raised() -> None:
    backend = Recording(fail_first=2)
    ex = BackendExecutor(backend, retries=1)
    try:
        with pytest.raises(JobFailedError, match="transient failure 2"):
            ex.expectation(CIRCUIT, Z(0), weights=W, inputs=XIN)
    finally:
        ex.close()
    assert len(backend.submitted) == 2


def test_timeout_is_raised_not_retried() -> None:
    backend = Recording(hold=True)
    ex = BackendExecutor(backend, timeout=0.05, retries=3)
    try:
        with pytest.raises(JobTimeoutError):
            ex.expectation(CIRCUIT, Z(0), weights=W, inputs=XIN)
        assert len(backend.submitted) == 1
    finally:
        backend.release.set()
        ex.close()


def test_configuration_is_validated() -> None:
    with pytest.raises(ConfigError, match="expected a QuantumBackend"):
        BackendExecutor(StatevectorSimulator())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="only samples; set shots"):
        BackendExecutor(Recording(exact=False))
    with pytest.raises(ConfigError, match="retries"):
        BackendExecutor(LocalSimulatorBackend(), retries=-1)
    ex = BackendExecutor(LocalSimulatorBackend())
    try:
        with pytest.raises(ValidationError, match="angles must be finite"):
            ex.expectation_angles(CIRCUIT, np.zeros((2, 3)), (Z(0),))
        with pytest.raises(ValidationError, match="angles must be finite"):
            ex.expectation_angles(CIRCUIT, np.full((1, CIRCUIT.num_gate_params), np.nan),
                                  (Z(0),))
    finally:
        ex.close()


# -- gradient methods on the executor -------------------------------------------------------------

def test_parameter_shift_on_the_executor_equals_adjoint(local: BackendExecutor) -> None:
    obs = (Z(0), X(1) @ Y(2), 0.5 * Z(1) - X(2))
    ps = ParameterShiftGradient(local).jacobian(CIRCUIT, obs, W, XIN, wrt=("weights", "inputs"))
    adj = AdjointGradient().jacobian(CIRCUIT, obs, W, XIN, wrt=("weights", "inputs"))
    np.testing.assert_allclose(ps.values, adj.values, rtol=0, atol=GRAD)
    np.testing.assert_allclose(ps.weights, adj.weights, rtol=0, atol=GRAD)
    np.testing.assert_allclose(ps.inputs, adj.inputs, rtol=0, atol=GRAD)
    assert np.abs(adj.weights).max() > 0.1  # not a vacuous comparison


def test_parameter_shift_with_initial_states_equals_adjoint(local: BackendExecutor) -> None:
    init = states(2, 3, seed=4, complex_=True)
    w = np.array([[0.4, -1.3, 0.8], [1.0, 0.2, -0.6]])
    obs = (Z(0), Y(1) @ X(2))
    ps = ParameterShiftGradient(local).jacobian(LAYER, obs, w, initial_state=init)
    adj = AdjointGradient().jacobian(LAYER, obs, w, initial_state=init)
    np.testing.assert_allclose(ps.values, adj.values, rtol=0, atol=GRAD)
    np.testing.assert_allclose(ps.weights, adj.weights, rtol=0, atol=GRAD)


def test_repr_names_backend_and_budget() -> None:
    ex = BackendExecutor(LocalSimulatorBackend(), 100, budget=CostBudget(5.0))
    assert "mock_ideal" in repr(ex) and "shots=100" in repr(ex) and "limit_usd=5.0" in repr(ex)
