"""``TrainingConfig``: every option the spec's documents (v3.2 to v3.5) name, validated.

Each option either changes what runs or, where the feature belongs to a later release of this
package, is accepted at its default and raises :class:`~q_store.errors.NotSupportedError` when
set to anything else, so no option is ever silently ignored. API keys (``quantum_api_key``,
used to reach IonQ; ``pinecone_api_key``, accepted for the spec and unused; ``api_key`` in
``backend_configs`` entries) are kept on the object in memory only: never shown in the repr,
left out of :meth:`TrainingConfig.to_dict` (used for checkpoints and run records; entry keys
show as ``'***'``) and never logged.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

from q_store.errors import ConfigError, NotSupportedError

__all__ = ["GRADIENT_METHODS", "SECRET_FIELDS", "V34_FEATURES", "V35_FEATURES",
           "TrainingConfig"]

GRADIENT_METHODS = ("auto", "adjoint", "parameter_shift", "finite_difference", "spsa",
                    "natural_gradient", "adaptive")
_GRADIENT_ALIASES = {"natural": "natural_gradient", "param_shift": "parameter_shift",
                     "finite_diff": "finite_difference"}
SECRET_FIELDS = ("pinecone_api_key", "quantum_api_key")
_SDKS = ("mock", "cirq", "qiskit", "ionq", "mock_noisy", "mock_noisy_trajectories")
# what enable_all_v34_features / enable_all_v35_features switch on (multi-backend needs your
# backend_configs, the dashboard opens a port and natural gradient is a gradient_method: those
# stay your choice)
V34_FEATURES = ("use_native_gates", "enable_smart_caching", "adaptive_batch_sizing")
V35_FEATURES = (*V34_FEATURES, "enable_circuit_optimization", "adaptive_shot_allocation",
                "adaptive_circuit_depth")
_BUNDLE_FIELDS = tuple(dict.fromkeys(V35_FEATURES))


def _secret() -> Any:
    return field(default=None, repr=False)


@dataclass(init=False)
class TrainingConfig:
    """Training options. Construct with keyword arguments only."""

    # backend
    quantum_sdk: str = "mock"
    quantum_target: str = "simulator"
    quantum_api_key: str | None = _secret()
    # accepted for spec compatibility and unused: kept on this object only, never in its repr,
    # to_dict(), checkpoints, run records or logs
    pinecone_api_key: str | None = _secret()
    shots: int | None = None  # None: exact expectation values where the backend allows
    ionq_noise_model: str = "ideal"  # IonQ cloud simulator noise: ideal | aria-1 | forte-1
    ionq_base_url: str | None = None  # None: https://api.ionq.co; or a local IonQ emulator
    max_cost_usd: float | None = None  # budget: training stops before it would be exceeded
    # model
    n_qubits: int = 4
    circuit_depth: int = 2
    hardware_efficient_ansatz: bool = True
    entanglement: str = "circular"
    # training
    learning_rate: float = 0.01
    learning_rate_schedule: str = "constant"  # constant | exponential | cosine
    learning_rate_final_fraction: float = 0.05  # final lr / initial lr for decaying schedules
    epochs: int = 10
    batch_size: int = 10
    optimizer: str = "adam"
    momentum: float = 0.0
    loss: str | None = None  # None: mse for regression, cross_entropy for classification
    gradient_clip_value: float | None = None
    gradient_clip_norm: float | None = None
    gradient_method: str = "auto"  # adjoint on the exact simulator, else parameter shift
    spsa_c_initial: float = 0.1
    spsa_a_initial: float = 0.01
    spsa_samples: int = 1
    natural_gradient_regularization: float = 0.01
    natural_gradient_metric: str = "auto"  # auto | exact | block_diagonal | spsa
    qfim_cache_size: int = 100  # metrics kept for reuse by the natural gradient (0: none)
    qfim_reuse_steps: int = 1  # 1: reuse at identical weights only; N: reuse for N steps
    adaptive_switch_patience: int = 3
    adaptive_refine_every: int = 5
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    shuffle: bool = True
    seed: int | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1
    checkpoint_keep_last: int | None = 3  # epoch_NNNN.npz files kept; None: all (latest: always)
    # execution
    enable_circuit_cache: bool = True
    cache_size: int = 1000
    enable_batch_execution: bool = True
    enable_performance_tracking: bool = True
    performance_log_dir: str | None = None
    log_level: str = "INFO"
    debug_mode: bool = False
    simulator_device: str = "cpu"  # cpu | gpu: the exact local simulator on a CUDA GPU (CuPy)
    # hardware execution
    batch_timeout: float = 60.0  # seconds a job may take beyond its expected duration
    use_batch_api: bool = True  # deprecated (v3.5); False: one job per circuit, one at a time
    use_native_gates: bool = False  # compile to IonQ GPI/GPI2/MS (ZZ on Forte) before sending
    connection_pool_size: int = 5  # HTTP connections to IonQ
    max_queue_wait_time: float = 120.0  # seconds an IonQ job may take, queue included
    retry_failed_circuits: bool = False  # resubmit a job that failed on the backend (twice)
    # scale-out (q_store.execution.dask_engine): circuits, shards and tuning trials as Dask tasks
    executor: str = "local"  # local | dask
    dask_scheduler: str | None = None  # "tcp://host:8786"; None: a LocalCluster on this machine
    dask_workers: int | None = None  # LocalCluster processes (None: CPUs); with an address: wait
    dask_chunk_rows: int | None = None  # circuit runs per task; None: split evenly over workers
    dask_connect_timeout: float = 10.0  # seconds to reach the scheduler (and its workers)
    dask_retries: int = 2  # re-runs of a task that raised (a dead worker's tasks always re-run)
    # the execution engine's features (q_store.execution)
    enable_all_v34_features: bool = False  # switches on V34_FEATURES (explicit settings win)
    enable_all_v35_features: bool = False  # switches on V35_FEATURES (explicit settings win)
    enable_smart_caching: bool = False
    adaptive_batch_sizing: bool = False
    use_concurrent_submission: bool = False  # one job per circuit, all in flight at once
    enable_multi_backend: bool = False  # spread circuits over backend_configs' backends
    backend_configs: list[dict[str, Any]] | None = field(default=None, repr=False)
    allow_mixed_exactness: bool = False  # let one gradient mix exact and sampled backends
    adaptive_circuit_depth: bool = False
    circuit_depth_schedule: str = "exponential"
    min_circuit_depth: int = 2
    max_circuit_depth: int = 4
    enable_circuit_optimization: bool = False  # rewrite circuits sent to a backend
    gate_merging: bool = True  # passes enable_circuit_optimization runs (q_store.compile)
    identity_removal: bool = True
    entanglement_pruning: bool = True  # exact: cancelling pairs, light cone, final diagonals
    pruning_tolerance: float | None = None  # radians: also drop entanglers this near identity
    adaptive_shot_allocation: bool = False
    min_shots: int = 500
    max_shots: int = 2000
    base_shots: int = 1000
    enable_dashboard: bool = False  # q_store.dashboard: the run's live web page, on 127.0.0.1
    dashboard_port: int = 8080  # 0: any free port (trainer.dashboard.url)

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            _check_field(key)
        for f in dataclasses.fields(self):
            if f.name in kwargs:
                value = kwargs[f.name]
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                value = f.default_factory()  # type: ignore[misc]
            else:
                value = f.default
            object.__setattr__(self, f.name, value)
        object.__setattr__(self, "_explicit", frozenset(kwargs))
        object.__setattr__(self, "_bundled", frozenset())
        self._apply_feature_sets()
        self.validate()
        if "use_batch_api" in kwargs:
            _warn_use_batch_api()

    def __setattr__(self, name: str, value: Any) -> None:
        _check_field(name)
        saved = {n: getattr(self, n) for n in (name, *_BUNDLE_FIELDS)}
        explicit, bundled = self._explicit, self._bundled
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_explicit", explicit | {name})
        try:
            self._apply_feature_sets()
            self.validate()
        except Exception:
            for n, v in saved.items():
                object.__setattr__(self, n, v)
            object.__setattr__(self, "_explicit", explicit)
            object.__setattr__(self, "_bundled", bundled)
            raise
        if name == "use_batch_api":
            _warn_use_batch_api()

    def _apply_feature_sets(self) -> None:
        """``enable_all_v34_features`` / ``enable_all_v35_features`` switch on their documented
        options (:data:`V34_FEATURES`, :data:`V35_FEATURES`), except those set explicitly;
        switching a set off restores what it had switched on."""
        wanted: set[str] = set()
        if self.enable_all_v34_features:
            wanted |= set(V34_FEATURES)
        if self.enable_all_v35_features:
            wanted |= set(V35_FEATURES)
        wanted -= self._explicit
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name in self._bundled - wanted:
            object.__setattr__(self, name, defaults[name])
        for name in wanted:
            object.__setattr__(self, name, True)
        object.__setattr__(self, "_bundled", frozenset(wanted))

    @property
    def switched_on_by_feature_sets(self) -> frozenset[str]:
        """Options that ``enable_all_v34_features`` / ``enable_all_v35_features`` turned on."""
        return self._bundled

    @property
    def explicitly_set(self) -> frozenset[str]:
        """Names of the options given to the constructor or assigned since."""
        return self._explicit

    @property
    def spsa_step_size(self) -> float:
        """SPSA's initial step size ``a``: ``spsa_a_initial`` if set, else ``learning_rate``."""
        return self.spsa_a_initial if "spsa_a_initial" in self._explicit else self.learning_rate

    def inapplicable(self) -> list[str]:
        """Why each explicitly set option cannot take effect with the others (empty when all
        apply). The trainer warns with these messages, so no option is silently ignored."""
        method = self.gradient_method
        rules: list[tuple[tuple[str, ...], bool, str]] = [
            (("learning_rate",), method == "spsa" and "spsa_a_initial" in self._explicit,
             "spsa_a_initial sets the step size of gradient_method='spsa'"),
            (("learning_rate_schedule", "learning_rate_final_fraction"), method == "spsa",
             "gradient_method='spsa' decays its step size by Spall's gain "
             "a_k = a / (k + 1)^0.602"),
            (("learning_rate_final_fraction",), self.learning_rate_schedule == "constant",
             "it shapes the 'exponential' and 'cosine' learning_rate_schedule only"),
            (("spsa_a_initial",), method != "spsa",
             "it is SPSA's step size, used with gradient_method='spsa' only (the 'adaptive' "
             "method steps with learning_rate)"),
            (("spsa_c_initial", "spsa_samples"), method not in ("spsa", "adaptive"),
             "it applies to gradient_method 'spsa' and 'adaptive' only"),
            (("natural_gradient_regularization", "natural_gradient_metric", "qfim_cache_size",
              "qfim_reuse_steps"), method not in ("natural_gradient", "adaptive"),
             "it applies to gradient_method 'natural_gradient' and 'adaptive' only"),
            (("adaptive_shot_allocation",), self.adaptive_shot_allocation and self.shots is None,
             "shots=None runs exact expectation values; set shots (e.g. shots=base_shots) to "
             "sample, then the allocator chooses the shots of each step"),
            (("min_shots", "max_shots", "base_shots"), not self.adaptive_shot_allocation,
             "it applies with adaptive_shot_allocation=True only"),
            (("adaptive_switch_patience", "adaptive_refine_every"), method != "adaptive",
             "it applies to gradient_method='adaptive' only"),
            (("early_stopping_min_delta",), self.early_stopping_patience is None,
             "early stopping is off (early_stopping_patience=None)"),
            (("checkpoint_every", "checkpoint_keep_last"), self.checkpoint_dir is None,
             "no checkpoint_dir is set"),
            (("use_batch_api",), self.use_concurrent_submission,
             "use_concurrent_submission=True submits one job per circuit"),
            (("backend_configs", "allow_mixed_exactness"), not self.enable_multi_backend,
             "they configure enable_multi_backend=True, which is off"),
            (("quantum_sdk", "quantum_target"), self.enable_multi_backend,
             "with enable_multi_backend=True circuits run on the backend_configs backends"),
            (("adaptive_batch_sizing",), self.adaptive_batch_sizing and not self.use_batch_api,
             "it sizes multi-circuit jobs; with use_batch_api=False every circuit is its own "
             "job"),
            (("circuit_depth_schedule", "min_circuit_depth", "max_circuit_depth"),
             not self.adaptive_circuit_depth, "adaptive_circuit_depth is off"),
            (("circuit_depth",), self.adaptive_circuit_depth,
             "with adaptive_circuit_depth=True, QuantumModel.from_config starts at "
             "min_circuit_depth and training grows the model to max_circuit_depth"),
            (("gate_merging", "identity_removal", "entanglement_pruning", "pruning_tolerance"),
             not self.enable_circuit_optimization, "enable_circuit_optimization is off"),
            (("enable_circuit_optimization",), not (
                self.gate_merging or self.identity_removal or self.entanglement_pruning),
             "gate_merging, identity_removal and entanglement_pruning are all False"),
            (("dashboard_port",), not self.enable_dashboard, "enable_dashboard is off"),
            (("dask_scheduler", "dask_workers", "dask_chunk_rows", "dask_connect_timeout",
              "dask_retries"), self.executor != "dask", "it applies to executor='dask' only"),
            (("simulator_device",), self.quantum_sdk != "mock",
             f"circuits run on the {self.quantum_sdk!r} backend, not on the local simulator"),
        ]
        out = []
        for names, inapplicable, why in rules:
            for name in names:
                if inapplicable and name in self._explicit:
                    out.append(f"TrainingConfig.{name}={getattr(self, name)!r} has no effect: "
                               f"{why}")
        return out

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field; raise ConfigError / NotSupportedError naming what is allowed."""
        _choice("quantum_sdk", self.quantum_sdk, _SDKS)
        _choice("quantum_target", self.quantum_target, ("simulator", "qpu"), prefix_ok=True)
        if self.quantum_target != "simulator" and self.quantum_sdk != "ionq":
            raise ConfigError(f"quantum_target={self.quantum_target!r} needs quantum_sdk='ionq'; "
                              f"{self.quantum_sdk!r} runs on a simulator only")
        if (self.quantum_sdk == "mock_noisy_trajectories" and self.shots is None
                and not self.enable_multi_backend):
            raise ConfigError("quantum_sdk='mock_noisy_trajectories' samples (one trajectory "
                              "per shot) and cannot give exact expectation values: set shots "
                              "(e.g. shots=1000), or use quantum_sdk='mock_noisy' (density "
                              "matrices, exact, up to 12 qubits)")
        _choice("ionq_noise_model", self.ionq_noise_model, ("ideal", "aria-1", "forte-1"))
        if self.ionq_noise_model != "ideal" and self.quantum_target != "simulator":
            raise ConfigError("ionq_noise_model applies to IonQ's simulator only; a QPU target "
                              "has its own noise")
        if self.ionq_base_url is not None and not (
                isinstance(self.ionq_base_url, str)
                and self.ionq_base_url.startswith(("http://", "https://"))):
            raise ConfigError(f"ionq_base_url must be an http(s) URL, got {self.ionq_base_url!r}")
        if self.max_cost_usd is not None:
            _real("max_cost_usd", self.max_cost_usd, 0.0)
        _positive("batch_timeout", self.batch_timeout)
        _positive("max_queue_wait_time", self.max_queue_wait_time)
        _int("connection_pool_size", self.connection_pool_size, 1, 100)
        for name in (*SECRET_FIELDS, "checkpoint_dir", "performance_log_dir"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"{name} must be a string or None")
        _int("n_qubits", self.n_qubits, 1, 30)
        _int("circuit_depth", self.circuit_depth, 1)
        _choice("entanglement", self.entanglement, ("linear", "circular", "full"))
        _positive("learning_rate", self.learning_rate)
        _choice("learning_rate_schedule", self.learning_rate_schedule,
                ("constant", "exponential", "cosine"))
        _real("learning_rate_final_fraction", self.learning_rate_final_fraction, 0.0, 1.0)
        _int("epochs", self.epochs, 1)
        _int("batch_size", self.batch_size, 1)
        _choice("optimizer", self.optimizer, ("adam", "sgd"))
        _real("momentum", self.momentum, 0.0, 1.0, upper_open=True)
        if self.loss is not None:
            _choice("loss", self.loss, ("mse", "cross_entropy"))
        for name in ("gradient_clip_value", "gradient_clip_norm"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        method = _GRADIENT_ALIASES.get(self.gradient_method, self.gradient_method)
        _choice("gradient_method", method, GRADIENT_METHODS)
        object.__setattr__(self, "gradient_method", method)
        _positive("spsa_c_initial", self.spsa_c_initial)
        _positive("spsa_a_initial", self.spsa_a_initial)
        _int("spsa_samples", self.spsa_samples, 1)
        _real("natural_gradient_regularization", self.natural_gradient_regularization, 0.0)
        _choice("natural_gradient_metric", self.natural_gradient_metric,
                ("auto", "exact", "block_diagonal", "spsa"))
        _int("qfim_cache_size", self.qfim_cache_size, 0)
        _int("qfim_reuse_steps", self.qfim_reuse_steps, 1)
        for name in ("min_shots", "max_shots", "base_shots"):
            _int(name, getattr(self, name), 1)
        if not self.min_shots <= self.base_shots <= self.max_shots:
            raise ConfigError(f"need min_shots <= base_shots <= max_shots, got "
                              f"{self.min_shots}, {self.base_shots}, {self.max_shots}")
        _int("adaptive_switch_patience", self.adaptive_switch_patience, 1)
        _int("adaptive_refine_every", self.adaptive_refine_every, 1)
        if self.early_stopping_patience is not None:
            _int("early_stopping_patience", self.early_stopping_patience, 1)
        _real("early_stopping_min_delta", self.early_stopping_min_delta, 0.0)
        if self.seed is not None:
            _int("seed", self.seed, 0)
        if self.shots is not None:
            _int("shots", self.shots, 1)
        _int("checkpoint_every", self.checkpoint_every, 1)
        if self.checkpoint_keep_last is not None:
            _int("checkpoint_keep_last", self.checkpoint_keep_last, 0)
        _int("cache_size", self.cache_size, 1)
        _choice("log_level", str(self.log_level).upper(),
                ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
        for name in ("hardware_efficient_ansatz", "shuffle", "enable_circuit_cache",
                     "enable_batch_execution", "enable_performance_tracking", "debug_mode",
                     "use_batch_api", "use_native_gates", "retry_failed_circuits",
                     "enable_smart_caching", "adaptive_batch_sizing",
                     "adaptive_shot_allocation", "enable_all_v34_features",
                     "enable_all_v35_features", "use_concurrent_submission",
                     "enable_multi_backend", "allow_mixed_exactness"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        from q_store.backends.configs import check_backend_configs

        check_backend_configs(self.backend_configs)
        self._check_depth_and_optimization()
        self._check_dashboard()
        self._check_not_yet_supported()
        self._check_dask()
        self._check_device()

    def _check_depth_and_optimization(self) -> None:
        """Adaptive circuit depth and circuit optimisation (q_store.ml.depth, q_store.compile)."""
        for name in ("adaptive_circuit_depth", "enable_circuit_optimization", "gate_merging",
                     "identity_removal", "entanglement_pruning"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _choice("circuit_depth_schedule", self.circuit_depth_schedule,
                ("linear", "exponential", "step"))
        _int("min_circuit_depth", self.min_circuit_depth, 1)
        _int("max_circuit_depth", self.max_circuit_depth, 1)
        if self.max_circuit_depth < self.min_circuit_depth:
            raise ConfigError(f"max_circuit_depth={self.max_circuit_depth} is below "
                              f"min_circuit_depth={self.min_circuit_depth}; the depth grows "
                              "from min_circuit_depth to max_circuit_depth")
        if self.pruning_tolerance is not None:
            _real("pruning_tolerance", self.pruning_tolerance, 0.0, math.pi)
            if self.pruning_tolerance == 0 or not self.entanglement_pruning:
                raise ConfigError("pruning_tolerance must be a positive angle (radians) and "
                                  "needs entanglement_pruning=True; None keeps pruning exact")

    def _check_dashboard(self) -> None:
        """The live dashboard (q_store.dashboard): served on 127.0.0.1 at dashboard_port."""
        if not isinstance(self.enable_dashboard, bool):
            raise ConfigError(f"enable_dashboard must be True or False, got "
                              f"{self.enable_dashboard!r}")
        _int("dashboard_port", self.dashboard_port, 0, 65535)  # 0: any free port
        if self.enable_dashboard and not self.enable_performance_tracking:
            raise ConfigError("enable_dashboard=True needs enable_performance_tracking=True: "
                              "the dashboard shows the performance tracker's events")

    def _check_not_yet_supported(self) -> None:
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        later: tuple[str, ...] = ()  # options of features still to come (none now)
        for name in later:
            if getattr(self, name) != defaults[name]:
                raise NotSupportedError(
                    f"TrainingConfig.{name} is not yet supported by this release (it arrives with "
                    f"the execution engine); leave it at its default "
                    f"{defaults[name]!r}")
        if self.shots is not None and (self.gradient_method == "adjoint" or (
                self.gradient_method == "natural_gradient"
                and self.natural_gradient_metric == "exact")):
            what = ("gradient_method='adjoint'" if self.gradient_method == "adjoint"
                    else "natural_gradient_metric='exact'")
            raise ConfigError(
                f"{what} needs exact expectation values; with shots choose gradient_method "
                "'parameter_shift', 'finite_difference', 'spsa', 'adaptive' or "
                "'natural_gradient' (metric 'auto', 'block_diagonal' or 'spsa')")

    def _check_device(self) -> None:
        """``simulator_device``: where the exact local simulator runs (q_store.sim.gpu)."""
        _choice("simulator_device", self.simulator_device, ("cpu", "gpu"))
        if self.simulator_device == "gpu" and self.executor == "dask":
            raise ConfigError("simulator_device='gpu' runs the local simulator in this process; "
                              "executor='dask' runs circuits on the Dask workers' CPU "
                              "simulators: choose one of them")

    def _check_dask(self) -> None:
        _choice("executor", self.executor, ("local", "dask"))
        if self.dask_scheduler is not None and not (
                isinstance(self.dask_scheduler, str) and "://" in self.dask_scheduler):
            raise ConfigError("dask_scheduler must be an address such as 'tcp://host:8786', or "
                              f"None for a LocalCluster, got {self.dask_scheduler!r}")
        for name in ("dask_workers", "dask_chunk_rows"):
            if getattr(self, name) is not None:
                _int(name, getattr(self, name), 1)
        _positive("dask_connect_timeout", self.dask_connect_timeout)
        _int("dask_retries", self.dask_retries, 0, 100)

    # -- views ---------------------------------------------------------------------------------
    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """Plain dict of the options; API keys are left out unless asked for."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not include_secrets:
            for name in SECRET_FIELDS:
                out.pop(name)
            from q_store.backends.configs import redact_backend_configs

            out["backend_configs"] = redact_backend_configs(out["backend_configs"])
        return out

    def replace(self, **changes: Any) -> TrainingConfig:
        """A copy with ``changes``; options set explicitly here stay explicit there."""
        kept = {name: getattr(self, name) for name in self._explicit}
        return TrainingConfig(**{**kept, **changes})


def _warn_use_batch_api() -> None:
    warnings.warn("TrainingConfig.use_batch_api is deprecated (v3.5): the circuits of a step go "
                  "in multi-circuit jobs by default; use_concurrent_submission=True submits one "
                  "job per circuit, all at once, instead", DeprecationWarning, stacklevel=3)


def _check_field(name: str) -> None:
    names = sorted(f.name for f in dataclasses.fields(TrainingConfig))
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown TrainingConfig field {name!r}{hint}")


def _choice(name: str, value: object, allowed: tuple[str, ...], prefix_ok: bool = False) -> None:
    ok = value in allowed or (prefix_ok and isinstance(value, str)
                              and any(value.startswith(a) for a in allowed))
    if not ok:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}")


def _int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < lo or (
            hi is not None and value > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{name} must be an integer {rng}, got {value!r}")


def _real(name: str, value: object, lo: float, hi: float | None = None,
          upper_open: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(
        float(value)) and value >= lo and (hi is None or (value < hi if upper_open else
                                                          value <= hi))
    if not ok:
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}{')' if upper_open else ']'}"
        raise ConfigError(f"{name} must be a finite number {rng}, got {value!r}")


def _positive(name: str, value: object) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(
        float(value)) and value > 0
    if not ok:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
