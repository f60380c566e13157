"""Run-configuration files: every error names the file, the key and what is allowed
(TrainingConfig's errors included); TOML and YAML read alike; the documented reference is the
schema's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from q_store.errors import ConfigFileError
from q_store.ml.config import TrainingConfig
from q_store.runconfig import load_document, load_run_config, render_markdown
from q_store.runconfig.schema import SECTIONS, training_keys

ROOT = Path(__file__).resolve().parents[2]


def _file(tmp_path, text, name="run.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _error(tmp_path, text, name="run.toml") -> ConfigFileError:
    p = _file(tmp_path, text, name)
    with pytest.raises(ConfigFileError) as info:
        load_run_config(p)
    assert info.value.path == str(p)
    assert str(info.value).startswith(f"{p}: ")
    return info.value


MINIMAL = '[dataset]\nname = "iris"\n'


def test_a_minimal_file_gets_every_default(tmp_path):
    cfg = load_run_config(_file(tmp_path, MINIMAL, "iris-run.toml"))
    assert cfg.name == "iris-run"
    assert cfg["split"] == {"test_fraction": 0.25, "validation_fraction": 0.0,
                            "stratify": True, "seed": None}
    assert cfg["encoder"] == {"method": "angle"} and cfg["layers"] == []
    assert cfg.training_config() == TrainingConfig()
    again = load_document(cfg.document(), source="stored")  # what the store keeps reloads
    assert again.sections == cfg.sections


@pytest.mark.parametrize(("text", "key", "message"), [
    ('[datset]\nname = "iris"\n', "datset", r"unknown section \(did you mean 'dataset'\?\)"),
    ("[split]\ntest_fraction = 0.2\n", "dataset.name", "is required"),
    (MINIMAL + "[split]\ntest_fractoin = 0.2\n", "split.test_fractoin",
     r"unknown key \(did you mean 'test_fraction'\?\); allowed: test_fraction, "),
    (MINIMAL + "[split]\ntest_fraction = 1.5\n", "split.test_fraction",
     r"must be a number in \[0, 1\), got 1.5"),
    (MINIMAL + "[split]\ntest_fraction = 0.6\nvalidation_fraction = 0.5\n",
     "split.validation_fraction", "must be below 1"),
    (MINIMAL + '[preprocessing]\nscale = "zscore"\n', "preprocessing.scale",
     "must be 'none', 'standard' or 'minmax', got 'zscore'"),
    (MINIMAL + "[preprocessing]\npca = 0\n", "preprocessing.pca",
     "false, 'auto' or a positive integer"),
    (MINIMAL + '[encoder]\nmethod = "angel"\n', "encoder.method",
     "must be one of angle, basis, zz_feature_map, zz, amplitude"),
    (MINIMAL + '[[layers]]\ntype = "quantum"\n[[layers]]\ntype = "dense"\n', "layers[1].type",
     "must be one of quantum, hardware_efficient, convolution, pooling, got 'dense'"),
    (MINIMAL + "[training]\nlearning_rate = -1\n", "training.learning_rate",
     "learning_rate must be a positive finite number, got -1"),
    (MINIMAL + "[training]\nlearnign_rate = 0.1\n", "training.learnign_rate",
     r"unknown TrainingConfig option \(did you mean 'learning_rate'\?\)"),
    (MINIMAL + '[training]\noptimizer = "adagrad"\n', "training.optimizer",
     "choose one of adam, sgd"),
    (MINIMAL + '[training]\nquantum_api_key = "abc"\n', "training.quantum_api_key",
     "secrets are never read from configuration files; set backend.api_key_env"),
    (MINIMAL + '[training]\ncheckpoint_dir = "x"\n', "training.checkpoint_dir",
     "keeps checkpoints in the run's directory"),
    (MINIMAL + "[training]\nenable_performance_tracking = false\n",
     "training.enable_performance_tracking", "must be true"),
    (MINIMAL + "[training]\ndashboard_port = 70000\n", "training.dashboard_port",
     "dashboard_port must be an integer from 0 to 65535"),
    (MINIMAL + '[backend]\nsdk = "braket"\n', "backend.sdk",
     "quantum_sdk='braket' is not allowed; choose one of mock, cirq, qiskit, ionq"),
    (MINIMAL + "[backend]\nshots = 0\n", "backend.shots",
     "must be an integer >= 1, got 0"),
    (MINIMAL + '[backend]\nsdk = "ionq"\n[training]\nquantum_sdk = "ionq"\n',
     "training.quantum_sdk", "is also set as backend.sdk"),
    (MINIMAL + '[backend]\nbase_url = "https://me:pw@api.ionq.co"\n', "backend.base_url",
     "must not contain credentials"),
    (MINIMAL + '[backend]\napi_key_env = "QSTORE_TEST_UNSET_VARIABLE"\n',
     "backend.api_key_env", "'QSTORE_TEST_UNSET_VARIABLE' is not set"),
    (MINIMAL + '[run]\ntracking = "wandb"\n', "run.tracking", "'none' or 'mlflow'"),
    ("[dataset]\nname = 3\n", "dataset.name", "must be a registered data set"),
])
def test_errors_name_the_file_the_key_and_what_is_allowed(tmp_path, text, key, message):
    err = _error(tmp_path, text)
    assert err.key == key
    assert re.search(message, str(err)), str(err)


def test_training_errors_blame_the_key_the_message_is_about(tmp_path):
    # shots come from [backend], the gradient method from [training]: the message names
    # gradient_method first, so that is the key blamed
    err = _error(tmp_path, MINIMAL + '[backend]\nshots = 10\n[training]\n'
                 'gradient_method = "adjoint"\n')
    assert err.key == "training.gradient_method"


def test_syntax_errors_name_the_file(tmp_path):
    err = _error(tmp_path, "[dataset\nname = 1\n")
    assert err.key is None and "not valid TOML" in str(err)
    err = _error(tmp_path, "dataset: [unclosed\n", "run.yaml")
    assert "not valid YAML" in str(err)
    err = _error(tmp_path, "- just\n- a list\n", "run.yml")
    assert "must hold a table of sections" in str(err)
    err = _error(tmp_path, MINIMAL, "run.json")
    assert "unknown file type '.json'" in str(err)
    with pytest.raises(ConfigFileError, match="cannot read it"):
        load_run_config(tmp_path / "missing.toml")


def test_yaml_and_toml_mean_the_same(tmp_path):
    toml = load_run_config(_file(tmp_path, """
