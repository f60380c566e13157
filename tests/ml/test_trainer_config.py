"""The trainer follows its config: the configured backend is built (never a silent local
fallback), options changed after the trainer exists take effect at the next call, and options
that cannot take effect say so."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from q_store.backends import BackendManager
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.errors import ConfigError, ConfigWarning
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

KEY = "trainer-config-test-key-7c2e"


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


def ionq_options(emu: IonQEmulator) -> dict[str, object]:
    return dict(quantum_api_key=KEY, ionq_base_url=emu.root_url, batch_size=4, epochs=1,
                gradient_method="parameter_shift", seed=0)


def emulator_circuits(emu: IonQEmulator) -> int:
    return sum(1 for job in emu.jobs.values() if job.circuit is not None)


# -- the configured backend, built by the trainer ----------------------------------------------
def test_a_trainer_without_a_manager_trains_on_the_configured_ionq_backend(emu):
    """The spec's v3.5 examples build ``QuantumTrainer(config)`` alone: with
    ``quantum_sdk='ionq'`` the circuits go to IonQ (here the local IonQ-compatible server)."""
    x, y = data()
    trainer = QuantumTrainer(TrainingConfig(quantum_sdk="ionq", **ionq_options(emu)))
    before = emulator_circuits(emu)
    try:
        loss, grad = trainer.loss_and_gradient(model(), x, y)
        assert trainer.backend is not None and trainer.backend.name.startswith("ionq")
        assert emulator_circuits(emu) > before
        exact_loss, exact_grad = QuantumTrainer(TrainingConfig()).loss_and_gradient(
            model(), x, y)
        assert loss == pytest.approx(exact_loss, abs=1e-12)  # the ideal simulator is exact
        np.testing.assert_allclose(grad, exact_grad, atol=1e-10)
    finally:
        trainer.close()


def test_a_configured_backend_that_cannot_be_built_raises_before_any_step(monkeypatch):
    monkeypatch.delenv("IONQ_API_KEY", raising=False)
    x, y = data()
    m = model()
    w0 = m.weights.copy()
    trainer = QuantumTrainer(TrainingConfig(quantum_sdk="ionq", gradient_method="spsa"))
    with pytest.raises(ConfigError, match="no IonQ API key"):
        trainer.fit(m, (x, y))
    np.testing.assert_array_equal(m.weights, w0)
    assert trainer.step == 0


@pytest.mark.parametrize("sdk,name", [("qiskit", "qiskit"), ("cirq", "cirq")])
def test_other_sdks_are_built_too(sdk, name):
    pytest.importorskip(name)
    x, y = data(4)
    trainer = QuantumTrainer(TrainingConfig(quantum_sdk=sdk, gradient_method="parameter_shift"))
    loss, grad = trainer.loss_and_gradient(model(), x, y)
    assert trainer.backend is not None and name in trainer.backend.name
    exact = QuantumTrainer(TrainingConfig()).loss_and_gradient(model(), x, y)
    assert loss == pytest.approx(exact[0], abs=1e-9)
    np.testing.assert_allclose(grad, exact[1], atol=1e-8)


def test_mock_sdk_is_the_exact_local_simulator():
    x, y = data(4)
    trainer = QuantumTrainer(TrainingConfig(quantum_sdk="mock"))
    trainer.loss_and_gradient(model(), x, y)
    assert trainer.backend is None  # None: the exact local simulator, with adjoint gradients


# -- changes after the trainer exists -----------------------------------------------------------
def test_changing_quantum_sdk_moves_training_to_the_new_backend(emu, caplog):
    """The spec's v3.2 "train once, run anywhere": train on the simulator, set
    ``config.quantum_sdk = "ionq"``, and the next ``train`` runs on IonQ, even for a model
    built with the mock backend. A model built later with its own backend uses that one."""
    x, y = data()
    config = TrainingConfig(quantum_sdk="mock", **ionq_options(emu))
    manager = BackendManager(config)
    m = model(manager.get_backend("mock_ideal"))
    trainer = QuantumTrainer(config, manager)
    trainer.fit(m, (x, y))
    assert trainer.backend is None
    before = emulator_circuits(emu)
    config.quantum_sdk = "ionq"
    with caplog.at_level(logging.WARNING, logger="q_store.trainer"):
        trainer.fit(m, (x, y), epochs=1)
    assert trainer.backend is not None and trainer.backend.name.startswith("ionq")
    assert emulator_circuits(emu) > before
    assert "instead of the model's backend" in caplog.text
    noisy = model(manager.get_backend("mock_noisy"))
    config.shots = 500
    trainer.fit(noisy, (x, y), epochs=1)
    assert trainer.backend is noisy.backend
    trainer.close()


def test_changing_learning_rate_applies_at_the_next_call():
    """The spec's transfer-learning example sets ``config.learning_rate = 0.001`` between
    runs: the next SGD step is ``-0.001 * grad``."""
    x, y = data()
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, batch_size=8, shuffle=False)
    trainer = QuantumTrainer(config)
    m = model()
    trainer.fit(m, (x, y), epochs=1)
    config.learning_rate = 0.001
    w0 = m.weights.copy()
    _, grad = trainer.loss_and_gradient(m, x, y)
    trainer.fit(m, (x, y), epochs=1)
    np.testing.assert_allclose(m.weights, w0 - 0.001 * grad, atol=1e-14)
    assert trainer.history["learning_rates"] == pytest.approx([0.1, 0.001])


def test_changing_the_optimizer_restarts_its_state_and_other_state_carries_over():
    x, y = data()
    config = TrainingConfig(optimizer="adam", learning_rate=0.05, batch_size=8, seed=1)
    trainer = QuantumTrainer(config)
    m = model()
    trainer.fit(m, (x, y), epochs=2)
    config.optimizer, config.learning_rate = "sgd", 0.1
    w0 = m.weights.copy()
    _, grad = trainer.loss_and_gradient(m, x, y)
    trainer.fit(m, (x, y), epochs=1)
    np.testing.assert_allclose(m.weights, w0 - 0.1 * grad, atol=1e-14)
    assert trainer.epoch == 3 and trainer.step == 3


def test_changing_shots_switches_to_sampled_expectations():
    x, y = data()
    config = TrainingConfig(gradient_method="parameter_shift", seed=0)
    trainer = QuantumTrainer(config)
    m = model()
    exact = trainer.loss_and_gradient(m, x, y)
    config.shots = 200
    sampled = trainer.loss_and_gradient(m, x, y)
    assert sampled[0] != exact[0] and abs(sampled[0] - exact[0]) < 0.1
    config.shots = None
    assert trainer.loss_and_gradient(m, x, y)[0] == exact[0]


def test_changing_ionq_options_rebuilds_the_backend(emu):
    """``use_native_gates`` set after the first run: the next jobs use IonQ's native gates."""
    x, y = data(4)
    config = TrainingConfig(quantum_sdk="ionq", **ionq_options(emu))
    trainer = QuantumTrainer(config)
    m = model()
    try:
        trainer.loss_and_gradient(m, x, y)
        first = trainer.backend
        seen = set(emu.jobs)
        config.use_native_gates = True
        trainer.loss_and_gradient(m, x, y)
        assert trainer.backend is not first
        new = [j for k, j in emu.jobs.items() if k not in seen and j.circuit is not None]
        assert new and all(set(j.circuit.count_ops()) <= {"GPI", "GPI2", "MS"} for j in new)
    finally:
        trainer.close()


