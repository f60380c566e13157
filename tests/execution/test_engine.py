"""The execution engine answers plans the same on every target; a step's requests go to a
backend together; plans count their own circuits."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend
from q_store.circuit import Circuit, X, Z, theta, x
from q_store.errors import ConfigError
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.engine import ExecutionEngine, values_request
from q_store.execution.requests import Plan
from q_store.gradients import (
    AdjointGradient,
    FiniteDifferenceGradient,
    ParameterShiftGradient,
    SPSAGradient,
)
from q_store.sim import StatevectorSimulator

CIRCUIT = (Circuit(3).rx(0, x[0]).ry(1, theta[0]).cnot(0, 1).crz(1, 2, theta[1])
           .rx(2, 2 * theta[2] + x[1]))
OBS = (Z(0), X(1) @ Z(2))
W = np.array([0.3, -0.8, 1.1])
XIN = np.array([[0.2, 0.9], [-1.1, 0.4], [0.5, -0.3]])


class CountingJobs(LocalSimulatorBackend):
    def __init__(self) -> None:
        super().__init__("counting")
        self.jobs = 0

    async def submit_job_async(self, circuits, shots=None, **kw):  # type: ignore[no-untyped-def]
        self.jobs += 1
        return await super().submit_job_async(circuits, shots, **kw)


def engines() -> tuple[ExecutionEngine, ExecutionEngine, CountingJobs]:
    sim = StatevectorSimulator()
    backend = CountingJobs()
    return ExecutionEngine(sim), ExecutionEngine(sim, executor=BackendExecutor(backend)), backend


@pytest.mark.parametrize("method", [ParameterShiftGradient(), FiniteDifferenceGradient(),
                                    SPSAGradient(seed=3)])
def test_a_plan_gives_the_same_answer_locally_and_on_a_backend(method):
    local, remote, backend = engines()
    plan = method.plan(CIRCUIT, OBS, W, XIN, wrt=("weights", "inputs"), state=method.init())
    a = asyncio.run(local.execute(plan))
    b = asyncio.run(remote.execute(plan))
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-9)
    np.testing.assert_allclose(a.inputs, b.inputs, atol=1e-9)
    assert backend.jobs == 1
    if isinstance(method, ParameterShiftGradient):  # exact: equals the adjoint gradient
        adj = AdjointGradient().jacobian(CIRCUIT, OBS, W, XIN, wrt=("weights", "inputs"))
        np.testing.assert_allclose(a.weights, adj.weights, atol=1e-10)


def test_plans_count_their_circuit_runs():
    ps = ParameterShiftGradient().plan(CIRCUIT, OBS, W, XIN)
    # RY (2 shifts) + CRZ (4 shifts) + RX(2 theta + x) (2 shifts), plus the values: 9 per sample
    assert len(ps) == 9 * len(XIN)
    assert len(SPSAGradient(seed=0, n_samples=2).plan(CIRCUIT, OBS, W, XIN)) == 5 * len(XIN)
    assert len(AdjointGradient().plan(CIRCUIT, OBS, W, XIN)) == 2 * len(XIN)


def test_a_plan_does_not_change_the_method():
    spsa = SPSAGradient(seed=0)
    before = spsa.state
    plan = spsa.plan(CIRCUIT, OBS, W, XIN, state=before)
    assert spsa.state == before and plan.state.k == before.k + 1


def test_all_requests_of_a_step_go_to_the_backend_together():
    local, remote, backend = engines()
    requests = (values_request(CIRCUIT, OBS, W, XIN), values_request(CIRCUIT, OBS, W + 0.1, XIN))
    plan = Plan(requests, lambda answers: list(answers))
    a, b = asyncio.run(remote.execute(plan))
    assert backend.jobs == 1
    want_a, want_b = asyncio.run(local.execute(plan))
    np.testing.assert_allclose(a, want_a, atol=1e-12)
    np.testing.assert_allclose(b, want_b, atol=1e-12)


def test_adjoint_needs_the_local_simulator():
    _, remote, backend = engines()
    plan = AdjointGradient().plan(CIRCUIT, OBS, W, XIN)
    with pytest.raises(ConfigError, match=r"needs the exact local simulator.*parameter_shift"):
        asyncio.run(remote.execute(plan))
    assert backend.jobs == 0
