"""The engine's caches: templates built once and bound many times (with template events),
results reused only under keys holding everything that changes them, optimised circuits per
target, and the spec's QuantumCircuitCache on the training path with identical answers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.base import CircuitResult
from q_store.circuit import Circuit, X, Z, theta, x
from q_store.core import QuantumCircuitCache, SmartCircuitCache
from q_store.errors import ConfigError
from q_store.execution.backend_executor import bind_angles
from q_store.execution.cache import CircuitCache
from q_store.execution.engine import ExecutionEngine, values_request
from q_store.execution.pipeline import CircuitPipeline, SingleBackend
from q_store.execution.result_cache import ResultCache, backend_identity, circuit_seed
from q_store.execution.tracker import PerformanceTracker
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator
from q_store.sim.noise import NoiseModel, depolarizing

TEMPLATE = Circuit(2).ry(0, theta[0]).rx(1, x[0]).cnot(0, 1).ry(1, theta[1])
OBS = (Z(0), X(1))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingJobs(LocalSimulatorBackend):
    """A local backend that counts the jobs and circuits submitted to it."""

    def __init__(self, name: str = "counting") -> None:
        super().__init__(name)
        self.jobs: list[list[Circuit]] = []

    async def submit_job_async(self, circuits, shots=None, **kw):  # type: ignore[no-untyped-def]
        self.jobs.append(list(circuits))
        return await super().submit_job_async(circuits, shots, **kw)


def bound(*angles: float) -> Circuit:
    return bind_angles(Circuit(2).ry(0, theta[0]).ry(1, theta[1]).cnot(0, 1),
                       np.array(angles, dtype=float))


def exact(c: Circuit) -> CircuitResult:
    return CircuitResult(StatevectorSimulator().probabilities(c))


# -- level 1: templates ----------------------------------------------------------------------
def test_templates_are_built_once_and_every_bind_is_reported():
    tracker = PerformanceTracker()
    cache = SmartCircuitCache(10, tracker=tracker)
    sim = StatevectorSimulator(cache=cache)
    w = np.array([0.3, -0.4])
    a = sim.expectation(TEMPLATE, OBS, w, [[0.1], [0.2], [0.3]])
    b = sim.expectation(TEMPLATE, OBS, w, [[0.1], [0.2], [0.3]])
    np.testing.assert_array_equal(a, b)
    events = tracker.events("template")
    assert [e["hit"] for e in events] == [False, True]  # one event per call, not per sample
    assert events[0]["build_seconds"] > 0 and events[1]["build_seconds"] == 0.0
    assert all(e["bind_seconds"] > 0 for e in events)
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["compiled_circuits"]) == (1, 1, 1)
    assert stats["template_hit_rate"] == 0.5
    assert tracker.get_statistics()["template_hit_rate"] == 0.5
    assert CircuitCache is SmartCircuitCache


def test_a_disabled_template_cache_builds_every_time():
    cache = SmartCircuitCache(0)
    sim = StatevectorSimulator(cache=cache)
    for _ in range(3):
        sim.expectation(TEMPLATE, OBS, [0.1, 0.2], [0.3])
    assert (cache.hits, cache.misses, len(cache)) == (0, 3, 0)


# -- level 2: results --------------------------------------------------------------------------
def test_result_keys_hold_everything_that_changes_the_answer():
    cache = ResultCache(100, ttl=None)
    a, b = LocalSimulatorBackend("a"), LocalSimulatorBackend("a")  # alike, yet two backends
    c = bound(0.1, 0.2)
    cache.put(c, None, backend_identity(a), exact(c))
    assert cache.get(c, None, backend_identity(a)) is not None
    assert cache.get(c, 100, backend_identity(a)) is None  # other shots
    assert cache.get(c, None, backend_identity(b)) is None  # other backend
    assert cache.get(bound(0.1, 0.2000001), None, backend_identity(a)) is None  # other angles
    prep = Circuit(2).x(0)  # another initial state: a state preparation in front
    assert cache.get(prep.compose(c), None, backend_identity(a)) is None
    noise = NoiseModel().add_gate_error(depolarizing(0.01, 1))
    noisy = NoisySimulatorBackend(noise_model=noise)
    cache.put(c, None, backend_identity(noisy), exact(c))
    noise.add_gate_error(depolarizing(0.02, 1))  # the noise changed: earlier results are stale
    assert cache.get(c, None, backend_identity(noisy)) is None


def test_sampled_results_are_kept_only_for_a_seeded_run_that_asks():
    c = bound(0.5, -0.3)
    sampled = CircuitResult.sampled(exact(c).probabilities, 50, np.random.default_rng(1))
    key = backend_identity(LocalSimulatorBackend())
    plain = ResultCache(10)
    assert not plain.put(c, 50, key, sampled, seed=7) and plain.get(c, 50, key, seed=7) is None
    seeded = ResultCache(10, cache_sampled=True)
    assert not seeded.put(c, 50, key, sampled)  # no seed: never kept
    assert seeded.put(c, 50, key, sampled, seed=7)
    assert seeded.get(c, 50, key, seed=7).counts == sampled.counts
    assert seeded.get(c, 50, key, seed=8) is None and seeded.get(c, 50, key) is None


def test_results_expire_after_the_ttl_and_are_read_only():
    clock = FakeClock()
    cache = ResultCache(10, ttl=5.0, clock=clock)
    c, key = bound(0.2, 0.3), "backend"
    cache.put(c, None, key, exact(c))
    clock.now = 4.9
    got = cache.get(c, None, key)
    assert got is not None and not got.probabilities.flags.writeable
    clock.now = 5.0
    assert cache.get(c, None, key) is None
    assert cache.get_stats()["expired"] == 1 and len(cache) == 0


def test_memory_bound_evicts_the_least_recently_used():
    circuits = [bound(0.1 * i, 0.2) for i in range(4)]
    one = exact(circuits[0])
    size = one.probabilities.nbytes + 160 * (len(circuits[0]) + 1)
    cache = ResultCache(100, max_bytes=3 * size, ttl=None)
    for c in circuits[:3]:
        cache.put(c, None, "b", exact(c))
    assert cache.get(circuits[0], None, "b") is not None  # now the most recently used
    cache.put(circuits[3], None, "b", exact(circuits[3]))
    assert cache.get(circuits[1], None, "b") is None  # the least recently used went
    assert all(cache.get(c, None, "b") is not None for c in (circuits[0], circuits[2],
                                                              circuits[3]))
    stats = cache.get_stats()
    assert stats["evictions"] == 1 and stats["memory_bytes"] == 3 * size


# -- the pipeline with caches ------------------------------------------------------------------
def run(pipeline: CircuitPipeline, circuits: list[Circuit], shots=...) -> list[CircuitResult]:  # type: ignore[no-untyped-def]
    return asyncio.run(pipeline.run(circuits, shots))


def test_the_pipeline_reuses_exact_results_and_never_unseeded_noise():
    backend = CountingJobs()
    cache = ResultCache(100)
    pipeline = CircuitPipeline(SingleBackend(backend), result_cache=cache, seed=3)
    circuits = [bound(0.1, 0.2), bound(0.3, 0.4), bound(0.1, 0.2)]
    first = run(pipeline, circuits)
    again = run(pipeline, circuits[:2])
    assert len(backend.jobs) == 1 and len(backend.jobs[0]) == 2  # deduplicated, then cached
    for r, c in zip(first[:2], again, strict=True):
        np.testing.assert_array_equal(r.probabilities, c.probabilities)
    assert pipeline.stats["cache_hits"] == 2 and pipeline.stats["deduplicated"] == 1
    run(pipeline, circuits[:2], 100)
    run(pipeline, circuits[:2], 100)
    assert len(backend.jobs) == 3  # sampled: run again, never reused


def test_seeded_sampled_results_are_cached_per_circuit_and_equal_a_rerun():
    circuits = [bound(0.1, 0.2), bound(0.7, -0.4), bound(1.1, 0.9)]

    def pipeline(backend: CountingJobs) -> CircuitPipeline:
        return CircuitPipeline(SingleBackend(backend), shots=200, seed=11,
                               result_cache=ResultCache(100, cache_sampled=True))

    backend = CountingJobs()
    p = pipeline(backend)
    first = run(p, circuits)
    assert [len(j) for j in backend.jobs] == [3]  # one job, each circuit with its own seed
    second = run(p, circuits[::-1])
    assert len(backend.jobs) == 1 and p.stats["cache_hits"] == 3
    alone = run(pipeline(CountingJobs()), circuits[2:])  # whatever ran with it
    assert first[2].counts == second[0].counts == alone[0].counts
    assert circuit_seed(11, circuits[0]) == circuit_seed(11, bound(0.1, 0.2))
    with pytest.raises(ConfigError, match="seed"):
        CircuitPipeline(SingleBackend(CountingJobs()), result_cache=ResultCache(
            10, cache_sampled=True))


def test_optimised_circuits_are_memoised_per_target():
    calls: list[Circuit] = []

    def optimize(c: Circuit) -> Circuit:  # an exact rewrite: drop a pair of X gates
        calls.append(c)
        return Circuit(c.n_qubits, c.operations[2:])

    cache = QuantumCircuitCache(10, 10)
    c = Circuit(2).x(0).x(0).compose(bound(0.4, 0.5))
    a, b = CountingJobs("a"), CountingJobs("b")
    for backend in (a, a, b):  # sampled: the results are not reused, the optimised circuit is
        p = CircuitPipeline(SingleBackend(backend), shots=10, seed=1, result_cache=cache,
                            optimizer=optimize, optimized_cache=cache.optimized)
        run(p, [c])
    assert len(calls) == 2 and cache.optimized.get_stats()["hits"] == 1
    assert a.jobs[0][0] == bound(0.4, 0.5)  # the optimised circuit is what ran


# -- QuantumCircuitCache -----------------------------------------------------------------------
def test_quantum_circuit_cache_prewarms_and_finds_the_trainers_circuits():
    cache = QuantumCircuitCache(max_compiled_circuits=10, max_results=50, result_ttl=300.0)
    backend = CountingJobs()
    p = CircuitPipeline(SingleBackend(backend), result_cache=cache, seed=0)
    w = np.array([0.25, -0.5])
    target = bind_angles(TEMPLATE, np.array([0.25, 0.3, -0.5]))  # RY(w0) RX(x0) RY(w1)
    assert asyncio.run(cache.prewarm([TEMPLATE, target], pipeline=p)) == 2
    assert asyncio.run(cache.prewarm([TEMPLATE])) == 0  # already built
    got = cache.get_execution_result(TEMPLATE, w, None, inputs=[0.3], backend=backend)
    np.testing.assert_allclose(got.probabilities,
                               StatevectorSimulator().probabilities(TEMPLATE, w, [0.3]))
    assert cache.get_execution_result(TEMPLATE, w, None, inputs=[0.3]) is got  # one backend
    assert cache.get_execution_result(TEMPLATE, w, 100, inputs=[0.3], backend=backend) is None
    stats = cache.get_stats()
    for key in ("hits", "misses", "hit_rate", "compiled_circuits", "cached_results"):
        assert key in stats
    assert stats["compiled_circuits"] == 2 and stats["cached_results"] == 1
    with pytest.raises(ConfigError, match="result_cache"):
        asyncio.run(cache.prewarm([target], pipeline=CircuitPipeline(SingleBackend(backend))))
    cache.clear()
    assert cache.get_stats()["cached_results"] == 0 and cache.get_stats()["hits"] == 0


# -- the local exact engine ----------------------------------------------------------------------
def test_the_local_engine_reuses_identical_exact_requests_only():
    tracker = PerformanceTracker()
    cache = QuantumCircuitCache(10, 10)
    engine = ExecutionEngine(StatevectorSimulator(), result_cache=cache, tracker=tracker)
    w, xs = np.array([0.3, 0.9]), np.array([[0.1], [0.5]])
    req = values_request(TEMPLATE, OBS, w, xs)
    (a,) = asyncio.run(engine.run([req]))
    (b,) = asyncio.run(engine.run([values_request(TEMPLATE, OBS, w, xs)]))
    np.testing.assert_array_equal(a, b)
    b[0, 0] = 9.0  # the caller's copy: the cache is unchanged
    (c,) = asyncio.run(engine.run([req]))
    np.testing.assert_array_equal(a, c)
    assert [e["cache_hits"] for e in tracker.events("circuits")] == [0, 2, 2]
    for other in (values_request(TEMPLATE, OBS, w + 1e-12, xs),
                  values_request(TEMPLATE, (Z(0),), w, xs),
                  values_request(TEMPLATE, OBS, w, xs, np.eye(4)[[1, 2]])):
        asyncio.run(engine.run([other]))
    assert [e["cache_hits"] for e in tracker.events("circuits")][3:] == [0, 0, 0]
    sampled = ExecutionEngine(StatevectorSimulator(), shots=100, result_cache=cache,
                              rng=np.random.default_rng(0))
    before = cache.get_stats()["cached_results"]
    asyncio.run(sampled.run([req]))
    assert cache.get_stats()["cached_results"] == before  # sampled answers are never kept


# -- on the training path ------------------------------------------------------------------------
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(12, 2))
    return xs, (xs[:, 0] > 0).astype(int)


@pytest.mark.parametrize("where", ["local", "noisy_backend"])
def test_smart_caching_in_training_counts_hits_and_changes_no_result(where):
    xs, ys = data()

    def trained(caching: bool) -> tuple[QuantumTrainer, list[tuple[float, float | None]]]:
        backend = None if where == "local" else NoisySimulatorBackend(
            noise_model=NoiseModel.ionq_aria())
        cfg = TrainingConfig(epochs=1, batch_size=6, seed=0, enable_smart_caching=caching,
                             gradient_method="parameter_shift")
        trainer = QuantumTrainer(cfg)
        model = QuantumModel(2, 2, 1, backend=backend, task="classification", seed=0)
        trainer.fit(model, (xs, ys))
        evals = [asyncio.run(trainer.evaluate(model, (xs, ys))) for _ in range(2)]
        return trainer, evals

    cached, with_cache = trained(True)
    plain, without = trained(False)
    assert with_cache == without  # bit for bit
    assert cached.history["losses"] == plain.history["losses"]
    events = cached.performance_tracker.events("circuits")  # two batches per evaluation
    assert [e["cache_hits"] for e in events[-4:-2]] == [0, 0]
    assert [e["cache_hits"] for e in events[-2:]] == [e["requested"] for e in events[-2:]]
    assert isinstance(cached.circuit_cache, QuantumCircuitCache)
    stats = cached.circuit_cache.get_stats()
    repeat = sum(e["requested"] for e in events[-2:])  # local: one entry per request
    assert stats["result_hits"] == (2 if where == "local" else repeat)
    assert stats["cached_results"] > 0
    assert cached.performance_tracker.get_statistics()["cache_hit_rate"] > 0
    if where == "noisy_backend":
        manager = cached.engine.batch_manager
        assert manager.get_performance_stats()["cache_hits"] == repeat