def test_changing_max_cost_keeps_what_was_spent(emu):
    x, y = data(4)
    config = TrainingConfig(quantum_sdk="ionq", quantum_target="qpu.aria-1", shots=100,
                            max_cost_usd=1e6, **ionq_options(emu))
    trainer = QuantumTrainer(config)
    try:
        trainer.loss_and_gradient(model(), x, y)
        spent = trainer.budget.spent_usd
        assert spent > 0
        config.max_cost_usd = spent + 1e-9  # nothing more fits
        trainer.fit(model(), (x, y), epochs=1)
        assert trainer.stop_reason is not None and trainer.stop_reason.startswith("budget")
        assert trainer.budget.spent_usd == spent
    finally:
        trainer.close()


def test_an_explicit_n_qubits_must_match_the_model():
    x, y = data(4)
    config = TrainingConfig()
    QuantumTrainer(config).fit(model(), (x, y), epochs=1)  # default n_qubits: not checked
    config.n_qubits = 8
    with pytest.raises(ConfigError, match="n_qubits=8 but the model has 2 qubits"):
        QuantumTrainer(config).fit(model(), (x, y), epochs=1)


# -- options that cannot take effect -----------------------------------------------------------
@pytest.mark.parametrize("options,name", [
    (dict(gradient_method="adjoint", spsa_c_initial=0.2), "spsa_c_initial"),
    (dict(gradient_method="parameter_shift", spsa_a_initial=0.2), "spsa_a_initial"),
    (dict(gradient_method="adjoint", natural_gradient_regularization=0.1),
     "natural_gradient_regularization"),
    (dict(gradient_method="spsa", adaptive_refine_every=3), "adaptive_refine_every"),
    (dict(gradient_method="spsa", learning_rate_schedule="cosine"), "learning_rate_schedule"),
    (dict(gradient_method="spsa", learning_rate=0.1, spsa_a_initial=0.2), "learning_rate"),
    (dict(learning_rate_final_fraction=0.1), "learning_rate_final_fraction"),
    (dict(early_stopping_min_delta=0.1), "early_stopping_min_delta"),
    (dict(checkpoint_every=2), "checkpoint_every"),
])
def test_options_that_cannot_take_effect_warn(options, name):
    with pytest.warns(ConfigWarning, match=f"TrainingConfig.{name}=.* has no effect"):
        QuantumTrainer(TrainingConfig(**options))


