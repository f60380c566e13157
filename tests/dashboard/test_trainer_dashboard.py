"""``TrainingConfig(enable_dashboard=True)``: validated options, a server started at the first
``train()``, one run per call with the right final status, kept until ``trainer.close()``, and
training unchanged by it."""

from __future__ import annotations

import socket

import httpx
import numpy as np
import pytest

from q_store.errors import ConfigError, ConfigWarning, ValidationError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def blobs(n: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(scale=0.3, size=(n, 4)) + np.where(y[:, None] == 1, 0.8, -0.8), y


def config(**kw: object) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 2, "batch_size": 8, "seed": 0, "learning_rate": 0.1,
                             "enable_dashboard": True, "dashboard_port": 0, **kw})


def test_options_are_validated() -> None:
    assert TrainingConfig(enable_dashboard=True, dashboard_port=65535).dashboard_port == 65535
    for bad in (-1, 65536, "8080", True, 80.0):
        with pytest.raises(ConfigError, match="dashboard_port must be an integer from 0"):
            TrainingConfig(enable_dashboard=True, dashboard_port=bad)
    with pytest.raises(ConfigError, match="enable_dashboard must be True or False"):
        TrainingConfig(enable_dashboard="yes")
    with pytest.raises(ConfigError, match="needs enable_performance_tracking=True"):
        TrainingConfig(enable_dashboard=True, enable_performance_tracking=False)
    cfg = TrainingConfig(dashboard_port=9000)
    assert any("dashboard_port=9000 has no effect: enable_dashboard is off" in m
               for m in cfg.inapplicable())
    with pytest.warns(ConfigWarning, match="enable_dashboard is off"):
        QuantumTrainer(cfg)


def test_one_run_per_train_call_served_until_close() -> None:
    trainer = QuantumTrainer(config())
    model = QuantumModel.from_config(trainer.config, 4, 2, task="classification")
    assert trainer.dashboard is None  # nothing is served before train()
    try:
        trainer.fit(model, blobs(), blobs(8, 1))
        url = trainer.dashboard.url
        assert url.startswith("http://127.0.0.1:")
        trainer.fit(model, blobs(), epochs=1)
        assert trainer.dashboard.url == url  # the same server for later calls
        runs = httpx.get(url + "api/runs").json()["runs"]
        assert [(r["name"], r["status"]) for r in runs] == [("train() #2", "completed"),
                                                              ("train() #1", "completed")]
        first = httpx.get(url + f"api/runs/{runs[1]['id']}/events").json()["events"]
        second = httpx.get(url + f"api/runs/{runs[0]['id']}/events").json()["events"]
        steps = trainer.performance_tracker.events("step")
        assert [e["loss"] for e in first if e["event"] == "step"] == [
            e["loss"] for e in steps[:4]]
        assert [e["step"] for e in second if e["event"] == "step"] == [5, 6]
        assert [e["epoch"] for e in first if e["event"] == "epoch"] == [1, 2]
    finally:
        trainer.close()
    assert trainer.dashboard is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "api/runs")


def test_failed_and_interrupted_runs_say_so() -> None:
    trainer = QuantumTrainer(config())
    model = QuantumModel.from_config(trainer.config, 4, 2, task="classification")
    try:
        with pytest.raises(ValidationError):
            trainer.fit(model, (np.zeros((4, 3)), np.zeros(4, dtype=int)))
        trainer.request_stop()
        trainer.fit(model, blobs())
        trainer.fit(model, blobs(), epochs=1)
        runs = httpx.get(trainer.dashboard.url + "api/runs").json()["runs"]
    finally:
        trainer.close()
    assert [r["status"] for r in runs] == ["completed", "interrupted", "failed"]
    assert runs[2]["stop_reason"].startswith("ValidationError")
    assert runs[1]["stop_reason"] == "interrupted"


def test_turned_on_and_off_between_calls_and_training_is_unchanged() -> None:
    plain = QuantumTrainer(TrainingConfig(epochs=2, batch_size=8, seed=0, learning_rate=0.1))
    m0 = QuantumModel.from_config(plain.config, 4, 2, task="classification")
    plain.fit(m0, blobs())
    watched = QuantumTrainer(plain.config.replace())
    m1 = QuantumModel.from_config(watched.config, 4, 2, task="classification")
    watched.config.enable_dashboard = True
    watched.config.dashboard_port = 0
    try:
        watched.fit(m1, blobs())
        assert watched.dashboard is not None
        np.testing.assert_array_equal(m1.weights, m0.weights)  # the dashboard only reads
        url = watched.dashboard.url
        watched.config.enable_dashboard = False
        with pytest.warns(ConfigWarning, match="dashboard_port=0 has no effect"):
            watched.fit(m1, blobs(), epochs=1)
        assert watched.dashboard is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "api/runs")
    finally:
        watched.close()


def test_a_taken_port_fails_before_training() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        trainer = QuantumTrainer(config(dashboard_port=taken.getsockname()[1]))
        model = QuantumModel.from_config(trainer.config, 4, 2, task="classification")
        before = model.weights.copy()
        with pytest.raises(ConfigError, match="choose another port"):
            trainer.fit(model, blobs())
    np.testing.assert_array_equal(model.weights, before)
    assert trainer.step == 0 and trainer.dashboard is None


def test_a_run_named_by_q_store_train_keeps_its_name() -> None:
    """``q-store train`` emits a ``run`` event (id, name, model) just before ``fit``."""
    trainer = QuantumTrainer(config(epochs=1))
    model = QuantumModel.from_config(trainer.config, 4, 2, task="classification")
    trainer.performance_tracker.emit("run", run_id="20250101-000000-abcdef", name="digits")
    try:
        trainer.fit(model, blobs())
        trainer.fit(model, blobs(), epochs=1)  # no new run event: a numbered name
        url = trainer.dashboard.url
        runs = httpx.get(url + "api/runs").json()["runs"]
        first = httpx.get(url + f"api/runs/{runs[1]['id']}/events").json()["events"]
    finally:
        trainer.close()
    assert [r["name"] for r in runs] == ["train() #2", "digits"]
    assert first[0]["event"] == "run" and first[0]["run_id"] == "20250101-000000-abcdef"
