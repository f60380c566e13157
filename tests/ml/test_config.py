"""TrainingConfig: every spec field accepted, bad values rejected, secrets hidden."""

from __future__ import annotations

import pytest

from q_store import TrainingConfig
from q_store.errors import ConfigError, NotSupportedError


def test_spec_fields_are_accepted():
    cfg = TrainingConfig(
        pinecone_api_key="pc-123", quantum_sdk="mock", learning_rate=0.01, epochs=5,
        batch_size=10, n_qubits=8, circuit_depth=2, gradient_method="adaptive",
        enable_circuit_cache=True, enable_batch_execution=True, hardware_efficient_ansatz=True,
        cache_size=1000, batch_timeout=60.0, spsa_c_initial=0.1, spsa_a_initial=0.01,
        enable_performance_tracking=True, performance_log_dir=None, gradient_clip_value=1.0,
        gradient_clip_norm=2.0, natural_gradient_regularization=0.01, qfim_cache_size=100,
        log_level="DEBUG", debug_mode=True)
    assert cfg.gradient_method == "adaptive"
    assert TrainingConfig(gradient_method="natural").gradient_method == "natural_gradient"


def test_unknown_field_names_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        TrainingConfig(learnig_rate=0.1)
    cfg = TrainingConfig()
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        cfg.batchsize = 4


@pytest.mark.parametrize("field,value,message", [
    ("learning_rate", 0.0, "positive"),
    ("learning_rate", float("nan"), "positive"),
    ("epochs", 0, "integer >= 1"),
    ("batch_size", 2.5, "integer"),
    ("gradient_method", "backprop", "choose one of auto, adjoint, parameter_shift"),
    ("optimizer", "rmsprop", "adam, sgd"),
    ("entanglement", "ring", "linear, circular, full"),
    ("quantum_sdk", "braket", "mock, cirq, qiskit, ionq"),
    ("momentum", 1.0, r"in \[0.0, 1.0\)"),
    ("gradient_clip_norm", -1.0, "positive"),
    ("shuffle", "yes", "True or False"),
])
def test_bad_values_say_what_is_allowed(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**{field: value})


def test_assignment_is_validated_and_rolled_back():
    cfg = TrainingConfig(epochs=3)
    with pytest.raises(ConfigError):
        cfg.epochs = -1
    assert cfg.epochs == 3


def test_hardware_options_are_validated():
    cfg = TrainingConfig(quantum_sdk="ionq", quantum_target="qpu.aria-1", use_native_gates=True,
                         connection_pool_size=8, gradient_method="spsa", shots=100,
                         max_cost_usd=5.0)
    assert (cfg.quantum_target, cfg.connection_pool_size, cfg.max_cost_usd) == (
        "qpu.aria-1", 8, 5.0)
    with pytest.raises(ConfigError, match="needs quantum_sdk='ionq'"):
        TrainingConfig(quantum_sdk="qiskit", quantum_target="qpu")
    with pytest.raises(ConfigError, match="simulator only"):
        TrainingConfig(quantum_sdk="ionq", quantum_target="qpu", ionq_noise_model="aria-1")
    with pytest.raises(ConfigError, match="ionq_noise_model"):
        TrainingConfig(ionq_noise_model="harmony")
    with pytest.raises(ConfigError, match="http"):
        TrainingConfig(ionq_base_url="localhost:8000")
    for bad in ({"max_cost_usd": -1.0}, {"connection_pool_size": 0}, {"batch_timeout": 0},
                {"use_native_gates": "yes"}):
        with pytest.raises(ConfigError):
            TrainingConfig(**bad)


def test_shots_need_a_hardware_gradient_method():
    with pytest.raises(ConfigError, match="exact expectation values"):
        TrainingConfig(shots=1000, gradient_method="adjoint")
    assert TrainingConfig(shots=1000, gradient_method="parameter_shift").shots == 1000


def test_the_default_gradient_method_follows_the_target():
    """``auto``: adjoint where the local simulator answers exactly, parameter shift with shots
    or on a backend (where adjoint cannot run)."""
    from q_store import QuantumTrainer

    assert TrainingConfig().gradient_method == "auto"
    assert QuantumTrainer(TrainingConfig()).method.name == "adjoint"
    assert QuantumTrainer(TrainingConfig(shots=100)).method.name == "parameter_shift"


def test_keys_never_in_repr_or_dict():
    cfg = TrainingConfig(pinecone_api_key="pc-SECRET", quantum_api_key="ionq-SECRET")
    assert "SECRET" not in repr(cfg)
    assert "SECRET" not in str(cfg.to_dict())
    assert cfg.to_dict(include_secrets=True)["quantum_api_key"] == "ionq-SECRET"


# Every option the spec's documents name (TrainingConfig(...) arguments, `config.x = ...`
# assignments and TrainingConfig field listings in ../shared/spec/*.md, v3.2 to v3.5), kept
# here so that CI checks them without the spec.
SPEC_OPTIONS = (
    "adaptive_batch_sizing", "adaptive_circuit_depth", "adaptive_shot_allocation",
    "backend_configs", "base_shots", "batch_size", "batch_timeout", "cache_size",
    "circuit_depth", "circuit_depth_schedule", "connection_pool_size", "dashboard_port",
    "debug_mode", "enable_all_v34_features", "enable_all_v35_features",
    "enable_batch_execution", "enable_circuit_cache", "enable_circuit_optimization",
    "enable_dashboard", "enable_multi_backend", "enable_performance_tracking",
    "enable_smart_caching", "entanglement_pruning", "epochs", "gate_merging",
    "gradient_clip_norm", "gradient_clip_value", "gradient_method",
    "hardware_efficient_ansatz", "identity_removal", "learning_rate", "log_level",
    "max_circuit_depth", "max_queue_wait_time", "max_shots", "min_circuit_depth", "min_shots",
    "n_qubits", "natural_gradient_regularization", "performance_log_dir", "pinecone_api_key",
    "qfim_cache_size", "quantum_api_key", "quantum_sdk", "quantum_target",
    "retry_failed_circuits", "spsa_a_initial", "spsa_c_initial", "use_batch_api",
    "use_concurrent_submission", "use_native_gates",
)


def _spec_option_names() -> set[str]:
    """Option names in the spec's documents, read the way a user copies them."""
    import re
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2].parent / "shared" / "spec"
    names: set[str] = set()
    for doc in sorted(spec.glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"TrainingConfig\(", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            names.update(re.findall(r"[(,\n]\s*(\w+)\s*=(?!=)", "(" + text[m.end():i]))
        names.update(re.findall(r"\bconfig\.(\w+)\s*=(?!=)", text))
        for m in re.finditer(r"class TrainingConfig\b.*?```", text, re.S):  # field listings
            names.update(re.findall(r"^\s+(\w+)\s*:[^=\n]*=", m.group(0), re.M))
    return names


def test_the_list_of_spec_options_is_complete():
    found = _spec_option_names()
    if not found:
        pytest.skip("the spec documents (../shared/spec) are not next to this checkout")
    assert found == set(SPEC_OPTIONS)


@pytest.mark.parametrize("name", SPEC_OPTIONS)
def test_every_spec_option_is_known(name):
    """Each is accepted at its default, and assigning it is validated: either it works or
    it says NotSupportedError, never 'unknown'."""
    cfg = TrainingConfig(**{name: getattr(TrainingConfig(), name)})
    assert name in cfg.explicitly_set
    value = getattr(cfg, name)
    try:
        setattr(cfg, name, value)
    except NotSupportedError:  # pragma: no cover - defaults are always supported
        pytest.fail(f"{name} at its default must be accepted")
