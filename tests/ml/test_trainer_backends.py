"""Training on backends other than the exact local simulator: a noisy simulator, IonQ's API
over loopback HTTP (the local IonQ-compatible server), a cost budget, cost estimates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from q_store.backends import BackendManager
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.errors import ConfigError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

KEY = "trainer-test-key-0b1d"


@pytest.fixture(scope="module")
def emu() -> Iterator[IonQEmulator]:
    with IonQEmulator(api_key=KEY, latency=LatencyModel(time_scale=0.0), seed=5) as e:
        yield e


def data(n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, np.stack([np.sin(x[:, 0]), x[:, 1] * 0.5], axis=1)


def model(backend: object = None) -> QuantumModel:
    return QuantumModel(2, 2, 1, backend, seed=3)


def manager(config: TrainingConfig) -> BackendManager:
    m = BackendManager(config)
    asyncio.run(m.initialize())
    return m


def ionq_config(emu: IonQEmulator, **kw: object) -> TrainingConfig:
    base = dict(quantum_sdk="ionq", quantum_api_key=KEY, ionq_base_url=emu.root_url,
                gradient_method="parameter_shift", batch_size=4, epochs=1, seed=0)
    return TrainingConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_ionq_ideal_simulator_gives_the_local_loss_and_gradient(emu: IonQEmulator) -> None:
    """IonQ's ideal simulator returns exact probabilities: the loss and parameter-shift
    gradient over HTTP equal the local simulator's adjoint ones."""
    x, y = data()
    cfg = ionq_config(emu)
    trainer = QuantumTrainer(cfg, manager(cfg))
    m = model()
    try:
        loss, grad = trainer.loss_and_gradient(m, x, y)
        assert trainer.backend is not None and trainer.backend.name.startswith("ionq")
    finally:
        trainer.close()
    ref_loss, ref_grad = QuantumTrainer(TrainingConfig()).loss_and_gradient(model(), x, y)
    assert loss == pytest.approx(ref_loss, abs=1e-10)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-9)


def test_noisy_backend_parameter_shift_matches_differences_of_the_noisy_loss() -> None:
    """On mock_noisy (density matrices, exact noisy probabilities) the parameter-shift rule
    still holds: it equals central differences of the noisy loss."""
    x, y = data(4)
    cfg = TrainingConfig(gradient_method="parameter_shift")
    mgr = manager(cfg)
    m = model(mgr.get_backend("mock_noisy"))
    trainer = QuantumTrainer(cfg, mgr)
    loss, grad = trainer.loss_and_gradient(m, x, y)
    w0, eps = m.weights.copy(), 1e-5
    fd = np.zeros_like(w0)
    for i in range(len(w0)):
        for sgn in (1, -1):
            m.weights = w0 + sgn * eps * np.eye(len(w0))[i]
            fd[i] += sgn * trainer.loss_and_gradient(m, x, y, method="spsa")[0]
    m.weights = w0
    np.testing.assert_allclose(grad, fd / (2 * eps), atol=1e-6)
    ideal_loss, _ = QuantumTrainer(TrainingConfig()).loss_and_gradient(model(), x, y)
    assert abs(loss - ideal_loss) > 1e-4  # the noise is real


def test_training_on_a_noisy_backend_lowers_the_loss() -> None:
    x, y = data(16)
    cfg = TrainingConfig(gradient_method="parameter_shift", learning_rate=0.1, epochs=4,
                         batch_size=8, seed=1, quantum_sdk="mock")
    mgr = manager(cfg)
    m = model(mgr.get_backend("mock_noisy"))
    history = QuantumTrainer(cfg, mgr).fit(m, (x, y))
    assert history["losses"][-1] < 0.8 * history["losses"][0]


def test_exact_only_gradients_are_refused_on_backends(emu: IonQEmulator) -> None:
    cfg = ionq_config(emu, gradient_method="adjoint")
    trainer = QuantumTrainer(cfg, manager(cfg))
    with pytest.raises(ConfigError, match="needs the exact local simulator"):
        trainer.loss_and_gradient(model(), *data(2))
    trainer.close()


