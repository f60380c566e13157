"""``QuantumTrainer``: the training loop, and nothing else.

Per batch: encode, ask the gradient method for a plan (the circuits it needs and how to finish
them), let the execution engine run the plan on the configured target, pull the loss gradient
through the circuit's by the chain rule, update the weights with the optimiser (frozen weights
never move). Per epoch: validation, history, the method's state update (adaptive switching),
early stopping, checkpoints. A run resumed from a checkpoint reproduces the uninterrupted run
exactly: weights, optimiser state, epoch, random state and the method's state are all saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from q_store.backends.cost import CostBudget, CostEstimate
from q_store.backends.local import remote_backend
from q_store.data.loaders import DataLoader
from q_store.errors import (
    BudgetExceededError,
    ConfigError,
    ConfigWarning,
    JobTimeoutError,
    ValidationError,
)
from q_store.execution.backend_executor import BackendExecutor, run_sync
from q_store.execution.cache import CircuitCache
from q_store.execution.engine import ExecutionEngine, values_request
from q_store.execution.factory import engine_from_config
from q_store.execution.tracker import PerformanceTracker
from q_store.gradients import GradientMethod
from q_store.gradients.base import random_key
from q_store.ml import checkpoint_state
from q_store.ml.backend_choice import BackendChoice
from q_store.ml.config import TrainingConfig
from q_store.ml.cost_estimate import estimate_training_cost
from q_store.ml.depth import AdaptiveDepth
from q_store.ml.inputs import (
    batches,
    check_data,
    check_features,
    check_targets,
    count_batches,
    is_xy_pair,
)
from q_store.ml.losses import get_loss
from q_store.ml.methods import gradient_method_from_config
from q_store.ml.models import QuantumModel
from q_store.ml.optimizers import apply_updates, optimizer_from_config
from q_store.ml.trainer_config import BACKEND_FIELDS, config_snapshot, scheduled_learning_rate
from q_store.sim.gpu import simulator_for_device

__all__ = ["QuantumTrainer"]

log = logging.getLogger("q_store.trainer")
_NOTHING = object()
class QuantumTrainer:
    """Trains a :class:`QuantumModel` as configured by a :class:`TrainingConfig`.

    Circuits run where the config says (:class:`~q_store.ml.backend_choice.BackendChoice`):
    any backend other than
    the exact local simulator is reached through a
    :class:`~q_store.execution.BackendExecutor` with hardware-compatible gradients (parameter
    shift, finite differences, SPSA, adaptive) and the ``max_cost_usd`` budget: a step whose
    circuits would pass the budget is not run, and training stops there (``stop_reason``).
    """

    def __init__(self, config: TrainingConfig | None = None, backend_manager: Any = None
                 ) -> None:
        self.config = config or TrainingConfig()
        if not isinstance(self.config, TrainingConfig):
            raise ConfigError("config must be a TrainingConfig")
        self.backend_manager = backend_manager
        self._backends = BackendChoice(self.config, backend_manager)
        self.rng = np.random.default_rng(self.config.seed)
        self.opt_state: Any = None
        self.epoch = 0
        self.step = 0
        self.history: dict[str, list[Any]] = {"losses": [], "val_losses": [], "accuracy": [],
                                               "val_accuracy": [], "epoch_times": [],
                                               "gradient_methods": [], "learning_rates": []}
        self._early: dict[str, Any] = {"best": None, "stall": 0}
        self._best_weights: np.ndarray | None = None
        self._stats = {"circuits": 0, "batches": 0, "batch_time": 0.0, "total_time": 0.0}
        self._method_counts: dict[str, int] = {}
        self._planned_steps = 1
        self.budget = CostBudget(self.config.max_cost_usd)
        self.performance_tracker: PerformanceTracker | None = None
        self.dashboard: Any = None  # q_store.dashboard.TrainerDashboard (enable_dashboard)
        self.engine: ExecutionEngine | None = None  # built for the model's backend
        self._retired: list[ExecutionEngine] = []  # replaced engines, closed at the next call
        self._engine_backend: Any = _NOTHING
        self.stop_reason: str | None = None
        self._stop_requested = False  # set by request_stop (e.g. on Ctrl-C)
        self._partial: dict[str, Any] | None = None  # an epoch stopped part-way (checkpointed)
        self.method: GradientMethod | None = None
        self.method_state: Any = None
        self._applied: dict[str, Any] | None = None
        self._exact_target = self.config.shots is None  # known once the engine is built
        self._apply_config()

    # -- configuration -----------------------------------------------------------------------------
    def _apply_config(self) -> None:
        """Bring every component built from the config up to date with it.

        Called by every public entry point, so options changed after the trainer was built
        (``config.learning_rate = 0.001``, ``config.quantum_sdk = "ionq"``, as the spec does)
        take effect at the next ``train`` / ``fit`` / ``evaluate`` call or epoch. Training
        state (weights, optimiser moments, epoch, random state, SPSA's counter, money spent)
        carries over."""
        cfg = self.config
        if not isinstance(cfg, TrainingConfig):
            raise ConfigError("trainer.config must be a TrainingConfig")
        snap = config_snapshot(cfg)
        if snap == self._applied:
            return
        self._backends.config = cfg
        old = self._applied or {}
        changed = {k for k, v in snap.items() if k not in old or old[k] != v}
        first = self._applied is None
        if not first:
            log.info("configuration changed (%s): applying it", ", ".join(sorted(changed)))
        level = "DEBUG" if cfg.debug_mode else str(cfg.log_level).upper()
        log.setLevel(getattr(logging, level))
        if first or changed & {"cache_size", "enable_circuit_cache", "simulator_device"}:
            self.cache = CircuitCache(cfg.cache_size if cfg.enable_circuit_cache else 0)
            self.simulator = simulator_for_device(cfg.simulator_device, cache=self.cache)
        if not first and "seed" in changed:
            self.rng = np.random.default_rng(cfg.seed)
        if not first and changed & BACKEND_FIELDS:
            self._release_backend()
            if "quantum_sdk" in changed:
                self._backends.sdk_changed()
        if not first and changed & {"cache_size", "enable_circuit_cache", "simulator_device"}:
            self._release_backend()  # the local engine holds the simulator
        self._set_method(gradient_method_from_config(cfg, self.simulator, self._spsa_key(),
                                                     exact=self._exact_target))
        if not first and "optimizer" in changed:
            self.opt_state = None  # Adam's moments mean nothing to SGD
        learning_rate: Any = cfg.learning_rate
        if cfg.learning_rate_schedule != "constant":
            learning_rate = self._scheduled_learning_rate
        if cfg.gradient_method == "spsa":  # Spall's step-size gains a_k
            learning_rate = self.method.learning_rate  # type: ignore[union-attr]
        self._learning_rate = learning_rate
        self.optimizer = optimizer_from_config(cfg.optimizer, learning_rate,
                                               clip_value=cfg.gradient_clip_value,
                                               clip_norm=cfg.gradient_clip_norm,
                                               momentum=cfg.momentum)
        self.loss_fn = None if cfg.loss is None else get_loss(cfg.loss)
        if first or changed & {"enable_performance_tracking", "performance_log_dir"}:
            if self.performance_tracker is not None:
                self.performance_tracker.close()
            self.performance_tracker = (PerformanceTracker(cfg.performance_log_dir)
                                        if cfg.enable_performance_tracking else None)
            self._release_backend()  # the engine reports to the tracker
        self.cache.tracker = self.performance_tracker  # template events
        self.adaptive_depth = AdaptiveDepth.from_config(cfg, self.performance_tracker)
        self.budget.limit_usd = CostBudget(cfg.max_cost_usd).limit_usd  # spending carries over
        for message in cfg.inapplicable():
            warnings.warn(message, ConfigWarning, stacklevel=3)
        self._applied = snap

    def _spsa_key(self) -> int:
        """The key of SPSA's perturbations: the seed, else one random key per trainer."""
        if self.config.seed is not None:
            return int(self.config.seed)
        if not hasattr(self, "_random_key"):
            self._random_key = random_key()
        return self._random_key

    def _set_method(self, method: GradientMethod) -> None:
        """Use ``method``; its state carries over when it is the same kind of method."""
        old = self.method
        self.method = method
        if old is None or old.name != method.name:
            self.method_state = method.init()

    # -- where circuits run ----------------------------------------------------------------------
    async def _engine_for(self, model: QuantumModel) -> ExecutionEngine:
        """The engine for the model's backend (built when that backend or its options change;
        the engine it replaces is closed here, on the caller's event loop)."""
        self._apply_config()
        backend = (None if self.config.enable_multi_backend  # the configured backends instead
                   else remote_backend(self._backends.select(model)))
        if self.engine is None or backend is not self._engine_backend:
            self._release_backend()
            self.engine = engine_from_config(self.config, simulator=self.simulator,
                                             backend=backend, rng=self.rng, budget=self.budget,
                                             tracker=self.performance_tracker)
            self._engine_backend = backend
            if self.engine.exact != self._exact_target:  # the method's defaults follow the target
                self._exact_target = self.engine.exact
                self._set_method(gradient_method_from_config(
                    self.config, self.simulator, self._spsa_key(), exact=self._exact_target))
        await self._close_retired()
        return self.engine

    @property
    def backend(self) -> Any:
        """Where the circuits run: a backend, or None for the exact local simulator."""
        return None if self.engine is None else self.engine.backend

    @property
    def executor(self) -> BackendExecutor | None:
        return None if self.engine is None else self.engine.executor

    def _release_backend(self) -> None:
        """Retire the engine (closed at the next call, on that call's event loop)."""
        if self.engine is not None:
            self._retired.append(self.engine)
        self.engine, self._engine_backend = None, _NOTHING

    async def _close_retired(self) -> None:
        while self._retired:
            await self._retired.pop().aclose()

    async def aclose(self) -> None:
        """Close the connections of a remote backend and stop the dashboard (the trainer can
        be used again)."""
        self._release_backend()
        await self._close_retired()
        if self.dashboard is not None:
            self.dashboard.close()
            self.dashboard = None

    def close(self) -> None:
        """Synchronous :meth:`aclose` (outside a running event loop)."""
        run_sync(self.aclose())

    def estimate_cost(self, model: QuantumModel, train_loader: Any, val_loader: Any = None,
                      epochs: int | None = None) -> CostEstimate:
        """Circuits, shots, gate counts, dollars, gate time and expected wall time that
        training ``epochs`` more epochs (default: the configured total) would submit to the
        model's backend: the gradient method's plans are counted (``len(plan)``), nothing runs.
        With adaptive circuit depth every epoch is counted at full depth (an upper bound)."""
        run_sync(self._engine_for(model))
        self._grow(model)
        return estimate_training_cost(self, model, train_loader, val_loader, epochs)

    def _scheduled_learning_rate(self, count: int) -> float:
        return scheduled_learning_rate(self.config, count, self._planned_steps)

    def learning_rate_at(self, step: int) -> float:
        """The optimiser's step size at update ``step`` (0-based), as configured."""
        lr = self._learning_rate
        return float(lr(step) if callable(lr) else lr)

    def _check_model(self, model: QuantumModel) -> None:
        cfg = self.config
        if "n_qubits" in cfg.explicitly_set and cfg.n_qubits != model.n_qubits:
            raise ConfigError(f"config.n_qubits={cfg.n_qubits} but the model has "
                              f"{model.n_qubits} qubits; build the model with "
                              "QuantumModel.from_config(config, ...) or set n_qubits to match")

    def _grow(self, model: QuantumModel) -> None:
        """Adaptive depth: the model at full depth, its not-yet-trained blocks at identity."""
        if self.adaptive_depth is not None and self.adaptive_depth.prepare(model):
            self.opt_state = None  # the weight vector grew: the optimiser starts afresh

    def _check_data(self, model: QuantumModel, loader: Any, where: str) -> None:
        """Check all of ``loader`` now where it can be read twice (before any step runs)."""
        check_data(loader, model.input_dim, model.task, model.output_dim, where)

    # -- public API ------------------------------------------------------------------------------
    async def train(self, model: QuantumModel, train_loader: Any, val_loader: Any = None,
                    epochs: int | None = None, *, resume_from: str | Path | None = None
                    ) -> dict[str, list[Any]]:
        """Train; ``epochs`` more epochs, or by default up to ``config.epochs`` in total (so a
        run resumed from a checkpoint finishes the original schedule). With
        ``enable_dashboard`` the call is a run on the live dashboard (started at the first
        call, served until :meth:`close`)."""
        live = self._open_dashboard()
        try:
            history = await self._train_loop(model, train_loader, val_loader, epochs,
                                             resume_from=resume_from)
        except BaseException as exc:
            if live is not None:
                live.end_run(self, exc)
            raise
        if live is not None:
            live.end_run(self)
        return history

    def _open_dashboard(self) -> Any:
        """The live dashboard the config asks for, with a new run open (None when off)."""
        self._apply_config()
        if not self.config.enable_dashboard and self.dashboard is None:
            return None
        from q_store.dashboard.server import sync_trainer_dashboard

        return sync_trainer_dashboard(self)

    async def _train_loop(self, model: QuantumModel, train_loader: Any, val_loader: Any,
                          epochs: int | None, *, resume_from: str | Path | None
                          ) -> dict[str, list[Any]]:
        if not isinstance(model, QuantumModel):
            raise ValidationError(f"expected a QuantumModel, got {type(model).__name__}")
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool)
                                   or epochs < 1):
            raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
        self._check_model(model)
        self._check_data(model, train_loader, "training data")
        if val_loader is not None:
            self._check_data(model, val_loader, "validation data")
        self._grow(model)
        if resume_from is not None:
            self.restore(resume_from, model)
        self._last_fit = (model, train_loader, val_loader)  # optimize_hyperparameters' default
        target = self.epoch + epochs if epochs is not None else self.config.epochs
        await self._engine_for(model)
        if self.opt_state is None:
            self.opt_state = self.optimizer.init(model.weights)
        per_epoch = count_batches(self._loader(train_loader))
        self._planned_steps = max(1, self.config.epochs * per_epoch) if per_epoch else 1
        start = time.perf_counter()
        while self.epoch < target:
            t0 = time.perf_counter()
            if self.adaptive_depth is not None:
                self.adaptive_depth.at_epoch_start(model, self.epoch,
                                                   max(target, self.config.epochs))
            try:
                if self._stop_requested:
                    raise _StopRequested
                loss, acc = await self.train_epoch(model, train_loader)
            except BudgetExceededError as exc:
                self._stop_for_budget(model, exc)
                break
            except _StopRequested:
                self._stop_on_request(model)
                break
            except JobTimeoutError as exc:
                path = self._save_for_resume(model)
                ledger = getattr(self.backend, "ledger", None)
                again = ("If the job still runs on the backend, the resumed run re-attaches "
                         f"to it through the job ledger {ledger.path} instead of paying again."
                         if ledger is not None else
                         "The job may still run on the backend: cancel it, or set "
                         "checkpoint_dir so that IonQ jobs are recorded in a ledger there and "
                         "a resumed run re-attaches to them.")
                raise JobTimeoutError(
                    f"{exc}. The training state up to step {self.step} is saved in {path}: "
                    f"resume with trainer.fit(model, data, resume_from={str(path)!r}) (or "
                    f"`q-store train --resume RUN`). {again}") from exc
            self.epoch += 1
            self.history["losses"].append(loss)
            self.history["accuracy"].append(acc)
            monitored = loss
            if val_loader is not None:
                try:
                    vloss, vacc = await self.evaluate(model, val_loader)
                except BudgetExceededError as exc:
                    self._stop_for_budget(model, exc)
                    break
                self.history["val_losses"].append(vloss)
                self.history["val_accuracy"].append(vacc)
                monitored = vloss
            self.history["epoch_times"].append(time.perf_counter() - t0)
            self.history["gradient_methods"].append(dict(self._method_counts))
            self.history.setdefault("learning_rates", []).append(self.learning_rate_at(
                max(0, self.step - 1)))
            self._method_counts = {}
            assert self.method is not None
            self.method_state = self.method.observe(self.method_state, loss)
            log.info("epoch %d: loss %.6f%s", self.epoch, loss,
                     "" if val_loader is None else f", val_loss {monitored:.6f}")
            if self.performance_tracker is not None:
                self.performance_tracker.emit(
                    "epoch", epoch=self.epoch, loss=loss, accuracy=acc,
                    val_loss=monitored if val_loader is not None else None,
                    val_accuracy=self.history["val_accuracy"][-1] if val_loader is not None
                    else None, seconds=time.perf_counter() - t0)
            stop = self._early_stopping(model, monitored)
            if self.config.enable_performance_tracking:
                self._stats["total_time"] += time.perf_counter() - t0
            self._save_periodic(model)
            if stop:
                log.info("early stopping after epoch %d", self.epoch)
                break
        log.debug("trained in %.3f s", time.perf_counter() - start)
        return self.history

    async def optimize_hyperparameters(self, search_space: dict[str, Any], n_trials: int = 20,
                                       **options: Any) -> TrainingConfig:
        """The best :class:`TrainingConfig` of an Optuna search over ``search_space`` (the
        spec's dict of lists, or ranges): see :mod:`q_store.ml.tuning` for options, storage,
        resuming and parallel trials on Dask."""
        from q_store.ml.tuning import optimize_hyperparameters

        return await optimize_hyperparameters(self, search_space, n_trials, **options)

    def _stop_for_budget(self, model: QuantumModel, exc: BudgetExceededError) -> None:
        """Stop before the budget is passed: keep the weights so far, checkpoint them."""
        self.stop_reason = f"budget: {exc}"
        log.warning("training stopped in epoch %d: %s", self.epoch + 1, exc)
        if self.config.checkpoint_dir is not None:
            self.save_checkpoint(Path(self.config.checkpoint_dir) / "latest.npz", model=model)

    def request_stop(self) -> None:
        """Stop training cleanly after the current step (safe from a signal handler): the
        epoch's progress so far is kept, ``stop_reason`` becomes ``"interrupted"`` and, with a
        ``checkpoint_dir``, ``latest.npz`` is written, from which a resumed run continues
        exactly where this one stopped."""
        self._stop_requested = True

    def _stop_on_request(self, model: QuantumModel) -> None:
        self._stop_requested = False
        self.stop_reason = "interrupted"
        log.warning("training stopped on request in epoch %d after step %d", self.epoch + 1,
                    self.step)
        if self.config.checkpoint_dir is not None:
            self.save_checkpoint(Path(self.config.checkpoint_dir) / "latest.npz", model=model)

    def print_performance_report(self, file: Any = None) -> None:
        """The run's statistics (the spec's and the telemetry stream's) as readable tables."""
        from q_store.execution.report import print_trainer_report

        print_trainer_report(self, file)

    def _save_for_resume(self, model: QuantumModel) -> Path:
        """``latest.npz`` in the checkpoint directory (``qstore-checkpoints`` when none is
        configured), including where in the epoch training stopped."""
        directory = Path(self.config.checkpoint_dir or "qstore-checkpoints")
        return self.save_checkpoint(directory / "latest.npz", model=model)

    def fit(self, model: QuantumModel, train_loader: Any, val_loader: Any = None,
            epochs: int | None = None, **kw: Any) -> dict[str, list[Any]]:
        """Synchronous :meth:`train`."""
        return asyncio.run(self.train(model, train_loader, val_loader, epochs, **kw))

    async def train_epoch(self, model: QuantumModel, loader: Any) -> tuple[float, float | None]:
        """One pass over ``loader``: mean loss (and accuracy for classification)."""
        engine = await self._engine_for(model)
        if self.opt_state is None:
            self.opt_state = self.optimizer.init(model.weights)
        # an epoch resumed part-way skips the batches it already trained on (the loader's
        # order depends on the seed and epoch only) and continues its running sums
        part = self._partial or {"batches": 0, "total": 0.0, "count": 0, "correct": 0,
                                 "methods": {}}
        self._partial = None
        done, total, count, correct = part["batches"], part["total"], part["count"], \
            part["correct"]
        if done:
            self._method_counts = dict(part["methods"])
        seen = 0
        async for xb, yb in batches(self._loader(loader), self.epoch, "training data"):
            seen += 1
            if seen <= done:
                continue
            t0 = time.perf_counter()
            x, y = _checked(model, xb, yb, "training batch")
            try:
                loss, out = await self._train_step(engine, model, x, y)
            except (BudgetExceededError, JobTimeoutError):
                self._partial = {"batches": seen - 1, "total": total, "count": count,
                                 "correct": correct, "methods": dict(self._method_counts)}
                raise
            n = len(x)
            total += loss * n
            count += n
            if model.task == "classification":
                correct += int((np.argmax(out, axis=1) == y).sum())
            if self.config.enable_performance_tracking:
                self._stats["batches"] += 1
                self._stats["batch_time"] += time.perf_counter() - t0
            if self._stop_requested:
                self._partial = {"batches": seen, "total": total, "count": count,
                                 "correct": correct, "methods": dict(self._method_counts)}
                raise _StopRequested
        if count == 0:
            raise ValidationError("the training loader produced no batches")
        return total / count, (correct / count if model.task == "classification" else None)

    async def evaluate(self, model: QuantumModel, loader: Any) -> tuple[float, float | None]:
        """Mean loss (and accuracy) on ``loader`` without training."""
        engine = await self._engine_for(model)
        total, count, correct = 0.0, 0, 0
        loss_fn = self._loss(model)
        async for xb, yb in batches(self._loader(loader, shuffle=False), None,
                                     "validation data"):
            x, y = _checked(model, xb, yb, "validation batch")
            out = await self._predict(engine, model, x)
            loss, _ = loss_fn(out, y)
            total += loss * len(x)
            count += len(x)
            if model.task == "classification":
                correct += int(np.sum(np.argmax(out, axis=1) == y))
        if count == 0:
            raise ValidationError("the validation loader produced no batches")
        return total / count, (correct / count if model.task == "classification" else None)

    def _loader(self, loader: Any, shuffle: bool | None = None) -> Any:
        """An ``(X, y)`` pair becomes a DataLoader with the configured batch size, shuffling
        and seed."""
        if is_xy_pair(loader):
            cfg = self.config
            return DataLoader(loader[0], loader[1], batch_size=cfg.batch_size,
                              shuffle=cfg.shuffle if shuffle is None else shuffle,
                              seed=cfg.seed)
        return loader

    def get_performance_stats(self) -> dict[str, float]:
        """The spec's statistics: average circuits per batch, template-cache hit rate, total
        and average batch time."""
        if not self.config.enable_performance_tracking:
            raise ConfigError("performance tracking is off (enable_performance_tracking=False)")
        s = self._stats
        batches = max(1, s["batches"])
        out = {"avg_circuits": s["circuits"] / batches,
               "cache_hit_rate": self.cache.get_stats()["hit_rate"],
               "total_time": s["total_time"], "avg_batch_time": s["batch_time"] / batches,
               "total_circuits": float(s["circuits"]), "batches": float(s["batches"]),
               "cost_usd": self.budget.spent_usd}
        if self.executor is not None:
            out.update({"backend_jobs": float(self.executor.stats["jobs"]),
                        "backend_circuits": float(self.executor.stats["circuits"])})
        return out

    def get_backend_stats(self) -> dict[str, dict[str, Any]]:
        """Per backend: circuits, jobs, failures, throughput and USD (the multi-backend
        orchestrator's statistics; one row for a single backend)."""
        sub = None if self.executor is None else self.executor.pipeline.submitter
        if hasattr(sub, "get_backend_stats"):
            return sub.get_backend_stats()
        name = "local_simulator" if self.executor is None else self.executor.backend.name
        stats = {} if self.executor is None else self.executor.stats
        return {name: {"backend": name, "circuits": stats.get("circuits", 0),
                       "jobs": stats.get("jobs", 0), "failures": 0, "throughput": None,
                       "usd": stats.get("usd", 0.0), "suspended": False}}

    def print_backend_stats(self) -> None:
        """:meth:`get_backend_stats` as a table (the spec's check that every backend is used)."""
        from q_store.execution.placement import print_backend_table

        print_backend_table(self.get_backend_stats())

    @property
    def circuit_cache(self) -> Any:
        """The engine's smart cache (``enable_smart_caching``), else the template cache."""
        cache = None if self.engine is None else self.engine.circuit_cache
        return self.cache if cache is None else cache

    def clear_caches(self) -> None:
        self.circuit_cache.clear()
        self.cache.clear()

    def loss_and_gradient(self, model: QuantumModel, x: object, y: object,
                          method: str | None = None) -> tuple[float, np.ndarray]:
        """The batch loss and its gradient with respect to the weights (no update, the
        method's state unchanged), by the configured gradient method or ``method``."""
        xs, ys = _checked(model, x, y, "loss_and_gradient")

        async def run() -> tuple[float, np.ndarray]:
            engine = await self._engine_for(model)
            grad_method, state = self.method, self.method_state
            if method is not None and method != self.config.gradient_method:
                grad_method = gradient_method_from_config(
                    self.config.replace(gradient_method=method), self.simulator,
                    self._spsa_key(), exact=engine.exact)
                state = grad_method.init()
            assert grad_method is not None
            loss, _, grad, _, _ = await self._loss_and_grad(engine, grad_method, state, model,
                                                            xs, ys)
            return loss, grad

        return run_sync(run())

    # -- one step --------------------------------------------------------------------------------
    def _loss(self, model: QuantumModel) -> Any:
        if self.loss_fn is not None:
            return self.loss_fn
        return get_loss("mse" if model.task == "regression" else "cross_entropy")

    async def _predict(self, engine: ExecutionEngine, model: QuantumModel, x: np.ndarray
                       ) -> np.ndarray:
        inputs, states = model.encode(x)
        request = values_request(model.circuit, model.observables, model.weights, inputs,
                                 states)
        if self.config.enable_performance_tracking:
            self._stats["circuits"] += request.rows
        (raw,) = await engine.run((request,))
        return model.postprocess(np.atleast_2d(raw))

    async def _train_step(self, engine: ExecutionEngine, model: QuantumModel, x: np.ndarray,
                          y: np.ndarray) -> tuple[float, np.ndarray]:
        assert self.method is not None
        if self.config.enable_batch_execution:
            parts = [(x, y)]
        else:  # one circuit evaluation per sample
            parts = [(x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
        losses, outs, grads, raws = [], [], [], []
        t0, runs, names, shots = time.perf_counter(), 0, set(), engine.plan_shots
        for xs, ys in parts:
            loss, out, grad, plan, res = await self._loss_and_grad(
                engine, self.method, self.method_state, model, xs, ys)
            self.method_state = plan.next_state(res)
            name = plan.notes.get("method", self.method.name)
            self._method_counts[name] = self._method_counts.get(name, 0) + 1
            names.add(name)
            runs += len(plan)
            losses.append(loss)
            outs.append(out)
            grads.append(grad)
            raws.append(res)
        grad = grads[0] if len(grads) == 1 else np.mean(grads, axis=0)
        mask = model.trainable_mask
        if engine.shot_allocator is not None:  # the step's gradient noise picks the next shots
            raw = np.mean([r.weights.sum(axis=0) for r in raws], axis=0)
            var = sum(r.shot_variance.sum(axis=0) for r in raws) / len(raws) ** 2
            engine.shot_allocator.observe(raw[mask], var[mask], shots, step=self.step + 1)
        grad = np.where(mask, grad, 0.0)
        weights = model.weights
        updates, self.opt_state = self.optimizer.update(grad, self.opt_state, weights)
        updates = np.where(mask, updates, 0.0)
        model.weights = apply_updates(weights, updates)
        self.step += 1
        if len(parts) == 1:
            loss, out = losses[0], outs[0]
        else:
            loss, out = float(np.mean(losses)), np.concatenate(outs)
        if self.performance_tracker is not None:
            self._stats["circuits"] += runs
            self.performance_tracker.emit(
                "step", epoch=self.epoch + 1, step=self.step, loss=loss,
                accuracy=(np.count_nonzero(np.argmax(out, axis=1) == y) / len(y)
                          if model.task == "classification" else None),
                method="+".join(sorted(names)), circuits=runs, shots=runs * (shots or 0),
                learning_rate=self.learning_rate_at(self.step - 1),
                seconds=time.perf_counter() - t0)
        return loss, out

    async def _loss_and_grad(self, engine: ExecutionEngine, method: GradientMethod,
                             state: Any, model: QuantumModel, x: np.ndarray, y: np.ndarray
                             ) -> tuple[float, np.ndarray, np.ndarray, Any, Any]:
        """Loss, outputs, loss gradient (preconditioned where the method says), the plan and
        the method's result."""
        inputs, states = model.encode(x)
        loss_fn = self._loss(model)
        seen: list[tuple[np.ndarray, np.ndarray, float]] = []  # this call's (raw, out, loss)

        def cotangent(raw: np.ndarray) -> np.ndarray:  # d loss / d <O_k>, by the chain rule
            out = model.postprocess(raw)
            loss, d_out = loss_fn(out, y)
            seen.append((raw, out, loss))
            return model.postprocess_vjp(raw, d_out)

        plan = method.plan(model.training_circuit, model.observables, model.weights, inputs,
                           initial_state=states, state=state, cotangent=cotangent)
        res = await engine.execute(plan)
        if seen and seen[-1][0] is res.values:  # the loss of these values is known already
            _, out, loss = seen[-1]
        else:
            out = model.postprocess(res.values)
            loss, _ = loss_fn(out, y)
        grad = res.weights.sum(axis=0)
        if res.precondition is not None:
            grad = res.precondition(grad)
        return float(loss), out, grad, plan, res

    def _early_stopping(self, model: QuantumModel, monitored: float) -> bool:
        patience = self.config.early_stopping_patience
        if patience is None:
            return False
        best = self._early["best"]
        if best is None or monitored < best - self.config.early_stopping_min_delta:
            self._early["best"], self._early["stall"] = monitored, 0
            self._best_weights = model.weights.copy()
            return False
        self._early["stall"] += 1
        if self._early["stall"] >= patience:
            if self._best_weights is not None:
                model.weights = self._best_weights
            return True
        return False

    def _save_periodic(self, model: QuantumModel) -> None:
        checkpoint_state.save_periodic(self, model)

    # -- checkpoints (q_store.ml.checkpoint_state) -----------------------------------------------
    def save_checkpoint(self, checkpoint: Any, path: str | Path | None = None, *,
                        model: QuantumModel | None = None) -> Path:
        """Save the training state: ``save_checkpoint(path, model=model)``; or the spec's
        ``save_checkpoint(dict, path)`` for a dict of arrays and plain values (anything else
        is refused, naming its key and type)."""
        return checkpoint_state.save(self, checkpoint, path, model=model)

    def load_checkpoint(self, path: str | Path) -> dict[str, Any]:
        """Read a checkpoint: the spec's dicts come back as saved; a training-state checkpoint
        comes back as ``{"model_state", "epoch", ...}`` (see :meth:`restore` to resume). A
        damaged or foreign file raises CheckpointError."""
        return checkpoint_state.load(self, path)

    def restore(self, path: str | Path, model: QuantumModel) -> None:
        """Load model weights and the complete trainer state to resume training exactly. The
        file is checked completely first: a bad checkpoint raises CheckpointError and changes
        nothing."""
        checkpoint_state.restore(self, path, model)


class _StopRequested(Exception):
    """Raised inside an epoch after the step that saw :meth:`QuantumTrainer.request_stop`."""


def _checked(model: QuantumModel, xb: Any, yb: Any, where: str
             ) -> tuple[np.ndarray, np.ndarray]:
    x = check_features(xb, model.input_dim, f"{where} X")
    return x, check_targets(yb, model.task, model.output_dim, len(x), f"{where} y")
