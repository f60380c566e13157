"""Hyperparameter search: the spec's call, ranges, a stored study that survives a crash, and
trials in parallel on a Dask cluster."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from q_store.errors import ConfigError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

optuna = pytest.importorskip("optuna")
from q_store.ml.tuning import SearchSpace, storage_url  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")


def problem(n=30, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-np.pi, np.pi, size=(n, 3))
    ys = np.cos(xs[:, 0]) * 0.6
    return (xs[:20], ys[:20]), (xs[20:], ys[20:])


def base(**kw):
    opts = dict(n_qubits=3, circuit_depth=1, epochs=2, batch_size=10, seed=0,
                enable_performance_tracking=False)
    return TrainingConfig(**{**opts, **kw})


def final_val_loss(cfg: TrainingConfig) -> float:
    """Independent of the search: train the config from the same start and read the loss."""
    train, val = problem()
    model = QuantumModel.from_config(cfg, 3, 1)
    model.init_parameters(np.random.default_rng(cfg.seed))
    return QuantumTrainer(cfg).fit(model, train, val)["val_losses"][-1]


def test_the_spec_call_returns_the_best_config(tmp_path):
    train, val = problem()
    trainer = QuantumTrainer(base())
    model = QuantumModel.from_config(trainer.config, 3, 1)
    trainer.fit(model, train, val, epochs=1)  # the search reuses this model and data
    space = {"learning_rate": [0.001, 0.01, 0.1],
             "gradient_method": ["spsa", "parameter_shift"],
             "batch_size": [5, 10, 20]}
    best = asyncio.run(trainer.optimize_hyperparameters(
        search_space=space, n_trials=5, storage=f"sqlite:///{tmp_path}/o.db"))
    assert isinstance(best, TrainingConfig)
    study = trainer.study
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 5 and {t.params["batch_size"] for t in done} <= {5, 10, 20}
    assert best.learning_rate == study.best_params["learning_rate"]
    assert best.gradient_method == study.best_params["gradient_method"]
    assert best.epochs == 2 and best.n_qubits == 3  # the rest of the config is kept
    assert study.best_value == pytest.approx(final_val_loss(best), abs=1e-12)
    assert study.best_value == min(t.value for t in study.trials
                                   if t.state.name == "COMPLETE")


def test_ranges_log_scales_and_bad_spaces():
    space = SearchSpace.parse({"learning_rate": {"low": 1e-4, "high": 0.3, "log": True},
                               "circuit_depth": {"low": 1, "high": 3},
                               "momentum": {"low": 0.0, "high": 0.9, "step": 0.1}}, base())
    lr, depth, mom = (space.distributions[k] for k in ("learning_rate", "circuit_depth",
                                                        "momentum"))
    assert isinstance(lr, optuna.distributions.FloatDistribution) and lr.log
    assert isinstance(depth, optuna.distributions.IntDistribution) and depth.high == 3
    assert mom.step == 0.1
    for bad in ({}, {"learning_rate": []}, {"learning_rate": [0.1, -1.0]},
                {"learnig_rate": [0.1]}, {"learning_rate": {"low": 0.0, "high": 1, "log": True}},
                {"learning_rate": {"low": 0.3, "high": 0.1}}, {"executor": ["dask"]},
                {"optimizer": ["adam", "lbfgs"]}, {"learning_rate": 0.1}):
        with pytest.raises(ConfigError):
            SearchSpace.parse(bad, base())
    with pytest.raises(ConfigError, match="model and training data"):
        asyncio.run(QuantumTrainer(base()).optimize_hyperparameters({"learning_rate": [0.1]}, 1))


def test_storage_urls():
    assert storage_url(None).startswith("sqlite:////") and storage_url(None).endswith(
        "qstore-runs/optuna.db")
    assert storage_url("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ConfigError):
        storage_url("optuna.db")


CRASH = textwrap.dedent("""
    import asyncio, os, signal, sys
    import numpy as np
    import optuna
    sys.path.insert(0, {src!r})
    from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
    from tests_ml_tuning_problem import problem, base, SPACE, URL, NAME

    class Loader:  # kills this process in the third trial, after two finished
        def __init__(self, x, y):
            self.x, self.y = x, y
        def __iter__(self):
            study = optuna.load_study(study_name=NAME, storage=URL)
            if sum(t.state.name == "COMPLETE" for t in study.trials) >= 2:
                os.kill(os.getpid(), signal.SIGKILL)
            for i in range(0, len(self.x), 10):
                yield self.x[i:i + 10], self.y[i:i + 10]

    (xt, yt), val = problem()
    trainer = QuantumTrainer(base())
    model = QuantumModel.from_config(trainer.config, 3, 1)
    asyncio.run(trainer.optimize_hyperparameters(SPACE, 4, model=model,
        train_loader=Loader(xt, yt), val_loader=val, storage=URL, study_name=NAME))