[dataset]
name = "moons"
n_samples = 40
[encoder]
method = "angle"
rotation = "Y"
[[layers]]
type = "hardware_efficient"
depth = 2
[training]
epochs = 2
n_qubits = 2
gradient_method = "parameter_shift"
[backend]
shots = 200
""", "a.toml"))
    yaml = load_run_config(_file(tmp_path, """
dataset: {name: moons, n_samples: 40}
encoder: {method: angle, rotation: "Y"}
layers:
  - {type: hardware_efficient, depth: 2}
training: {epochs: 2, n_qubits: 2, gradient_method: parameter_shift}
backend: {shots: 200}
""", "a.yaml"))
    assert toml.sections == yaml.sections
    tc = toml.training_config()
    assert (tc.shots, tc.epochs, tc.gradient_method) == (200, 2, "parameter_shift")
    assert tc.explicitly_set == {"shots", "epochs", "n_qubits", "gradient_method"}


def test_the_api_key_comes_from_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_IONQ_KEY", "key-from-env")
    cfg = load_run_config(_file(tmp_path, MINIMAL + '[backend]\nsdk = "ionq"\n'
                                "api_key_env = \"MY_IONQ_KEY\"\n"))
    tc = cfg.training_config()
    assert tc.quantum_api_key == "key-from-env" and tc.quantum_sdk == "ionq"
    assert "key-from-env" not in repr(cfg.document())


def test_the_documented_reference_is_the_schema():
    doc = (ROOT / "docs" / "train-config.md").read_text()
    assert doc == render_markdown()
    for section in SECTIONS.values():
        for key in section.keys:
            assert f"| `{key.name}` |" in doc
    for name in training_keys():
        assert f"| `{name}` |" in doc
