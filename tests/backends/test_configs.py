"""``backend_configs`` entries: validated (unknown providers and keys name what is allowed,
keys never echoed), built into backends, redacted in ``to_dict``."""

from __future__ import annotations

import warnings

import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.configs import IONQ_KEYS, LOCAL_KEYS, backends_from_config
from q_store.backends.ionq.backend import IonQBackend
from q_store.errors import BackendError, ConfigError, ConfigWarning
from q_store.ml import TrainingConfig

SPEC = [  # the v3.5 document's entries
    {"provider": "ionq", "target": "simulator", "api_key": "key-1"},
    {"provider": "ionq", "target": "simulator", "api_key": "key-2"},
    {"provider": "local", "simulator": "qiskit_aer", "device": "GPU"},
]


@pytest.mark.parametrize("entry,match", [
    ({"provider": "aws"}, "'provider' must be one of ionq, local"),
    ({"simulator": "mock_ideal"}, "'provider' must be one of"),
    ({"provider": "local", "target": "simulator"}, "allowed: " + ", ".join(LOCAL_KEYS)),
    ({"provider": "ionq", "simulator": "cirq"}, "allowed: " + ", ".join(IONQ_KEYS)),
    ({"provider": "local", "simulator": "quest"}, "'simulator' must be one of mock_ideal"),
    ({"provider": "local", "simulator": "cirq", "device": "GPU"}, "qiskit_aer' only"),
    ({"provider": "ionq", "target": "qpu.nowhere"}, "'target' must be one of"),
    ({"provider": "ionq", "target": "qpu", "noise_model": "aria-1"}, "simulator' only"),
    ({"provider": "ionq", "base_url": "ftp://x"}, "http"),
    ({"provider": "local", "weight": 0}, "'weight' must be a positive number"),
    ({"provider": "local", "max_circuits_per_job": 0}, "positive integer"),
    ("mock_ideal", "must be a dict"),
])
def test_bad_entries_say_what_is_allowed(entry, match):
    with pytest.raises(ConfigError, match=match):
        TrainingConfig(enable_multi_backend=True, backend_configs=[entry])


def test_lists_and_names_are_checked():
    for bad in ([], {"provider": "local"}):
        with pytest.raises(ConfigError, match="non-empty list"):
            TrainingConfig(backend_configs=bad)
    with pytest.raises(ConfigError, match="unique"):
        TrainingConfig(backend_configs=[{"provider": "local", "name": "a"},
                                        {"provider": "local", "name": "a"}])


def test_the_spec_entries_validate_and_keys_are_redacted():
    cfg = TrainingConfig(enable_multi_backend=True, backend_configs=SPEC)
    shown = cfg.to_dict()["backend_configs"]
    assert [e.get("api_key") for e in shown] == ["***", "***", None]
    assert cfg.to_dict(include_secrets=True)["backend_configs"][0]["api_key"] == "key-1"
    assert "key-1" not in repr(cfg) and "key-1" not in str(cfg.to_dict())


def test_the_migration_snippet_order_works():
    cfg = TrainingConfig()
    cfg.enable_multi_backend = True  # v3.5's "Step 3", line by line
    cfg.backend_configs = [{"provider": "local", "simulator": "mock_ideal"}]
    assert cfg.enable_multi_backend and cfg.inapplicable() == []


def test_options_without_multi_backend_warn():
    cfg = TrainingConfig(backend_configs=[{"provider": "local"}], allow_mixed_exactness=True)
    messages = cfg.inapplicable()
    assert len(messages) == 2 and all("enable_multi_backend=True" in m for m in messages)
    from q_store.ml import QuantumTrainer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        QuantumTrainer(cfg)
    assert any(issubclass(w.category, ConfigWarning) for w in caught)


def test_entries_build_their_backends():
    cfg = TrainingConfig(
        enable_multi_backend=True, quantum_api_key="from-config", connection_pool_size=3,
        backend_configs=[
            {"provider": "local", "simulator": "mock_ideal", "name": "a", "weight": 2.5},
            {"provider": "local", "simulator": "mock_noisy", "max_circuits_per_job": 7},
            {"provider": "ionq", "target": "qpu", "base_url": "http://127.0.0.1:9"},
            {"provider": "ionq", "noise_model": "aria-1", "api_key": "own"},
        ])
    specs = backends_from_config(cfg)
    assert isinstance(specs[0].backend, LocalSimulatorBackend)
    assert (specs[0].name, specs[0].weight) == ("a", 2.5)
    assert isinstance(specs[1].backend, NoisySimulatorBackend)
    assert specs[1].max_circuits_per_job == 7
    qpu, noisy = specs[2].backend, specs[3].backend
    assert isinstance(qpu, IonQBackend) and qpu.backend == "qpu.aria-1"
    assert qpu.client.root_url == "http://127.0.0.1:9" and qpu.client.pool_size == 3
    assert isinstance(noisy, IonQBackend) and noisy.noise_model == "aria-1"


def test_multi_backend_needs_entries():
    cfg = TrainingConfig(enable_multi_backend=True)
    with pytest.raises(ConfigError, match="needs backend_configs"):
        backends_from_config(cfg)


def test_an_unavailable_gpu_says_so():
    from q_store.backends.qiskit import _aer

    if "GPU" in _aer().AerSimulator().available_devices():
        pytest.skip("this machine has an Aer GPU device")
    cfg = TrainingConfig(enable_multi_backend=True, backend_configs=SPEC[2:])
    with pytest.raises(BackendError, match="GPU"):
        backends_from_config(cfg)


def test_sdk_and_target_say_they_do_not_apply_with_multi_backend():
    cfg = TrainingConfig(quantum_sdk="ionq", quantum_target="simulator",
                         enable_multi_backend=True,
                         backend_configs=[{"provider": "local", "simulator": "mock_ideal"}])
    assert [m.split("=")[0] for m in cfg.inapplicable()] == [
        "TrainingConfig.quantum_sdk", "TrainingConfig.quantum_target"]


def test_entry_names_label_the_orchestrators_backends():
    from q_store.backends.cost import CostBudget
    from q_store.execution.factory import submitter_from_config

    cfg = TrainingConfig(enable_multi_backend=True, backend_configs=[
        {"provider": "local"}, {"provider": "local"}, {"provider": "local", "name": "mine"}])
    orch = submitter_from_config(cfg, None, budget=CostBudget(None))
    assert list(orch.get_backend_stats()) == ["mock_ideal#1", "mock_ideal#2", "mine"]


def test_multi_backend_does_not_combine_with_dask():
    import numpy as np

    from q_store.backends.cost import CostBudget
    from q_store.execution.factory import engine_from_config
    from q_store.sim import StatevectorSimulator

    cfg = TrainingConfig(enable_multi_backend=True, executor="dask",
                         backend_configs=[{"provider": "local"}])
    with pytest.raises(ConfigError, match="executor='dask'"):
        engine_from_config(cfg, simulator=StatevectorSimulator(), backend=None,
                           rng=np.random.default_rng(0), budget=CostBudget(None))
