"""The Dask executor on a LocalCluster of two worker processes: distributed results equal local
ones bit for bit (exact and seeded shots), data-parallel training equals single-process
training, a worker SIGKILLed mid-step loses nothing, a recomputed hardware task re-attaches to
its job, and an unreachable scheduler fails at start-up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time

import numpy as np
import pytest

from q_store.backends.cost import CostBudget
from q_store.circuit import Circuit, I, Projector, X, Y, Z, theta, x
from q_store.errors import BackendError, NotSupportedError, ValidationError
from q_store.execution.dask_cluster import close_all
from q_store.execution.dask_engine import DaskEngine, dask_engine_from_config, row_bounds
from q_store.execution.engine import ExecutionEngine, values_request
from q_store.execution.requests import ExpectationRequest
from q_store.gradients import (
    AdjointGradient,
    NaturalGradient,
    ParameterShiftGradient,
    SPSAGradient,
)
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator

distributed = pytest.importorskip("distributed")

CIRCUIT = (Circuit(3).rx(0, x[0]).rx(1, x[1]).ry(0, theta[0]).ry(1, theta[1])
           .cnot(0, 1).crz(1, 2, theta[2]).rx(2, 2 * theta[3] + x[1]).cnot(2, 0))
OBS = (Z(0), X(1) @ Z(2), 0.5 * Y(2) + 0.25 * Z(0) @ Z(1) + 0.1 * I(), Projector((1, 0), (0, 2)))
W = np.array([0.3, -0.8, 1.1, 0.4])
XIN = np.random.default_rng(0).normal(size=(5, 2))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c, distributed.Client(c) as client:
        client.wait_for_workers(2, timeout=60)
        yield c, client
        close_all()  # the trainers' clients, before their cluster goes


def engines(client, shots=None, chunk_rows=2):
    sim = StatevectorSimulator()
    local = ExecutionEngine(sim, shots=shots, rng=np.random.default_rng(7))
    dask = DaskEngine(sim, client=client, shots=shots, rng=np.random.default_rng(7),
                      chunk_rows=chunk_rows)
    return local, dask


def test_row_slices_are_balanced_and_never_below_the_strategy_threshold():
    assert row_bounds(10, 4, 0) == [(0, 3), (3, 6), (6, 10)]
    assert row_bounds(1, 4, 0) == [(0, 1)]
    # 40 rows of 3 qubits: the simulator may switch strategy from 16 rows on, so no slice < 16
    assert row_bounds(40, 1, 16) == [(0, 20), (20, 40)]
    assert row_bounds(15, 1, 16) == [(i, i + 1) for i in range(15)]


@pytest.mark.parametrize("method", [AdjointGradient(), ParameterShiftGradient(),
                                    SPSAGradient(seed=3), NaturalGradient()],
                         ids=lambda m: m.name)
def test_exact_results_equal_local_bit_for_bit(cluster, method):
    _, client = cluster
    local, dask = engines(client)
    cot = (lambda v: 2.0 * v - 0.3) if method.name != "natural_gradient" else None
    plan = method.plan(CIRCUIT, OBS, W, XIN, state=method.init(), cotangent=cot)
    a = asyncio.run(local.execute(plan))
    b = asyncio.run(dask.execute(plan))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert dask.stats["tasks"] >= 2 * len(plan.requests)  # really split over tasks


@pytest.mark.parametrize("method", [ParameterShiftGradient(), SPSAGradient(seed=3)],
                         ids=lambda m: m.name)
@pytest.mark.parametrize("chunk_rows", [1, 5, None])
def test_seeded_shots_equal_local_bit_for_bit_whatever_the_split(cluster, method, chunk_rows):
    _, client = cluster
    local, dask = engines(client, shots=200, chunk_rows=chunk_rows)
    plan = method.plan(CIRCUIT, OBS, W, XIN, state=method.init())
    a = asyncio.run(local.execute(plan))
    b = asyncio.run(dask.execute(plan))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.allclose(a.values, asyncio.run(engines(client)[0].execute(plan)).values)


def test_large_batches_and_initial_states_equal_local(cluster):
    """40 rows of 3 qubits (past the simulator's unitary threshold) from given states."""
    _, client = cluster
    rng = np.random.default_rng(1)
    states = rng.normal(size=(40, 8)) + 1j * rng.normal(size=(40, 8))
    states /= np.linalg.norm(states, axis=1, keepdims=True)
    req = values_request(CIRCUIT, OBS, W, rng.normal(size=(40, 2)), states)
    local, dask = engines(client, chunk_rows=1)
    (a,), (b,) = asyncio.run(local.run([req])), asyncio.run(dask.run([req]))
    np.testing.assert_array_equal(a, b)
    plan = AdjointGradient().plan(CIRCUIT, OBS, W, rng.normal(size=(40, 2)), initial_state=states)
    np.testing.assert_array_equal(asyncio.run(local.execute(plan)).weights,
                                  asyncio.run(dask.execute(plan)).weights)


def test_refuses_what_the_local_engine_refuses(cluster):
    _, client = cluster
    _, dask = engines(client, shots=100)
    with pytest.raises(NotSupportedError):
        asyncio.run(dask.execute(AdjointGradient().plan(CIRCUIT, OBS, W, XIN)))
    bad = ExpectationRequest(CIRCUIT, np.full((2, 5), np.nan), OBS)
    with pytest.raises(ValidationError):  # before anything is shipped
        asyncio.run(dask.run([bad]))


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-np.pi, np.pi, size=(n, 4))
    return xs, np.sin(xs[:, 0]) * np.cos(xs[:, 1])


