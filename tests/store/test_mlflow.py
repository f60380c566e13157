"""MLflow logging: parameters (no secrets), step and epoch metrics, final status; with MLflow's
real client on its local file store where MLflow is installed (the ``mlflow`` extra), and the
error that says how to install it where it is not."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from q_store.errors import ConfigError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.store import RunRecorder, RunStore
from q_store.store.mlflow_sink import MLflowSink, flatten_params

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


def test_params_are_flat_strings_without_secrets():
    params = flatten_params({"training": {"learning_rate": 0.1, "quantum_api_key": "k-123",
                                          "epochs": 3},
                             "dataset": {"name": "digits", "classes": [0, 1]},
                             "backend": {"api_key_env": "IONQ_API_KEY", "token": "t"}})
    assert params == {"training.learning_rate": "0.1", "training.epochs": "3",
                      "dataset.name": "digits", "dataset.classes": "[0, 1]",
                      "backend.api_key_env": "IONQ_API_KEY"}


@pytest.mark.skipif(HAS_MLFLOW, reason="MLflow is installed")
def test_without_mlflow_the_error_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r"pip install 'q-store\[mlflow\]'"):
        MLflowSink("run", {})


def _train_with(sink, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2))
    y = (x[:, 0] > 0).astype(int)
    trainer = QuantumTrainer(TrainingConfig(epochs=2, batch_size=8, seed=0))
    with RunStore(tmp_path / "store") as store:
        run = store.create_run("m", {})
        rec = RunRecorder(store.root, run.id, trainer.performance_tracker, sinks=[sink])
        trainer.fit(QuantumModel(2, 2, 1, task="classification", seed=0), (x, y))
        rec.close("completed", summary={"loss": trainer.history["losses"][-1]})
        assert not rec.errors
    return trainer


@pytest.mark.skipif(not HAS_MLFLOW, reason="needs the mlflow extra")
def test_a_run_is_logged_to_mlflows_file_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it opt-in
    uri = (tmp_path / "mlruns").as_uri()
    sink = MLflowSink("digits", {"training": {"learning_rate": 0.1,
                                              "quantum_api_key": "k-secret"}},
                      tracking_uri=uri, experiment="q-store-test",
                      tags={"q_store.run_id": "r1"})
    trainer = _train_with(sink, tmp_path)
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(sink.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"training.learning_rate": "0.1"}
    assert run.data.tags["q_store.run_id"] == "r1"
    history = client.get_metric_history(sink.run_id, "loss")
    steps = trainer.performance_tracker.events("step")
    assert sorted((m.step, m.value) for m in history) == [(e["step"], e["loss"]) for e in steps]
    epoch_loss = client.get_metric_history(sink.run_id, "epoch_loss")
    assert [m.value for m in sorted(epoch_loss, key=lambda m: m.step)] == \
        trainer.history["losses"]
    assert run.data.metrics["final_loss"] == trainer.history["losses"][-1]
    # resuming continues the same MLflow run
    again = MLflowSink("digits", {}, tracking_uri=uri, resume_run_id=sink.run_id)
    assert client.get_run(sink.run_id).info.status == "RUNNING"
    again.close("interrupted", {})
    assert client.get_run(sink.run_id).info.status == "KILLED"
