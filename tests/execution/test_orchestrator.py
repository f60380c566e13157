"""MultiBackendOrchestrator: results identical whatever the split (per-circuit seeds), splits
that follow measured throughput, the budget never exceeded, exact and sampled backends never
mixed unless allowed, statistics and events. Failover on real HTTP servers is in
test_orchestrator_failover.py."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.base import BackendCapabilities, CircuitResult
from q_store.backends.cost import CostBudget, CostModel
from q_store.backends.ionq.backend import IonQBackend
from q_store.circuit import Circuit
from q_store.demo import hardware_efficient_circuit
from q_store.errors import BudgetExceededError, ConfigError, JobFailedError
from q_store.execution.orchestrator import MultiBackendOrchestrator
from q_store.execution.pipeline import CircuitPipeline, SingleBackend
from q_store.execution.tracker import PerformanceTracker

TEMPLATE = hardware_efficient_circuit(4, 2)
RNG = np.random.default_rng(7)
CIRCUITS = [TEMPLATE.bind(RNG.uniform(0, 6, TEMPLATE.n_weights),
                          RNG.uniform(0, 3, TEMPLATE.n_inputs)) for _ in range(24)]
SHOTS = 300
ARIA = CostModel.ionq_aria(error_mitigation=False)  # USD 12.4166 minimum per circuit


class Paid(LocalSimulatorBackend):
    """The exact simulator priced like IonQ Aria (no network needed to test the budget)."""

    def __init__(self, name: str = "paid") -> None:
        super().__init__(name)
        self.submitted: list[int] = []

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=20, exact_expectations=True, cost_model=ARIA)

    async def submit_job_async(self, circuits: Any, shots: Any = None, **kw: Any) -> str:
        self.submitted.append(len(circuits))
        return await super().submit_job_async(circuits, shots, **kw)


class Slow(LocalSimulatorBackend):
    """Takes ``delay`` seconds per circuit (a slow device)."""

    def __init__(self, name: str, delay: float) -> None:
        super().__init__(name)
        self.delay = delay

    def _execute(self, circuits: list[Circuit], shots: int | None, rng: Any
                 ) -> list[CircuitResult]:
        time.sleep(self.delay * len(circuits))
        return super()._execute(circuits, shots, rng)


class Broken(LocalSimulatorBackend):
    def _execute(self, circuits: list[Circuit], shots: int | None, rng: Any
                 ) -> list[CircuitResult]:
        raise RuntimeError("device on fire")


def run_pipeline(submitter: Any, shots: int | None = SHOTS, calls: int = 3, seed: int = 5,
                 circuits: list[Circuit] = CIRCUITS, **kw: Any) -> list[list[CircuitResult]]:
    async def go() -> list[list[CircuitResult]]:
        pipeline = CircuitPipeline(submitter, shots=shots, seed=seed, **kw)
        return [await pipeline.run(circuits) for _ in range(calls)]

    return asyncio.run(go())


def identical(a: list[list[CircuitResult]], b: list[list[CircuitResult]]) -> bool:
    return all(np.array_equal(x.probabilities, y.probabilities) and x.counts == y.counts
               for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def splits(tracker: PerformanceTracker) -> list[dict[str, int]]:
    return [e["split"] for e in tracker.events("backend_stats")]


# -- identical results whatever the split ------------------------------------------------------

@pytest.mark.parametrize("kind", [LocalSimulatorBackend, NoisySimulatorBackend])
def test_seeded_shots_are_identical_whatever_the_split(kind: type) -> None:
    reference = run_pipeline(SingleBackend(kind()))
    seen = []
    for weights in ([1, 1, 1], [1, 5, 20], [30, 1, 1]):
        tracker = PerformanceTracker()
        orch = MultiBackendOrchestrator([kind(), kind(), kind()], shots=SHOTS,
                                        weights=weights, tracker=tracker)
        assert identical(run_pipeline(orch), reference)
        seen.append(splits(tracker)[0])
    assert len({tuple(s.values()) for s in seen}) == 3  # three different splits
    # one circuit per job, and one backend only: still the same results
    one = MultiBackendOrchestrator([kind()], shots=SHOTS)
    assert identical(run_pipeline(one, batching=_per_circuit()), reference)


def _per_circuit() -> Any:
    from q_store.execution.pipeline import FixedBatches

    return FixedBatches(one_job=False, max_size=1)


def test_exact_results_equal_single_backend_results() -> None:
    reference = run_pipeline(SingleBackend(LocalSimulatorBackend()), shots=None)
    orch = MultiBackendOrchestrator([LocalSimulatorBackend() for _ in range(3)],
                                    weights=[1, 3, 9])
    got = run_pipeline(orch, shots=None)
    assert identical(got, reference) and got[0][0].shots is None


def test_forced_throughputs_change_the_split_not_the_results() -> None:
    reference = run_pipeline(SingleBackend(LocalSimulatorBackend()), calls=1)
    tracker = PerformanceTracker()
    orch = MultiBackendOrchestrator([LocalSimulatorBackend() for _ in range(3)], shots=SHOTS,
                                    tracker=tracker, clock=lambda: 0.0)
    for slot, rate in zip(orch.slots, (10.0, 20.0, 90.0), strict=True):
        slot.rate = rate
    assert identical(run_pipeline(orch, calls=1), reference)
    assert list(splits(tracker)[0].values()) == [2, 4, 18]  # 24 circuits in 1:2:9


def test_the_split_follows_measured_throughput() -> None:
    tracker = PerformanceTracker()
    orch = MultiBackendOrchestrator([Slow("slow", 0.05), LocalSimulatorBackend("fast")],
                                    shots=SHOTS, tracker=tracker)
    run_pipeline(orch, calls=4)
    first, last = splits(tracker)[0], splits(tracker)[-1]
    assert first == {"slow": 12, "fast": 12}  # equal weights before anything is measured
    assert last["fast"] > last.get("slow", 0)
    stats = orch.get_backend_stats()
    assert stats["fast"]["throughput"] > stats["slow"]["throughput"]
    assert stats["fast"]["circuits"] + stats["slow"]["circuits"] == 4 * len(CIRCUITS)


def test_job_size_follows_the_pipeline_and_the_backend_cap() -> None:
    tracker = PerformanceTracker()
    orch = MultiBackendOrchestrator([LocalSimulatorBackend(), LocalSimulatorBackend()],
                                    shots=SHOTS, max_circuits_per_job=[None, 5],
                                    tracker=tracker)
    run_pipeline(orch, calls=1)
    sizes = sorted(e["circuits"] for e in tracker.events("job"))
    assert sizes == [2, 5, 5, 12]  # 12 in one job; 12 as 5 + 5 + 2


# -- budget -------------------------------------------------------------------------------------

def test_the_budget_is_never_exceeded_and_cheaper_backends_take_over() -> None:
    per_circuit = ARIA.minimum_per_circuit
    budget = CostBudget(5.5 * per_circuit)
    paid, free = Paid(), LocalSimulatorBackend("free")
    tracker = PerformanceTracker()
    orch = MultiBackendOrchestrator([paid, free], shots=SHOTS, weights=[10, 1], budget=budget,
                                    tracker=tracker)
    reference = run_pipeline(SingleBackend(LocalSimulatorBackend()), calls=4)
    assert identical(run_pipeline(orch, calls=4, budget=budget), reference)
    assert budget.spent_usd <= budget.limit_usd
    assert sum(paid.submitted) == 5  # as many as the budget allows, the rest on the free one
    assert orch.get_backend_stats()["paid"]["usd"] == pytest.approx(5 * per_circuit)
    assert [s.get("paid", 0) for s in splits(tracker)] == [5, 0, 0, 0]


def test_no_affordable_placement_submits_nothing() -> None:
    paid = Paid()
    budget = CostBudget(3 * ARIA.minimum_per_circuit)
    orch = MultiBackendOrchestrator([paid, Paid("paid2")], shots=SHOTS, budget=budget)
    with pytest.raises(BudgetExceededError):
        run_pipeline(orch, calls=1, budget=budget)
    assert paid.submitted == [] and budget.spent_usd == 0.0


def test_without_a_limit_the_paid_backend_takes_its_share() -> None:
    paid = Paid()
    orch = MultiBackendOrchestrator([paid, LocalSimulatorBackend()], shots=SHOTS)
    estimate = orch.estimate_cost(CIRCUITS, SHOTS)
    assert estimate.usd == pytest.approx(12 * ARIA.minimum_per_circuit)
    run_pipeline(orch, calls=1)
    assert sum(paid.submitted) == 12


def test_failover_to_a_free_backend_charges_nothing_more() -> None:
    budget = CostBudget(None)
    paid = Paid()
    orch = MultiBackendOrchestrator([Broken("broken"), paid], shots=SHOTS, budget=budget,
                                    weights=[100, 1])
    reference = run_pipeline(SingleBackend(LocalSimulatorBackend()), calls=1)
    assert identical(run_pipeline(orch, calls=1, budget=budget), reference)
    # all 24 placed on the broken one (weight 100), then failed over: 24 charged, none lost
    assert sum(paid.submitted) == 24
    assert budget.spent_usd == pytest.approx(24 * ARIA.minimum_per_circuit)
    stats = orch.get_backend_stats()
    assert stats["broken"]["failures"] == 1 and stats["broken"]["suspended"]
    assert orch.stats["retried_jobs"] == 1


def test_every_backend_failing_raises_instead_of_losing_circuits() -> None:
    orch = MultiBackendOrchestrator([Broken("a"), Broken("b")], shots=SHOTS)
    with pytest.raises(JobFailedError, match="failed on every backend"):
        run_pipeline(orch, calls=1)


# -- exactness ------------------------------------------------------------------------------------

def ionq_ideal() -> IonQBackend:
    return IonQBackend("not-used", base_url="http://127.0.0.1:9")  # never contacted


def test_mixing_exact_and_sampled_backends_is_refused() -> None:
    with pytest.raises(ConfigError, match="different kinds of results"):
        MultiBackendOrchestrator([ionq_ideal(), LocalSimulatorBackend()], shots=100)
    with pytest.raises(ConfigError, match="different kinds of results"):
        MultiBackendOrchestrator([NoisySimulatorBackend(), LocalSimulatorBackend()], shots=None)
    mixed = MultiBackendOrchestrator([ionq_ideal(), LocalSimulatorBackend()], shots=100,
                                     allow_mixed_exactness=True)
    assert mixed.allow_mixed_exactness
    # exact everywhere without shots: the same kind
    MultiBackendOrchestrator([ionq_ideal(), LocalSimulatorBackend()], shots=None)


def test_a_sampling_only_backend_needs_shots() -> None:
    class SamplesOnly(LocalSimulatorBackend):
        @property
        def capabilities(self) -> BackendCapabilities:
            return BackendCapabilities(max_qubits=20, exact_expectations=False)

    with pytest.raises(ConfigError, match="only sample"):
        MultiBackendOrchestrator([SamplesOnly(), LocalSimulatorBackend()], shots=None)


# -- statistics and events ----------------------------------------------------------------------

def test_stats_and_events() -> None:
    tracker = PerformanceTracker()
    orch = MultiBackendOrchestrator([LocalSimulatorBackend(), LocalSimulatorBackend()],
                                    shots=SHOTS, tracker=tracker)
    run_pipeline(orch, calls=2, tracker=tracker)
    jobs = tracker.events("job")
    assert len(jobs) == orch.stats["jobs"] == 4
    assert {e["backend"] for e in jobs} == {"mock_ideal#1", "mock_ideal#2"}
    assert all(e["status"] == "completed" and e["orchestrator"] == orch.name for e in jobs)
    assert len(tracker.events("backend_stats")) == 2
    stats = orch.get_backend_stats()
    assert sum(s["circuits"] for s in stats.values()) == 2 * len(CIRCUITS)
    assert all(s["jobs"] == 2 and s["failures"] == 0 for s in stats.values())
    out = io.StringIO()
    orch.print_backend_stats(out)
    assert "mock_ideal#1" in out.getvalue() and "circuits/s" in out.getvalue()
    assert tracker.get_statistics()["circuits_run"] == 2 * len(CIRCUITS)


def test_bad_settings_are_refused() -> None:
    for kw in ({"weights": [1, -1]}, {"max_circuits_per_job": [0, None]},
               {"names": ["a", "a"]}, {"job_deadline": 0}, {"weights": [1]}):
        with pytest.raises(ConfigError):
            MultiBackendOrchestrator([LocalSimulatorBackend(), LocalSimulatorBackend()], **kw)
    with pytest.raises(ConfigError):
        MultiBackendOrchestrator([])


# -- training -----------------------------------------------------------------------------------

def fit(weights: list[float], shots: int | None = 500) -> tuple[Any, Any]:
    from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

    entries = [{"provider": "local", "simulator": "mock_ideal", "weight": w} for w in weights]
    cfg = TrainingConfig(enable_multi_backend=True, backend_configs=entries, shots=shots,
                         gradient_method="parameter_shift", epochs=2, batch_size=4, seed=9,
                         n_qubits=3, learning_rate=0.1)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (8, 3)), rng.uniform(-0.5, 0.5, (8, 1))
    model = QuantumModel(3, 1, n_layers=1, seed=4)
    trainer = QuantumTrainer(cfg)
    trainer.fit(model, (x, y), (x[:4], y[:4]))
    return trainer, model


def test_training_is_identical_on_one_or_three_backends() -> None:
    one, m1 = fit([1.0])
    three, m3 = fit([1.0, 4.0, 9.0])
    assert one.history["losses"] == three.history["losses"]
    assert one.history["val_losses"] == three.history["val_losses"]
    assert np.array_equal(m1.weights, m3.weights)
    tracker = three.performance_tracker
    calls = tracker.events("circuits")
    assert len(tracker.events("backend_stats")) == len(calls) > 0  # every step went through it
    assert all(e["backend"] == three.backend.name for e in calls)
    used = three.get_backend_stats()
    assert len(used) == 3 and all(s["circuits"] > 0 for s in used.values())
    assert sum(s["circuits"] for s in used.values()) == three.executor.stats["circuits"]


def test_shares_minimise_the_last_finish() -> None:
    from q_store.execution.placement import proportional as _proportional

    assert _proportional(60, [1.02, 1.0, 0.98]) == [20, 20, 20]  # noise does not unbalance
    assert _proportional(24, [10.0, 20.0, 90.0]) == [2, 4, 18]
    assert _proportional(7, [1.0, 1.0]) == [4, 3] and _proportional(0, [1.0]) == [0]
    rates = [3.0, 1.0, 0.5]
    counts = _proportional(101, rates)
    finish = max(k / r for k, r in zip(counts, rates, strict=True))
    assert sum(counts) == 101 and finish <= 101 / 4.5 + 1 / 0.5


def test_trainer_estimates_cost_through_the_orchestrator() -> None:
    from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

    rng = np.random.default_rng(0)
    data = (rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, (6, 1)))
    common = {"shots": 100, "gradient_method": "parameter_shift", "n_qubits": 3, "epochs": 2,
              "batch_size": 3}
    url = "http://127.0.0.1:9"  # never contacted: estimating submits nothing
    entry = {"provider": "ionq", "target": "qpu", "api_key": "k", "base_url": url}
    multi = QuantumTrainer(TrainingConfig(enable_multi_backend=True,
                                          backend_configs=[entry, dict(entry)], **common))
    single = QuantumTrainer(TrainingConfig(quantum_sdk="ionq", quantum_target="qpu",
                                           quantum_api_key="k", ionq_base_url=url, **common))
    model = QuantumModel(3, 1, n_layers=1, seed=1)
    a, b = multi.estimate_cost(model, data), single.estimate_cost(model, data)
    assert a.usd == pytest.approx(b.usd) and a.usd > 0 and a.circuits == b.circuits
    assert isinstance(multi.backend, MultiBackendOrchestrator)


def test_smart_caching_and_adaptive_batches_work_with_several_backends() -> None:
    from q_store.execution.queue_manager import AdaptiveQueueManager
    from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

    entries = [{"provider": "local", "simulator": "mock_ideal"} for _ in range(2)]
    cfg = TrainingConfig(enable_multi_backend=True, backend_configs=entries,
                         gradient_method="parameter_shift", epochs=1, batch_size=4, seed=2,
                         n_qubits=3, enable_smart_caching=True, adaptive_batch_sizing=True)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (8, 3)), rng.uniform(-0.5, 0.5, (8, 1))
    trainer = QuantumTrainer(cfg)
    model = QuantumModel(3, 1, n_layers=1, seed=4)
    trainer.fit(model, (x, y))
    first = asyncio.run(trainer.evaluate(model, (x, y)))
    again = asyncio.run(trainer.evaluate(model, (x, y)))  # from the result cache
    assert again == first
    pipeline = trainer.executor.pipeline
    orch = pipeline.submitter
    assert isinstance(orch, MultiBackendOrchestrator) and pipeline.stats["cache_hits"] > 0
    assert isinstance(pipeline.batching, AdaptiveQueueManager)
    assert pipeline.batching.jobs == orch.stats["jobs"] > 0  # every job reported to it
