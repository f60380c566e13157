"""The spec's batch managers: thin layers over the one circuit pipeline, usable alone (v3.3 on
any backend, V34 building IonQ from an API key, here against the local IonQ-compatible server)
and under the trainer, whose circuits go through a V34 manager's pipeline."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.circuit import Circuit, theta, x
from q_store.core import CircuitBatchManager
from q_store.errors import ConfigError, ValidationError
from q_store.execution.backend_executor import bind_angles
from q_store.ml import CircuitBatchManagerV34, QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator

KEY = "batch-manager-key"
SIM = StatevectorSimulator()
RING = Circuit(3).ry(0, theta[0]).ry(1, theta[1]).cnot(0, 1).cnot(1, 2).rx(2, theta[2])
TEMPLATE = Circuit(2).ry(0, theta[0]).rx(1, x[0]).cnot(0, 1).rz(1, theta[1]).ry(1, x[1])


class CountingJobs(LocalSimulatorBackend):
    def __init__(self) -> None:
        super().__init__("counting")
        self.jobs: list[int] = []

    async def submit_job_async(self, circuits, shots=None, **kw):  # type: ignore[no-untyped-def]
        self.jobs.append(len(circuits))
        return await super().submit_job_async(circuits, shots, **kw)


def circuits(n: int) -> list[Circuit]:
    rng = np.random.default_rng(n)
    return [bind_angles(RING, rng.uniform(-np.pi, np.pi, 3)) for _ in range(n)]


def probabilities(results) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([r.probabilities for r in results])


def test_v33_manager_runs_a_batch_in_few_jobs_with_exact_results():
    backend = CountingJobs()
    manager = CircuitBatchManager(backend, max_batch_size=40)
    batch = circuits(96)
    results = asyncio.run(manager.execute_batch(batch, shots=None))
    np.testing.assert_allclose(probabilities(results),
                               np.array([SIM.probabilities(c) for c in batch]), atol=1e-12)
    assert backend.jobs == [40, 40, 16]
    stats = manager.get_performance_stats()
    assert stats["circuits_requested"] == stats["circuits_executed"] == 96
    assert stats["jobs"] == 3 and stats["throughput_circuits_per_sec"] > 0
    sampled = asyncio.run(CircuitBatchManager(CountingJobs()).execute_batch(batch[:5]))
    assert all(r.shots == 1000 for r in sampled)  # the spec's default shots


def test_submit_now_collect_later():
    manager = CircuitBatchManager(CountingJobs())
    batch = circuits(6)

    async def go() -> tuple[list[str], list[str], list, list]:  # type: ignore[type-arg]
        ids = await manager.submit_batch(batch[:4], shots=None)
        more = await manager.execute_batch(batch[4:], shots=None, wait_for_results=False)
        return ids, more, await manager.get_results(ids + more), []

    ids, more, results, _ = asyncio.run(go())
    assert len(ids) == len(more) == 1 and ids != more
    np.testing.assert_allclose(probabilities(results),
                               np.array([SIM.probabilities(c) for c in batch]), atol=1e-12)
    with pytest.raises(ValidationError, match="unknown or already collected"):
        asyncio.run(manager.get_results(ids))


def test_closing_cancels_batches_never_collected():
    class Slow(LocalSimulatorBackend):
        async def get_job_result(self, job_id, *, timeout=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(3600)

    async def go() -> asyncio.Task:  # type: ignore[type-arg]
        async with CircuitBatchManager(Slow()) as manager:
            await manager.submit_batch(circuits(2), shots=None)
            (task,) = manager._pending.values()
        return task

    assert asyncio.run(go()).cancelled()


def test_templates_are_bound_per_row_through_the_template_cache():
    manager = CircuitBatchManager(LocalSimulatorBackend(), shots=None)
    w = np.array([[0.1, 0.2], [0.5, -0.4], [1.2, 0.3]])
    xs = np.array([[0.3, -0.1], [0.8, 0.2], [-0.5, 0.9]])
    for _ in range(2):
        results = asyncio.run(manager.execute_batch([TEMPLATE], parameters=w, inputs=xs))
    np.testing.assert_allclose(probabilities(results), SIM.probabilities(TEMPLATE, w, xs),
                               atol=1e-12)
    cache = manager.get_performance_stats()["circuit_cache"]
    assert cache["template_hit_rate"] == 0.5 and cache["bind_time_ms"] > 0


def test_v34_manager_on_the_local_ionq_server():
    batch = circuits(12)
    with IonQEmulator(api_key=KEY, latency=LatencyModel(time_scale=0.001)) as emu:

        async def go() -> tuple[list, list, dict, str]:  # type: ignore[type-arg]
            async with CircuitBatchManagerV34(api_key=KEY, base_url=emu.root_url,
                                              use_batch_api=True, use_native_gates=True,
                                              poll_min=0.005, poll_max=0.05) as manager:
                first = await manager.execute_batch(batch, shots=1000)
                again = await manager.execute_batch(batch, shots=1000)
                out = io.StringIO()
                manager.print_performance_report(out)
                return first, again, manager.get_performance_stats(), out.getvalue()

        first, again, stats, report = asyncio.run(go())
        jobs = [j for j in emu.jobs.values() if j.parent_id is None]
    expected = np.array([SIM.probabilities(c) for c in batch])
    np.testing.assert_allclose(probabilities(first), expected, atol=1e-9)  # ideal: exact
    np.testing.assert_array_equal(probabilities(first), probabilities(again))
    assert len(jobs) == 1  # one multi-circuit job; the repeat came from the result cache
    assert stats["cache_hits"] == 12 and stats["throughput_circuits_per_sec"] > 0
    assert "template_hit_rate" in stats["circuit_cache"]
    assert stats["tracker"]["jobs"] == 1 and "throughput_circuits_per_sec" in report
    assert KEY not in report and KEY not in repr(stats)


def test_v34_manager_takes_any_backend_and_refuses_contradictions():
    backend = NoisySimulatorBackend()

    async def go() -> list:  # type: ignore[type-arg]
        async with CircuitBatchManagerV34(backend=backend, shots=None) as manager:
            return await manager.execute_batch(circuits(3))

    results = asyncio.run(go())
    np.testing.assert_allclose(probabilities(results),
                               [backend.simulator.probabilities(c) for c in circuits(3)],
                               atol=1e-12)
    adaptive = CircuitBatchManagerV34(backend=NoisySimulatorBackend(), shots=None,
                                      adaptive_batch_sizing=True, max_batch_size=8)
    asyncio.run(adaptive.execute_batch(circuits(20)))
    stats = adaptive.get_performance_stats()
    assert stats["jobs"] == 3 and stats["batching"]["jobs"] == 3  # jobs of at most 8
    seeded = CircuitBatchManagerV34(backend=CountingJobs(), shots=100, seed=5,
                                    cache_sampled=True)
    a = asyncio.run(seeded.execute_batch(circuits(4)))
    b = asyncio.run(seeded.execute_batch(circuits(4)))
    assert [r.counts for r in a] == [r.counts for r in b] and seeded.backend.jobs == [4]
    with pytest.raises(ConfigError, match="seed"):  # unseeded noise is never reused
        CircuitBatchManagerV34(backend=CountingJobs(), cache_sampled=True)
    with pytest.raises(ConfigError, match="not both"):
        CircuitBatchManagerV34(api_key="k", backend=NoisySimulatorBackend())
    with pytest.raises(ConfigError, match="use_batch_api=False"):
        CircuitBatchManagerV34(backend=NoisySimulatorBackend(), use_batch_api=False,
                               adaptive_batch_sizing=True)


def test_the_trainers_circuits_go_through_a_v34_managers_pipeline():
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(6, 2))
    ys = (xs[:, 0] > 0).astype(int)
    trainer = QuantumTrainer(TrainingConfig(epochs=1, batch_size=3, seed=0,
                                            gradient_method="parameter_shift"))
    model = QuantumModel(2, 2, 1, backend=NoisySimulatorBackend(), task="classification",
                         seed=0)
    trainer.fit(model, (xs, ys))
    manager = trainer.engine.batch_manager
    assert isinstance(manager, CircuitBatchManagerV34)
    assert manager.pipeline is trainer.engine.executor.pipeline
    stats = manager.get_performance_stats()
    requested = sum(e["requested"] for e in trainer.performance_tracker.events("circuits"))
    assert stats["circuits_requested"] == requested > 0
    assert stats["jobs"] == 2  # one job per step
    assert stats["circuit_cache"]["template_hit_rate"] == 0.5  # step 2 reused the template
    hits = [e["hit"] for e in trainer.performance_tracker.events("template")]
    assert hits == [False, True]  # built at step 1, bound again at step 2
