"""MultiBackendOrchestrator against local IonQ-compatible servers over real HTTP: a server
killed mid-epoch loses no circuit and creates no duplicate job; a stalled server fails over; a
paid job is cancelled (and confirmed) before its circuits run elsewhere, and is never run twice
when that cannot be confirmed; seeded noisy shots are identical across servers; API keys never
leak."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from typing import Any

import numpy as np
import pytest

from q_store.backends.base import CircuitResult
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel, ManualClock
from q_store.demo import hardware_efficient_circuit
from q_store.errors import BackendError, ConfigError
from q_store.execution.orchestrator import MultiBackendOrchestrator
from q_store.execution.pipeline import CircuitPipeline, SingleBackend
from q_store.execution.tracker import PerformanceTracker
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator

KEY = "emu-SECRET-9f3c21"
TEMPLATE = hardware_efficient_circuit(3, 1)
RNG = np.random.default_rng(3)
CIRCUITS = [TEMPLATE.bind(RNG.uniform(0, 6, TEMPLATE.n_weights),
                          RNG.uniform(0, 3, TEMPLATE.n_inputs)) for _ in range(6)]
QUICK = LatencyModel(time_scale=0.001)  # modelled device time x 0.001 (ms per circuit)
FAST = {"poll_min": 0.005, "poll_max": 0.05, "max_retries": 1, "backoff_base": 0.01,
        "lookup_window": 0.1}


def quick() -> IonQEmulator:
    return IonQEmulator(api_key=KEY, latency=QUICK)


@contextmanager
def servers(*emulators: IonQEmulator) -> Iterator[tuple[IonQEmulator, ...]]:
    with ExitStack() as stack:
        yield tuple(stack.enter_context(e) for e in emulators)


def backend(emu: IonQEmulator, target: str = "simulator", **kw: Any) -> IonQBackend:
    return IonQBackend(KEY, target, base_url=emu.root_url, **{**FAST, **kw})


def run(submitter: Any, shots: int | None = None, calls: int = 1
        ) -> list[list[CircuitResult]]:
    async def go() -> list[list[CircuitResult]]:
        pipeline = CircuitPipeline(submitter, shots=shots, seed=1)
        try:
            return [await pipeline.run(CIRCUITS) for _ in range(calls)]
        finally:
            await pipeline.close()

    return asyncio.run(go())


def exact_ok(results: list[CircuitResult]) -> bool:
    sim = StatevectorSimulator()
    return all(np.allclose(r.probabilities, sim.probabilities(c), atol=1e-12)
               for r, c in zip(results, CIRCUITS, strict=True))


def executed(emu: IonQEmulator) -> list[Any]:
    """Every circuit the server ran (single-circuit jobs and children of multi-circuit ones)."""
    return [j.circuit for j in emu.jobs.values() if not j.children and j.status == "completed"]


# -- a server killed mid-epoch -----------------------------------------------------------------

def train(urls: list[str], kill: Any = None) -> tuple[QuantumTrainer, QuantumModel]:
    entries = [{"provider": "ionq", "target": "simulator", "api_key": KEY, "base_url": u,
                "name": f"server{i}", "poll_min": 0.005, "poll_max": 0.05, "max_retries": 1}
               for i, u in enumerate(urls)]
    cfg = TrainingConfig(enable_multi_backend=True, backend_configs=entries, n_qubits=3,
                         gradient_method="parameter_shift", epochs=2, batch_size=4, seed=11,
                         learning_rate=0.1)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (8, 3)), rng.uniform(-0.5, 0.5, (8, 1))
    model = QuantumModel(3, 1, n_layers=1, seed=2)
    trainer = QuantumTrainer(cfg)
    if kill is not None:
        assert trainer.performance_tracker is not None
        trainer.performance_tracker.subscribe(kill)
    trainer.fit(model, (x, y))
    return trainer, model


def test_a_killed_server_loses_no_circuit_and_creates_no_duplicate_job() -> None:
    with quick() as ref:
        reference, ref_model = train([ref.root_url])
    with servers(*(quick() for _ in range(3))) as emus:
        jobs_seen: list[Any] = []
        killed = threading.Event()

        def kill(event: dict[str, Any]) -> None:  # stop server1 after the 4th job (step 2)
            if event["event"] == "job":
                jobs_seen.append(event)
                if len(jobs_seen) == 4 and not killed.is_set():
                    killed.set()
                    threading.Thread(target=emus[1].stop).start()

        trainer, model = train([e.root_url for e in emus], kill)
        orch = trainer.executor.pipeline.submitter  # type: ignore[union-attr]
        assert isinstance(orch, MultiBackendOrchestrator) and trainer.backend is orch
        stats = orch.get_backend_stats()
        # the run is exactly the single-server run: every circuit's result present and right
        assert trainer.history["losses"] == reference.history["losses"]
        assert np.array_equal(model.weights, ref_model.weights)
        assert killed.is_set() and stats["server1"]["failures"] >= 1
        assert orch.stats["retried_jobs"] >= 1
        for i in (0, 2):  # survivors: one job per submission, no circuit run twice
            emu = emus[i]
            assert emu.created_jobs_count == stats[f"server{i}"]["jobs"]
            ran = executed(emu)
            assert len(ran) == len(set(ran)) == stats[f"server{i}"]["circuits"]
        assert sum(s["circuits"] for s in stats.values()) == reference.executor.stats["circuits"]


# -- stalls --------------------------------------------------------------------------------------

def test_a_stalled_server_fails_over() -> None:
    with servers(*(quick() for _ in range(3))) as emus:
        tracker = PerformanceTracker()
        orch = MultiBackendOrchestrator([backend(e) for e in emus], names=["a", "b", "c"],
                                        job_deadline=60.0, min_deadline=5.0, tracker=tracker)

        async def go() -> list[list[CircuitResult]]:
            pipeline = CircuitPipeline(orch, seed=1)
            first = await pipeline.run(CIRCUITS)  # measures every server
            emus[1].faults.add("slow", times=None, method="GET", path_prefix="/jobs",
                               seconds=60.0)
            second = await pipeline.run(CIRCUITS)
            await pipeline.close()
            return [first, second]

        first, second = asyncio.run(go())
        assert exact_ok(first) and exact_ok(second)
        assert orch.get_backend_stats()["b"]["failures"] == 1
        failed = [e for e in tracker.events("job") if e["status"] == "failed"]
        assert [e["backend"] for e in failed] == ["b"]
        assert tracker.events("backend_stats")[-1]["failovers"] == 1


def test_a_stalled_paid_job_is_cancelled_before_its_circuits_run_elsewhere() -> None:
    frozen = IonQEmulator(api_key=KEY, latency=LatencyModel(queue_wait=0.5),
                          clock=ManualClock())  # its jobs never leave the queue
    with servers(quick(), frozen) as (good, stuck):
        orch = MultiBackendOrchestrator([backend(good, "qpu.aria-1"),
                                         backend(stuck, "qpu.aria-1")], names=["good", "stuck"],
                                        shots=100, job_deadline=5.0)
        (results,) = run(orch, shots=100)
        assert all(sum(r.counts.values()) == 100 for r in results)
        top = [j for j in stuck.jobs.values() if j.parent_id is None]
        assert [j.status for j in top] == ["canceled"]  # cancelled, confirmed, never run
        assert all(j.status == "canceled" for j in stuck.jobs.values())
        assert len(executed(good)) == len(CIRCUITS) and good.created_jobs_count == 2
        stats = orch.get_backend_stats()
        assert stats["stuck"]["failures"] == 1 and stats["good"]["circuits"] == len(CIRCUITS)


def test_a_paid_job_whose_fate_is_unknown_is_not_run_twice() -> None:
    frozen = IonQEmulator(api_key=KEY, latency=LatencyModel(queue_wait=0.5),
                          clock=ManualClock())
    with servers(quick(), frozen) as (good, lost):
        def cut_off() -> None:  # the server disappears once it holds the job
            deadline = time.monotonic() + 60
            while lost.created_jobs_count < 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            lost.stop()

        threading.Thread(target=cut_off).start()
        orch = MultiBackendOrchestrator([backend(good, "qpu.aria-1"),
                                         backend(lost, "qpu.aria-1")], shots=100,
                                        job_deadline=5.0, control_timeout=2.0)
        with pytest.raises(BackendError, match="pay for them twice"):
            run(orch, shots=100)
        assert len(executed(good)) == len(CIRCUITS) // 2  # its own share only


def test_a_paid_submission_that_never_arrived_fails_over() -> None:
    with servers(quick(), quick()) as (good, gone):
        url = gone.root_url
        gone.stop()  # connection refused: the request cannot have reached it
        orch = MultiBackendOrchestrator(
            [backend(good, "qpu.aria-1"), IonQBackend(KEY, "qpu.aria-1", base_url=url, **FAST)],
            shots=100)
        (results,) = run(orch, shots=100)
        assert len(results) == len(CIRCUITS) and len(executed(good)) == len(CIRCUITS)


# -- seeds across servers ------------------------------------------------------------------------

def test_noisy_seeded_shots_are_identical_across_servers() -> None:
    with servers(*(quick() for _ in range(3))) as emus:
        single = run(SingleBackend(backend(emus[0], noise_model="aria-1")), shots=200, calls=2)
        orch = MultiBackendOrchestrator([backend(e, noise_model="aria-1") for e in emus],
                                        shots=200, weights=[1, 2, 3])
        spread = run(orch, shots=200, calls=2)
    for a, b in zip(single, spread, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.probabilities, y.probabilities) and x.counts == y.counts


# -- keys ----------------------------------------------------------------------------------------

def test_api_keys_never_leak(tmp_path) -> None:
    with servers(quick(), quick()) as emus:
        entries = [{"provider": "ionq", "api_key": KEY, "base_url": e.root_url,
                    "poll_min": 0.005, "poll_max": 0.05} for e in emus]
        cfg = TrainingConfig(enable_multi_backend=True, backend_configs=entries, n_qubits=3,
                             gradient_method="parameter_shift", epochs=1, batch_size=4,
                             performance_log_dir=str(tmp_path / "log"),
                             checkpoint_dir=str(tmp_path / "ck"))
        trainer = QuantumTrainer(cfg)
        rng = np.random.default_rng(0)
        trainer.fit(QuantumModel(3, 1, n_layers=1), (rng.uniform(-1, 1, (4, 3)),
                                                      rng.uniform(-1, 1, (4, 1))))
        printed = io.StringIO()
        with redirect_stdout(printed):
            trainer.print_backend_stats()
        assert "ionq.simulator#1" in printed.getvalue()
        texts = [repr(cfg), str(cfg), json.dumps(cfg.to_dict()), repr(trainer.backend),
                 str(trainer.get_backend_stats()), printed.getvalue(),
                 json.dumps(trainer.performance_tracker.events(), default=str)]  # type: ignore[union-attr]
        assert cfg.to_dict()["backend_configs"][0]["api_key"] == "***"
        assert all(KEY not in t for t in texts)
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert files and all(KEY.encode() not in p.read_bytes() for p in files)
    with pytest.raises(ConfigError) as err:
        TrainingConfig(enable_multi_backend=True,
                       backend_configs=[{"provider": "ionq", "api_key": KEY, "colour": 1}])
    assert KEY not in str(err.value) and "allowed" in str(err.value)