def train(cfg: TrainingConfig, epochs=2):
    model = QuantumModel(4, 1, 2, seed=0)
    trainer = QuantumTrainer(cfg)
    xs, ys = data()
    history = trainer.fit(model, (xs, ys), (xs[:8], ys[:8]), epochs=epochs)
    return model.weights, history, trainer


@pytest.mark.parametrize("options", [dict(gradient_method="adjoint"),
                                     dict(gradient_method="parameter_shift", shots=300)],
                         ids=["adjoint", "parameter_shift-shots"])
def test_data_parallel_training_equals_single_process_training(cluster, options):
    c, _ = cluster
    common = dict(seed=3, batch_size=8, learning_rate=0.05, **options)
    w_local, h_local, _ = train(TrainingConfig(**common))
    w_dask, h_dask, trainer = train(TrainingConfig(executor="dask",
                                                   dask_scheduler=c.scheduler_address,
                                                   **common))
    np.testing.assert_allclose(w_dask, w_local, rtol=0, atol=1e-12)
    assert h_dask["losses"] == h_local["losses"]
    assert h_dask["val_losses"] == h_local["val_losses"]
    events = trainer.performance_tracker.events("dask")
    assert events and all(e["tasks"] >= 2 and e["workers"] == 2 for e in events)


def test_dead_scheduler_fails_at_start_up():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = TrainingConfig(executor="dask", dask_scheduler=f"tcp://127.0.0.1:{port}",
                         dask_connect_timeout=1.0)
    with pytest.raises(BackendError, match="cannot be reached within 1 s"):
        train(cfg, epochs=1)


def _kill_a_busy_worker(client) -> int:
    """SIGKILL the process of a worker with tasks in flight (else any worker)."""
    pids = client.run(os.getpid)
    busy = [a for a, t in client.processing().items() if t and a in pids]
    pid = pids[busy[0] if busy else next(iter(pids))]
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_worker_killed_mid_step_loses_nothing(cluster, monkeypatch):
    c, client = cluster
    common = dict(seed=5, batch_size=6, learning_rate=0.05, gradient_method="adjoint")
    w_local, h_local, _ = train(TrainingConfig(**common))
    killed: list[int] = []
    original = DaskEngine._gather

    def gather_after_a_kill(self, futures):  # tasks submitted, results not yet gathered
        if self.stats["rounds"] == 3 and not killed:
            killed.append(_kill_a_busy_worker(self.client))
        return original(self, futures)

    monkeypatch.setattr(DaskEngine, "_gather", gather_after_a_kill)
    w_dask, h_dask, _ = train(TrainingConfig(executor="dask", dask_scheduler=c.scheduler_address,
                                             dask_chunk_rows=1, **common))
    assert killed and killed[0] not in client.run(os.getpid).values()
    np.testing.assert_allclose(w_dask, w_local, rtol=0, atol=1e-12)
    assert h_dask["losses"] == h_local["losses"]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests


def test_a_recomputed_hardware_task_reattaches_to_its_job(cluster):
    """The worker running an IonQ job is SIGKILLed after submitting; the re-run finds the job
    in the cluster ledger: one job on the server, exact results."""
    from q_store.backends import IonQEmulator
    from q_store.backends.ionq.backend import IonQBackend
    from q_store.backends.ionq.emulator_latency import LatencyModel

    c, client = cluster
    client.wait_for_workers(2, timeout=60)
    key = "k" * 24
    latency = LatencyModel(queue_wait=2.0, seconds_per_circuit=0.01)
    with IonQEmulator(api_key=key, latency=latency) as emu:
        backend = IonQBackend(key, base_url=emu.root_url, poll_min=0.05, poll_max=0.2)
        cfg = TrainingConfig(executor="dask", dask_scheduler=c.scheduler_address,
                             quantum_sdk="ionq")
        engine = dask_engine_from_config(cfg, simulator=StatevectorSimulator(), backend=backend,
                                         rng=np.random.default_rng(0), budget=CostBudget(None))
        req = values_request(CIRCUIT, OBS[:2], W, XIN[:3])
        killed: list[int] = []

        def kill_after_submission() -> None:
            deadline = time.monotonic() + 60
            while emu.created_jobs_count < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            killed.append(_kill_a_busy_worker(client))

        killer = threading.Thread(target=kill_after_submission)
        killer.start()
        (values,) = asyncio.run(engine.run([req]))
        killer.join()
        assert killed and emu.created_jobs_count == 1
        exact = StatevectorSimulator().expectation_angles(CIRCUIT, req.angles, OBS[:2])
        np.testing.assert_allclose(values, exact, atol=1e-12)
    client.wait_for_workers(2, timeout=60)


def test_missing_extra_is_named(monkeypatch):
    import builtins

    from q_store.execution import dask_cluster

    real = builtins.__import__

    def no_dask(name, *a, **k):
        if name == "distributed":
            raise ImportError("No module named 'distributed'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(NotSupportedError, match=r"q-store\[dask\]"):
        dask_cluster.require_dask()


def test_config_options_are_validated_and_default_to_local():
    from q_store.errors import ConfigError, ConfigWarning

    assert TrainingConfig().executor == "local"
    for bad in (dict(executor="ray"), dict(executor="dask", dask_scheduler="localhost"),
                dict(executor="dask", dask_workers=0), dict(executor="dask", dask_retries=-1),
                dict(executor="dask", dask_connect_timeout=0),
                dict(executor="dask", dask_chunk_rows=0)):
        with pytest.raises(ConfigError):
            TrainingConfig(**bad)
    cfg = TrainingConfig(dask_workers=2)  # executor stays local: the trainer warns
    assert any("executor='dask'" in m for m in cfg.inapplicable())
    with pytest.warns(ConfigWarning, match="executor='dask'"):
        QuantumTrainer(cfg)