""")


def test_an_interrupted_study_resumes_with_its_finished_trials_intact(tmp_path):
    url, name = f"sqlite:///{tmp_path}/o.db", "crash-me"
    space = {"learning_rate": {"low": 0.01, "high": 0.3, "log": True}, "batch_size": [5, 10]}
    (tmp_path / "tests_ml_tuning_problem.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_tuning import problem, base\n"
        f"SPACE = {space!r}\nURL = {url!r}\nNAME = {name!r}\n")
    (tmp_path / "crash.py").write_text(CRASH.format(src=SRC))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(tmp_path)])}
    proc = subprocess.run([sys.executable, str(tmp_path / "crash.py")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]  # SIGKILLed mid-trial
    before = optuna.load_study(study_name=name, storage=url).trials
    finished = [(t.number, t.params, t.value) for t in before if t.state.name == "COMPLETE"]
    assert len(finished) == 2 and [t.state.name for t in before][2] == "RUNNING"

    train, val = problem()
    trainer = QuantumTrainer(base())
    model = QuantumModel.from_config(trainer.config, 3, 1)
    asyncio.run(trainer.optimize_hyperparameters(space, 4, model=model, train_loader=train,
                                                 val_loader=val, storage=url,
                                                 study_name=name))
    after = trainer.study.trials
    assert [(t.number, t.params, t.value) for t in after[:2]] == finished
    assert after[2].state.name != "COMPLETE"  # the crashed trial does not count
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in after) == 4


def test_trials_run_in_parallel_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    from q_store.execution.dask_cluster import close_all

    train, val = problem()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        try:
            cfg = base(executor="dask", dask_scheduler=cluster.scheduler_address)
            trainer = QuantumTrainer(cfg)
            model = QuantumModel.from_config(cfg, 3, 1)
            best = asyncio.run(trainer.optimize_hyperparameters(
                {"learning_rate": {"low": 0.01, "high": 0.3, "log": True}}, 4, model=model,
                train_loader=train, val_loader=val, storage=f"sqlite:///{tmp_path}/o.db"))
        finally:
            close_all()
    study = trainer.study
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials) == 4
    pids = {t.user_attrs["pid"] for t in study.trials}
    assert os.getpid() not in pids  # trials ran on the workers
    assert best.executor == "dask" and best.learning_rate == study.best_params["learning_rate"]
    assert study.best_value == pytest.approx(
        final_val_loss(base(learning_rate=best.learning_rate)), abs=1e-12)


def test_q_store_tune_command(tmp_path, capsys):
    import json

    from q_store.cli import main

    spec = {"config": {"n_qubits": 3, "circuit_depth": 1, "epochs": 2, "seed": 0},
            "search_space": {"learning_rate": [0.02, 0.2]}, "n_trials": 2,
            "data": {"dataset": "v33_example", "samples": 20},
            "storage": f"sqlite:///{tmp_path}/o.db"}
    (tmp_path / "tune.json").write_text(json.dumps(spec))
    assert main(["tune", str(tmp_path / "tune.json"), "--output",
                 str(tmp_path / "best.json")]) == 0
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["learning_rate"] in (0.02, 0.2) and best["n_qubits"] == 3
    assert "2 trials" in capsys.readouterr().out
