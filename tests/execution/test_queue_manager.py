"""AdaptiveQueueManager: job sizes follow the spec's 20/10/5 rule over the queue waits that the
backend itself measured (IonQ's job timestamps on the local IonQ-compatible server, on a fake
clock; the wait for a worker thread in process), and the config switches it on."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel, ManualClock
from q_store.circuit import Circuit, theta
from q_store.errors import ConfigError, ConfigWarning
from q_store.execution.backend_executor import bind_angles
from q_store.execution.pipeline import CircuitPipeline, FixedBatches, SingleBackend
from q_store.execution.queue_manager import AdaptiveQueueManager
from q_store.execution.tracker import PerformanceTracker
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

KEY = "queue-test-key"
RING = Circuit(2).ry(0, theta[0]).ry(1, theta[1]).cnot(0, 1)


def latency(queue_wait: float) -> LatencyModel:
    return LatencyModel(queue_wait=queue_wait, seconds_per_circuit=0.0)


def circuits(n: int, offset: float = 0.0) -> list[Circuit]:
    return [bind_angles(RING, np.array([0.01 * i + offset, 0.3])) for i in range(n)]


def test_the_spec_rule_over_the_mean_of_recent_waits():
    q = AdaptiveQueueManager(window=2)
    assert q.get_optimal_batch_size() == 20  # nothing observed: an empty queue
    expected = {0.0: 20, 0.99: 20, 1.0: 10, 2.0: 10, 3.0: 10, 3.01: 5, 60.0: 5}
    for wait, size in expected.items():
        q.record_job(wait, circuits=4)
        q.record_job(wait, circuits=4)
        assert q.get_optimal_batch_size() == size, wait
    q.record_job(0.0)  # mean of the last two: (60 + 0) / 2 = 30 s
    assert q.mean_queue_wait == 30.0 and q.get_optimal_batch_size() == 5
    q.record_job(None, circuits=3)  # no wait reported: history only
    assert q.mean_queue_wait == 30.0 and q.history[-1].circuits == 3
    assert q.jobs == len(q.queue_history()) == 2 * len(expected) + 2


def test_thresholds_sizes_and_caps_are_configurable_and_checked():
    q = AdaptiveQueueManager(fast_wait=10.0, slow_wait=20.0, sizes=(8, 4, 2), window=1,
                             max_size=6)
    for wait, size in ((5.0, 6), (15.0, 4), (25.0, 2)):
        q.record_job(wait)
        assert q.job_size(100) == size
    for bad in ({"fast_wait": -1.0}, {"fast_wait": 4.0, "slow_wait": 3.0},
                {"sizes": (20, 10)}, {"sizes": (20, 0, 5)}, {"window": 0},
                {"max_size": 0}):
        with pytest.raises(ConfigError):
            AdaptiveQueueManager(**bad)


def test_job_sizes_follow_the_queue_waits_ionq_reports():
    """The local IonQ-compatible server models the queue on a fake clock, so every job's
    ``started_at - submitted_at`` is exactly the modelled wait (execution takes no time here,
    so no job waits for another)."""
    clock = ManualClock(auto=True)
    tracker = PerformanceTracker()
    with IonQEmulator(api_key=KEY, latency=latency(0.5), clock=clock) as emu:
        backend = IonQBackend(KEY, base_url=emu.root_url, poll_min=0.005, poll_max=0.05)
        queue = AdaptiveQueueManager(window=2)
        pipeline = CircuitPipeline(SingleBackend(backend, tracker=tracker), batching=queue,
                                   seed=0, tracker=tracker)

        async def calls() -> list[list[tuple[int, float]]]:
            seen = []
            for i, wait in enumerate((2.0, 5.0, 0.2, None)):
                before = len(tracker.events("job"))
                await pipeline.run(circuits(40, offset=i))
                jobs = tracker.events("job")[before:]
                seen.append(sorted((e["circuits"], e["queue_seconds"]) for e in jobs))
                if wait is not None:
                    emu.latency = latency(wait)
            await pipeline.close()
            return seen

        seen = asyncio.run(calls())
    # each call's job sizes follow the waits the previous call's jobs reported
    assert [[n for n, _ in call] for call in seen] == [[20, 20], [20, 20], [10] * 4, [5] * 8]
    for call, wait in zip(seen, (0.5, 2.0, 5.0, 0.2), strict=True):
        assert all(q == pytest.approx(wait, abs=1e-3) for _, q in call)
    assert queue.get_optimal_batch_size() == 20  # 0.2 s: the queue is short again
    assert queue.calls == 4 and queue.get_stats()["max_in_flight"] >= 1


def test_in_process_backends_report_the_wait_for_a_worker():
    tracker = PerformanceTracker()
    pipeline = CircuitPipeline(SingleBackend(LocalSimulatorBackend(), tracker=tracker),
                               batching=FixedBatches(one_job=False), tracker=tracker)
    asyncio.run(pipeline.run(circuits(3)))
    waits = [e["queue_seconds"] for e in tracker.events("job")]
    assert len(waits) == 3 and all(w is not None and w >= 0 for w in waits)


def test_a_policy_that_learns_needs_a_submitter_that_reports():
    class Silent:
        name = "silent"

    with pytest.raises(ConfigError, match="add_job_listener"):
        CircuitPipeline(Silent(), batching=AdaptiveQueueManager())  # type: ignore[arg-type]


def test_adaptive_batch_sizing_in_training():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(8, 2))
    ys = (xs[:, 0] > 0).astype(int)
    cfg = TrainingConfig(epochs=1, batch_size=8, seed=0, adaptive_batch_sizing=True,
                         gradient_method="parameter_shift")
    trainer = QuantumTrainer(cfg)
    model = QuantumModel(2, 2, 1, backend=NoisySimulatorBackend(), task="classification",
                         seed=0)
    trainer.fit(model, (xs, ys))
    assert isinstance(trainer.engine.executor.pipeline.batching, AdaptiveQueueManager)
    jobs = trainer.performance_tracker.events("job")
    sizes = [e["circuits"] for e in jobs]
    assert max(sizes) == 20 and sum(sizes) > 20  # a step's circuits split into jobs of 20
    assert all(e["queue_seconds"] is not None for e in jobs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        QuantumTrainer(TrainingConfig(adaptive_batch_sizing=True, use_batch_api=False))
    assert any(issubclass(w.category, ConfigWarning) and "adaptive_batch_sizing" in
               str(w.message) for w in caught)
