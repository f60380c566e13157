"""Hyperparameter search with Optuna: ``await trainer.optimize_hyperparameters(space, n)``.

The search space is the spec's dict of lists (each list a categorical choice), or per option a
range ``{"low": 1e-3, "high": 0.3, "log": True}`` (integers when both bounds are; ``"step"``
allowed), or an Optuna distribution. Every value is checked against
:class:`~q_store.ml.config.TrainingConfig` before any trial runs.

Trials use Optuna's TPE sampler and median pruning on the per-epoch validation loss (training
loss without validation data). They are stored in an Optuna RDB storage (by default the SQLite
file ``qstore-runs/optuna.db``; any database URL for a shared study), and the study's default
name is derived from the search and the base config, so running the same search again resumes
it: trials already finished are kept and only the rest run (a trial cut short by a crash is
marked failed by its stale heartbeat and does not count). With ``executor="dask"`` the trials
run in parallel, one per Dask task, all writing to the same storage; each trial trains on its
worker's exact simulator.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import numbers
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import ConfigError, NotSupportedError
from q_store.ml.config import TrainingConfig

__all__ = ["DEFAULT_STORAGE", "SearchSpace", "optimize_hyperparameters", "storage_url"]

DEFAULT_STORAGE = "sqlite:///qstore-runs/optuna.db"
_STRUCTURE = ("n_qubits", "circuit_depth", "hardware_efficient_ansatz", "entanglement")
_NOT_TUNED = ("executor", "dask_scheduler", "dask_workers", "dask_chunk_rows",
              "dask_connect_timeout", "dask_retries", "checkpoint_dir", "checkpoint_every",
              "checkpoint_keep_last", "performance_log_dir")


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise NotSupportedError('hyperparameter search needs Optuna: pip install '
                                f'"q-store[tune]" (or pip install optuna) ({exc})') from None
    return optuna


def storage_url(url: str | None) -> str:
    """The database URL, a relative SQLite path made absolute (workers may run elsewhere)
    and its directory created."""
    url = url or DEFAULT_STORAGE
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"storage must be a database URL such as {DEFAULT_STORAGE!r}, got "
                          f"{url!r}")
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url[len("sqlite:///"):]).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    return url


_storages: dict[str, Any] = {}  # per process: a worker's trials share one connection pool


def _storage(url: str) -> Any:
    """RDB storage with heartbeats (a crashed trial turns stale, then failed); SQLite waits
    for other processes' locks instead of failing."""
    if url not in _storages:
        _storages[url] = _new_storage(url)
    return _storages[url]


def _new_storage(url: str) -> Any:
    optuna = require_optuna()
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=5, grace_period=20,
                                          engine_kwargs=kwargs)


@dataclass(frozen=True)
class SearchSpace:
    """Option name -> Optuna distribution, checked against ``base``."""

    distributions: dict[str, Any]

    @classmethod
    def parse(cls, space: Any, base: TrainingConfig) -> SearchSpace:
        optuna = require_optuna()
        dist = optuna.distributions
        if not isinstance(space, dict) or not space:
            raise ConfigError("search_space must be a non-empty dict of option -> list of "
                              "values or {'low', 'high', 'log', 'step'} range")
        out: dict[str, Any] = {}
        for name, spec in space.items():
            if name in _NOT_TUNED or name == "seed":
                raise ConfigError(f"{name!r} cannot be tuned (it says where or how a run is "
                                  "executed or stored, not how the model learns)")
            if isinstance(spec, dist.BaseDistribution):
                out[name] = spec
            elif isinstance(spec, (list, tuple)):
                if not spec:
                    raise ConfigError(f"search_space[{name!r}] is an empty list")
                for value in spec:
                    base.replace(**{name: value})  # raises naming what is allowed
                out[name] = dist.CategoricalDistribution(list(spec))
            elif isinstance(spec, dict):
                out[name] = _range(name, spec, dist)
                for bound in (spec["low"], spec["high"]):
                    base.replace(**{name: bound})
            else:
                raise ConfigError(f"search_space[{name!r}] must be a list of values or a "
                                  f"range dict, got {spec!r}")
        return cls(out)

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {name: _suggest(trial, name, d) for name, d in self.distributions.items()}


