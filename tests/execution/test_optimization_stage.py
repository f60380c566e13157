"""The optimisation stage on the execution path: the factory builds it from the config, the
pipeline runs it on every circuit it sends and reports an ``optimization`` event, the executor
prunes each circuit to the light cone of the wires its observables read; results unchanged."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest

from q_store.backends.base import BackendCapabilities, CircuitResult, InProcessBackend
from q_store.backends.cost import CostBudget
from q_store.backends.local import run_on_simulator
from q_store.circuit import Circuit, PauliSum, Projector, X, Y, Z, theta, x
from q_store.compile.optimizer import AdaptiveCircuitOptimizer
from q_store.errors import ConfigWarning
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.factory import engine_from_config, pipeline_from_config
from q_store.execution.measurement import measurement_plan
from q_store.execution.tracker import PerformanceTracker
from q_store.ml.config import TrainingConfig
from q_store.sim import StatevectorSimulator

ATOL = 1e-12


class Recording(InProcessBackend):
    """Exact simulation that keeps every circuit it was sent."""

    def __init__(self, name: str = "recording", compiler: object = None) -> None:
        super().__init__()
        self.name = name
        self.compiler = compiler
        self.sent: list[Circuit] = []
        self.sim = StatevectorSimulator()

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=20, exact_expectations=True)

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        self.sent += circuits
        return run_on_simulator(self.sim, circuits, shots, rng)

    @property
    def gates(self) -> int:
        return sum(len(c) for c in self.sent)


# a linear chain: reading wire 0 leaves most of the last layer outside the light cone
CHAIN = Circuit(4)
for _q in range(4):
    CHAIN = CHAIN.rx(_q, x[_q])
for _layer in range(2):
    for _q in range(4):
        CHAIN = CHAIN.ry(_q, theta[2 * _q + 8 * _layer]).rz(_q, theta[2 * _q + 1 + 8 * _layer])
    for _q in range(3):
        CHAIN = CHAIN.cnot(_q, _q + 1)
W = np.linspace(-1.2, 1.3, 16)
XS = np.array([[0.1, -0.4, 0.8, 1.1], [-0.9, 0.3, 0.2, -0.6]])


def test_measured_wires_follow_the_observables():
    assert measurement_plan((Z(0), X(1) @ Z(2)), 4).measured_wires == (
        frozenset({0, 1, 2}),)  # one basis for both (qubit-wise commuting)
    plan = measurement_plan((Z(0), X(0) @ Z(2)), 4)
    assert plan.measured_wires == (frozenset({0}), frozenset({0, 2}))
    assert measurement_plan((Projector("01", (1, 3)),), 4).measured_wires == (
        frozenset({1, 3}),)
    two = measurement_plan((PauliSum([Z(0) @ Z(1), X(0) @ Y(2)]),), 3)
    assert two.measured_wires == (frozenset({0, 1}), frozenset({0, 2}))


def run(executor: BackendExecutor, circuit: Circuit, obs: tuple) -> np.ndarray:
    from q_store.circuit.params import resolve_batch
    from q_store.sim.statevector import parameter_map_for

    angles = parameter_map_for(circuit).angles(resolve_batch(circuit, W, XS))
    return asyncio.run(executor.expectation_angles_async(circuit, angles, obs))


@pytest.mark.parametrize("obs", [(Z(0),), (X(0) @ Z(1),), (Z(0), Y(3)),
                                 (Projector("1", (1,)), Projector("0", (1,)))])
def test_light_cone_and_passes_keep_the_expectations(obs):
    plain, pruned = Recording(), Recording()
    opt = AdaptiveCircuitOptimizer()
    base = run(BackendExecutor(plain), CHAIN, obs)
    pipeline = pipeline_from_config(TrainingConfig(enable_circuit_optimization=True), pruned,
                                    budget=CostBudget(None), seed=0, optimizer=opt)
    ours = run(BackendExecutor(pruned, pipeline=pipeline, prune=opt.restrict_to_measured),
               CHAIN, obs)
    np.testing.assert_allclose(ours, base, atol=ATOL)
    np.testing.assert_allclose(base, StatevectorSimulator().expectation(CHAIN, obs, W, XS),
                               atol=ATOL)
    assert pruned.gates < plain.gates
    if obs == (Z(0),):
        assert opt.get_stats()["light_cone_removed"] > 0


def test_the_factory_puts_the_stage_on_the_path_and_the_pipeline_reports_it():
    tracker = PerformanceTracker()
    backend = Recording()
    cfg = TrainingConfig(enable_circuit_optimization=True, gradient_method="parameter_shift")
    engine = engine_from_config(cfg, simulator=StatevectorSimulator(), backend=backend,
                                rng=np.random.default_rng(0), budget=CostBudget(None),
                                tracker=tracker)
    assert engine.executor is not None
    assert isinstance(engine.executor.pipeline.optimizer, AdaptiveCircuitOptimizer)
    assert engine.executor.prune is not None
    c = Circuit(2).h(0).rx(1, 0.0).cnot(0, 1).rz(1, 0.3)
    asyncio.run(engine.executor.pipeline.run([c, c.h(0)]))
    (event,) = tracker.events("optimization")
    assert (event["circuits"], event["gates_before"], event["gates_after"]) == (2, 9, 5)
    assert event["exact"] and event["backend"] == "recording"
    assert [len(k) for k in backend.sent] == [2, 3]
    off = engine_from_config(TrainingConfig(gradient_method="parameter_shift"),
                             simulator=StatevectorSimulator(), backend=Recording(),
                             rng=np.random.default_rng(0), budget=CostBudget(None))
    assert off.executor is not None and off.executor.pipeline.optimizer is None
    assert off.executor.prune is None


def test_a_native_compiling_backend_keeps_final_z_rotations_for_its_compiler():
    cfg = TrainingConfig(enable_circuit_optimization=True, gradient_method="parameter_shift")
    engine = engine_from_config(cfg, simulator=StatevectorSimulator(),
                                backend=Recording(compiler=object()),
                                rng=np.random.default_rng(0), budget=CostBudget(None))
    assert engine.executor is not None and engine.executor.pipeline.optimizer.virtual_z


def test_the_local_simulator_says_optimisation_does_not_apply():
    cfg = TrainingConfig(enable_circuit_optimization=True)
    with pytest.warns(ConfigWarning, match="no effect on the exact local simulator"):
        engine_from_config(cfg, simulator=StatevectorSimulator(), backend=None,
                           rng=np.random.default_rng(0), budget=CostBudget(None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        engine_from_config(TrainingConfig(), simulator=StatevectorSimulator(), backend=None,
                           rng=np.random.default_rng(0), budget=CostBudget(None))


def test_the_budget_is_charged_for_the_optimised_circuits():
    class Priced(Recording):
        def estimate_cost(self, circuits, shots):  # type: ignore[no-untyped-def]
            from q_store.backends.cost import CostEstimate

            gates = sum(len(c) for c in circuits)
            return CostEstimate(len(circuits), shots or 0, gates, 0, float(gates), 0.0)

    backend = Priced()
    pipeline = pipeline_from_config(TrainingConfig(enable_circuit_optimization=True), backend,
                                    budget=CostBudget(None), seed=0)
    asyncio.run(pipeline.run([Circuit(1).h(0).h(0).x(0)]))
    assert pipeline.stats["usd"] == 1.0  # one gate left of three
