"""``q-store tune CONFIG``: an Optuna hyperparameter search from a JSON file.

CONFIG holds ``{"config": {TrainingConfig options}, "search_space": {...}, "n_trials": 20,
"data": {...}, "storage": URL, "study_name": NAME}``; only ``search_space`` is required. Data:
``{"dataset": "v33_example", "samples": 100, "seed": 0}`` (the spec's v3.3 workload: features
in [-pi, pi], regression targets from a teacher model of the same shape, 20% held out for
validation; the default) or ``{"dataset": NAME, "options": {...}, "test_size": 0.3}`` for a
data set of :func:`q_store.datasets.load` (classification). The command prints the best trial
and the options of the best config (a "config" to train with); ``--output`` writes them as
JSON. Running it again resumes the
stored study.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import ConfigError

__all__ = ["add_arguments", "run", "spec_example"]

_KEYS = {"config", "search_space", "n_trials", "data", "storage", "study_name"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="JSON file: config, search_space, n_trials, data")
    parser.add_argument("--trials", type=int, default=None, help="override n_trials")
    parser.add_argument("--storage", default=None,
                        help="Optuna database URL (default sqlite:///qstore-runs/optuna.db)")
    parser.add_argument("--study", default=None, help="study name (default: from the search)")
    parser.add_argument("--output", default=None, help="write the best config here (JSON)")


def spec_example(config: Any, samples: int = 100, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The v3.3 workload: ``samples`` x ``n_qubits`` features, targets ``<Z0>`` of a teacher
    model of the config's shape (weights near zero); train / validation 80 / 20."""
    from q_store.ml.models import QuantumModel

    rng = np.random.default_rng(seed)
    teacher = QuantumModel.from_config(config, config.n_qubits, 1, seed=seed)
    teacher.weights = rng.normal(scale=0.3, size=teacher.weights.shape)
    xs = rng.uniform(-np.pi, np.pi, size=(samples, config.n_qubits))
    ys = teacher.predict(xs)
    cut = round(0.8 * samples)
    return xs[:cut], ys[:cut], xs[cut:], ys[cut:]


def _data(spec: dict[str, Any], config: Any
          ) -> tuple[tuple[np.ndarray, ...], str, int]:
    name = spec.get("dataset", "v33_example")
    if name == "v33_example":
        parts = spec_example(config, int(spec.get("samples", 100)), int(spec.get("seed", 0)))
        return parts, "regression", 1
    from q_store.datasets import load

    ds = load(name, **spec.get("options", {}))
    train, val = ds.split(spec.get("test_size", 0.3), seed=spec.get("seed", 0))
    return (train.x, train.y, val.x, val.y), "classification", ds.n_classes


def run(args: argparse.Namespace) -> int:
    from q_store.ml.config import TrainingConfig
    from q_store.ml.models import QuantumModel
    from q_store.ml.trainer import QuantumTrainer

    try:
        spec = json.loads(Path(args.config).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the tuning file {args.config}: {exc}") from None
    if not isinstance(spec, dict) or "search_space" not in spec or set(spec) - _KEYS:
        raise ConfigError(f"{args.config} must be a JSON object with 'search_space' and "
                          f"optionally {sorted(_KEYS - {'search_space'})}")
    config = TrainingConfig(**spec.get("config", {}))
    (xt, yt, xv, yv), task, outputs = _data(spec.get("data", {}), config)
    model = QuantumModel.from_config(config, xt.shape[1], outputs, task=task)
    trainer = QuantumTrainer(config)
    best = asyncio.run(trainer.optimize_hyperparameters(
        spec["search_space"], args.trials or int(spec.get("n_trials", 20)), model=model,
        train_loader=(xt, yt), val_loader=(xv, yv), storage=args.storage or spec.get("storage"),
        study_name=args.study or spec.get("study_name")))
    study = trainer.study
    trial = study.best_trial
    print(f"study {study.study_name}: {len(study.trials)} trials; best #{trial.number} "
          f"loss {trial.value:.6g} with {trial.params}")
    chosen = {k: getattr(best, k) for k in sorted(best.explicitly_set)}  # the usable "config"
    text = json.dumps(chosen, indent=1, default=str)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"best config written to {args.output}")
    else:
        print(text)
    return 0