def test_sampling_backends_need_shots(emu: IonQEmulator) -> None:
    cfg = ionq_config(emu, quantum_target="qpu.aria-1")
    trainer = QuantumTrainer(cfg, manager(cfg))
    with pytest.raises(ConfigError, match="only samples; set shots"):
        trainer.loss_and_gradient(model(), *data(2))


def test_budget_stops_training_before_it_is_exceeded(emu: IonQEmulator, tmp_path: Path
                                                      ) -> None:
    """On a priced QPU (Aria pricing, USD 97.50 minimum per circuit) a budget for about two
    steps stops training after them: nothing past the budget is submitted, the weights so far
    are checkpointed, and the estimate predicted the spend."""
    x, y = data(8)
    kw = dict(quantum_target="qpu.aria-1", shots=100, gradient_method="spsa", batch_size=4,
              epochs=3, checkpoint_dir=str(tmp_path))
    probe_cfg = ionq_config(emu, **kw)
    probe = QuantumTrainer(probe_cfg, manager(probe_cfg))
    est = probe.estimate_cost(model(), (x, y), epochs=1)
    probe.close()
    per_step = est.usd / 2  # two batches per epoch
    assert per_step == pytest.approx(97.50 * 3 * 4)  # SPSA: value + 2 perturbations, 4 samples
    budget = 2.5 * per_step
    cfg = ionq_config(emu, **kw, max_cost_usd=budget)
    trainer = QuantumTrainer(cfg, manager(cfg))
    before = emu.created_jobs_count
    m = model()
    try:
        trainer.fit(m, (x, y))
    finally:
        trainer.close()
    assert trainer.stop_reason is not None and "budget" in trainer.stop_reason
    assert trainer.step == 2 and trainer.epoch == 1
    assert trainer.budget.spent_usd == pytest.approx(2 * per_step)
    assert trainer.budget.spent_usd <= budget
    assert emu.created_jobs_count - before == 2  # one multi-circuit job per step
    assert (tmp_path / "latest.npz").exists()


def test_cost_estimate_counts_the_circuits_actually_run(emu: IonQEmulator) -> None:
    x, y = data(8)
    cfg = ionq_config(emu, epochs=1)
    trainer = QuantumTrainer(cfg, manager(cfg))
    m = model()
    est = trainer.estimate_cost(m, (x, y), val_loader=(x[:4], y[:4]))
    try:
        trainer.fit(m, (x, y), (x[:4], y[:4]))
        assert trainer.executor is not None
        assert est.circuits == trainer.executor.stats["circuits"]
    finally:
        trainer.close()
    assert est.usd == 0.0  # IonQ's simulator is free


def test_cost_estimate_says_exact_and_expects_a_wall_time(emu: IonQEmulator) -> None:
    """Exact runs show "exact", not a fake shot count; the wall time is measured (one local
    step timed and scaled; on a backend, from the seconds per circuit its jobs took)."""
    x, y = data(8)
    local = QuantumTrainer(TrainingConfig(epochs=2, batch_size=4,
                                          gradient_method="parameter_shift"))
    est = local.estimate_cost(model(), (x, y))
    assert est.shots is None and "exact" in str(est) and "shots=1" not in str(est)
    assert est.wall_seconds is not None and est.wall_seconds > 0
    cfg = ionq_config(emu, epochs=1)
    trainer = QuantumTrainer(cfg, manager(cfg))
    m = model()
    try:
        assert trainer.estimate_cost(m, (x, y)).wall_seconds is None  # no job has run yet
        trainer.fit(m, (x, y))
        jobs = trainer.performance_tracker.events("job")
        after = trainer.estimate_cost(m, (x, y))
        per_circuit = (sum(j["submit_seconds"] + j["wait_seconds"] for j in jobs)
                       / sum(j["circuits"] for j in jobs))
        assert after.wall_seconds == pytest.approx(per_circuit * after.circuits)
    finally:
        trainer.close()