def _suggest(trial: Any, name: str, d: Any) -> Any:
    dist = require_optuna().distributions
    if isinstance(d, dist.CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    if isinstance(d, dist.IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, dist.FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    raise ConfigError(f"search_space[{name!r}]: unsupported distribution {d!r}")


def _range(name: str, spec: dict[str, Any], dist: Any) -> Any:
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown or "low" not in spec or "high" not in spec:
        raise ConfigError(f"search_space[{name!r}] range needs 'low' and 'high' (and "
                          f"optionally 'log', 'step'), got {sorted(spec)}")
    low, high, log, step = spec["low"], spec["high"], bool(spec.get("log", False)), \
        spec.get("step")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (low, high)) \
            or not low < high:
        raise ConfigError(f"search_space[{name!r}] needs numbers low < high, got {low!r}, "
                          f"{high!r}")
    if log and (low <= 0 or step is not None):
        raise ConfigError(f"search_space[{name!r}]: a log scale needs low > 0 and no step")
    if isinstance(low, numbers.Integral) and isinstance(high, numbers.Integral):
        return dist.IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return dist.FloatDistribution(float(low), float(high), log=log, step=step)


def trial_config(base: TrainingConfig, params: dict[str, Any]) -> TrainingConfig:
    """The config one trial trains with: ``base``'s choices and ``params``, on this process's
    exact simulator, without checkpoints."""
    kept = {k: getattr(base, k) for k in base.explicitly_set if k not in _NOT_TUNED}
    return TrainingConfig(**{**kept, **params})


@dataclass
class Objective:
    """One trial: train a fresh copy of the model epoch by epoch, report the monitored loss
    after each epoch (median pruning), return the last one. Picklable, so trials can run on
    Dask workers."""

    base: TrainingConfig
    space: SearchSpace
    model: Any
    train: Any
    val: Any

    def model_for(self, cfg: TrainingConfig) -> Any:
        if any(name in self.space.distributions for name in _STRUCTURE):
            from q_store.ml.models import QuantumModel

            m = self.model
            return QuantumModel.from_config(cfg, m.input_dim, m.output_dim, task=m.task,
                                            encoding=m.encoding)
        model = copy.deepcopy(self.model)
        model.init_parameters(np.random.default_rng(cfg.seed))  # every trial starts alike
        return model

    def __call__(self, trial: Any) -> float:
        from q_store.ml.trainer import QuantumTrainer

        optuna = require_optuna()
        cfg = trial_config(self.base, self.space.suggest(trial))
        trial.set_user_attr("pid", os.getpid())  # where it ran (a Dask worker, or here)
        model = self.model_for(cfg)
        trainer = QuantumTrainer(cfg)
        monitored = float("nan")
        for epoch in range(cfg.epochs):
            history = trainer.fit(model, self.train, self.val, epochs=1)
            losses = history["val_losses"] if self.val is not None else history["losses"]
            monitored = float(losses[-1])
            trial.report(monitored, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch + 1}: loss {monitored:.6g}")
            if trainer.stop_reason is not None:
                break
        return monitored


def _default_name(base: TrainingConfig, space: SearchSpace) -> str:
    what = {"space": {k: repr(v) for k, v in sorted(space.distributions.items())},
            "base": {k: repr(v) for k, v in sorted(base.to_dict().items())
                     if k not in _NOT_TUNED}}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
    return f"q-store-{digest[:16]}"


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False,
                                states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _sampler(seed: int | None) -> Any:
    optuna = require_optuna()
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner() -> Any:
    return require_optuna().pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


def run_trials(url: str, study_name: str, objective: Objective, n: int, seed: int | None
               ) -> int:
    """Run ``n`` trials of the stored study here (a Dask task runs one)."""
    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=_storage(url),
                              sampler=_sampler(seed), pruner=_pruner())
    study.optimize(objective, n_trials=n, catch=())
    return n


async def optimize_hyperparameters(trainer: Any, search_space: dict[str, Any],
                                   n_trials: int = 20, *, model: Any = None,
                                   train_loader: Any = None, val_loader: Any = None,
                                   storage: str | None = None, study_name: str | None = None,
                                   ) -> TrainingConfig:
    """Search, resume a stored search, and return the best :class:`TrainingConfig` (the
    trainer's config with the best trial's values). ``model`` and the data default to those of
    the trainer's last :meth:`~q_store.ml.trainer.QuantumTrainer.train` call."""
    optuna = require_optuna()
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise ConfigError(f"n_trials must be a positive integer, got {n_trials!r}")
    last = getattr(trainer, "_last_fit", None) or (None, None, None)
    model = model if model is not None else last[0]
    train_loader = train_loader if train_loader is not None else last[1]
    val_loader = val_loader if val_loader is not None else last[2]
    if model is None or train_loader is None:
        raise ConfigError("optimize_hyperparameters needs a model and training data: train "
                          "first, or pass model=... and train_loader=...")
    base = trainer.config
    space = SearchSpace.parse(search_space, base)
    url = storage_url(storage)
    name = study_name or _default_name(base, space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=_storage(url), direction="minimize",
                                sampler=_sampler(base.seed), pruner=_pruner(),
                                load_if_exists=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    objective = Objective(base, space, model, train_loader, val_loader)
    todo = n_trials - _finished(study)
    if todo > 0 and base.executor == "dask":
        await asyncio.to_thread(_run_on_dask, base, url, name, objective, todo,
                                _finished(study))
    elif todo > 0:
        await asyncio.to_thread(run_trials, url, name, objective, todo, base.seed)
    trainer.study = study  # the search's record (`q-store tune` prints it)
    try:
        best = study.best_trial
    except ValueError:
        raise ConfigError(f"no trial of study {name!r} finished; see its failed trials in "
                          f"{url}") from None
    return base.replace(**best.params)


def _run_on_dask(base: TrainingConfig, url: str, name: str, objective: Objective, todo: int,
                 done: int) -> None:
    """One task per trial on the configured cluster, the objective shipped once per worker."""
    from q_store.execution.dask_cluster import ClusterSpec, client_for
    from q_store.execution.dask_engine import submit_spread

    client = client_for(ClusterSpec.from_config(base))
    shipped = client.scatter([objective], broadcast=True)[0]
    seeds = [None if base.seed is None else base.seed + 1 + done + i for i in range(todo)]
    futures = [submit_spread(client, run_trials, url, name, shipped, 1, s,
                             retries=base.dask_retries) for s in seeds]
    try:
        client.gather(futures)
    finally:
        shipped.release()