def test_a_change_that_cannot_take_effect_warns_at_the_next_call():
    x, y = data(4)
    config = TrainingConfig()
    trainer = QuantumTrainer(config)
    config.spsa_c_initial = 0.3
    with pytest.warns(ConfigWarning, match="spsa_c_initial"):
        trainer.loss_and_gradient(model(), x, y)


def test_defaults_and_applicable_options_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QuantumTrainer(TrainingConfig())
        QuantumTrainer(TrainingConfig(gradient_method="spsa", learning_rate=0.05,
                                      spsa_c_initial=0.2))
        QuantumTrainer(TrainingConfig(gradient_method="adaptive", spsa_c_initial=0.2,
                                      adaptive_refine_every=2, learning_rate=0.1))


def test_spsa_steps_by_spall_gain_scaled_by_learning_rate():
    """With gradient_method='spsa', learning_rate is Spall's a: a_k = a / (k + 1)^0.602;
    spsa_a_initial, when set, takes its place. Same seed, same perturbations: the first step
    scales exactly with a."""
    x, y = data()
    moves = {}
    for label, opts in {"lr 0.02": dict(learning_rate=0.02),
                        "lr 0.04": dict(learning_rate=0.04),
                        "a 0.02": dict(spsa_a_initial=0.02)}.items():
        config = TrainingConfig(gradient_method="spsa", optimizer="sgd", batch_size=8,
                                seed=7, **opts)
        trainer = QuantumTrainer(config)
        m = model()
        w0 = m.weights.copy()
        trainer.fit(m, (x, y), epochs=1)
        moves[label] = m.weights - w0
        a = opts.get("learning_rate", opts.get("spsa_a_initial"))
        assert trainer.learning_rate_at(0) == pytest.approx(a)
        assert trainer.learning_rate_at(9) == pytest.approx(a / 10**0.602)
    assert np.abs(moves["lr 0.02"]).max() > 0
    np.testing.assert_allclose(moves["lr 0.04"], 2 * moves["lr 0.02"], rtol=1e-12)
    np.testing.assert_array_equal(moves["a 0.02"], moves["lr 0.02"])


def test_with_a_checkpoint_dir_ionq_jobs_go_into_a_ledger_there(emu, tmp_path):
    """So that a run resumed after a timeout re-attaches to the jobs it already paid for."""
    import json

    x, y = data(4)
    config = TrainingConfig(quantum_sdk="ionq", checkpoint_dir=str(tmp_path), **ionq_options(emu))
    trainer = QuantumTrainer(config)
    try:
        trainer.fit(model(), (x, y))
        assert trainer.backend.ledger.path == tmp_path / "ionq_jobs.json"
        entries = json.loads((tmp_path / "ionq_jobs.json").read_text())
        assert KEY not in (tmp_path / "ionq_jobs.json").read_text()
        assert entries  # the jobs of the run are recorded
    finally:
        trainer.close()
