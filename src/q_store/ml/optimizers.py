"""Optax-style optimizers: pure ``(init, update)`` pairs composed with :func:`chain`.

Params and gradients are 1-D float arrays. ``update(grads, state, params=None)`` returns the
updates to add to the params (already negated and scaled) and the new state; nothing is
mutated. States are small NamedTuples (a chain's state is a tuple of them) and flatten to a
dict of arrays with :func:`state_to_arrays` for pickle-free ``.npz`` checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np

from q_store.errors import ConfigError, ValidationError

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "ScaleByAdamState",
    "ScaleByScheduleState",
    "Schedule",
    "TraceState",
    "adam",
    "apply_updates",
    "chain",
    "clip",
    "clip_by_global_norm",
    "optimizer_from_config",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "sgd",
    "state_from_arrays",
    "state_to_arrays",
    "trace",
]

OptState = Any  # a NamedTuple state, or a tuple of states for a chain
Schedule = Callable[[int], float]


class InitFn(Protocol):
    def __call__(self, params: np.ndarray) -> OptState: ...


class UpdateFn(Protocol):
    def __call__(self, updates: np.ndarray, state: OptState,
                 params: np.ndarray | None = None) -> tuple[np.ndarray, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pure optimizer stage: ``init(params) -> state``, ``update(g, state, params)``."""

    init: InitFn
    update: UpdateFn


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


class ScaleByAdamState(NamedTuple):
    count: int
    mu: np.ndarray
    nu: np.ndarray


class ScaleByScheduleState(NamedTuple):
    count: int


class TraceState(NamedTuple):
    trace: np.ndarray


# ---------------------------------------------------------------- hyperparameter checks

def _real(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a real number; got {value!r}")
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a real number; got {value!r}") from exc
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite; got {value!r}")
    return out


def _positive(value: object, name: str) -> float:
    out = _real(value, name)
    if out <= 0.0:
        raise ConfigError(f"{name} must be a positive finite number; got {value!r}")
    return out


def _unit(value: object, name: str) -> float:
    out = _real(value, name)
    if not 0.0 <= out < 1.0:
        raise ConfigError(f"{name} must lie in [0, 1); got {value!r}")
    return out


def _zeros(params: np.ndarray) -> np.ndarray:
    return np.zeros(np.shape(params), dtype=np.float64)


def _no_state(params: np.ndarray) -> EmptyState:
    return EmptyState()


# ---------------------------------------------------------------- transformations

def scale(step: float) -> GradientTransformation:
    """Multiply updates by a constant ``step`` (any finite sign)."""
    step = _real(step, "step")

    def update(updates: np.ndarray, state: OptState,
               params: np.ndarray | None = None) -> tuple[np.ndarray, OptState]:
        return step * np.asarray(updates, dtype=np.float64), state

    return GradientTransformation(_no_state, update)


def scale_by_schedule(step_fn: Schedule) -> GradientTransformation:
    """Multiply updates by ``step_fn(count)``, with ``count`` starting at 0."""

    def init(params: np.ndarray) -> ScaleByScheduleState:
        return ScaleByScheduleState(count=0)

    def update(updates: np.ndarray, state: ScaleByScheduleState,
               params: np.ndarray | None = None) -> tuple[np.ndarray, ScaleByScheduleState]:
        step = step_fn(state.count)
        return step * np.asarray(updates, dtype=np.float64), ScaleByScheduleState(state.count + 1)

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """Scale by ``-learning_rate``; a callable is a schedule ``count -> lr`` (count from 0)."""
    if callable(learning_rate):
        schedule = learning_rate

        def neg_lr(count: int) -> float:
            lr = schedule(count)
            try:
                lr = float(lr)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"learning-rate schedule must return a real number; got "
                                  f"{lr!r} at step {count}") from exc
            if not (math.isfinite(lr) and lr >= 0.0):
                raise ConfigError(f"learning-rate schedule must return a finite number >= 0; "
                                  f"got {lr!r} at step {count}")
            return -lr

        return scale_by_schedule(neg_lr)
    return scale(-_positive(learning_rate, "learning_rate"))


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's bias-corrected ``mu_hat / (sqrt(nu_hat) + eps)`` (Kingma & Ba, 2015)."""
    b1, b2 = _unit(b1, "b1"), _unit(b2, "b2")
    eps = _positive(eps, "eps")

    def init(params: np.ndarray) -> ScaleByAdamState:
        return ScaleByAdamState(count=0, mu=_zeros(params), nu=_zeros(params))

    def update(updates: np.ndarray, state: ScaleByAdamState,
               params: np.ndarray | None = None) -> tuple[np.ndarray, ScaleByAdamState]:
        g = np.asarray(updates, dtype=np.float64)
        mu = b1 * state.mu + (1.0 - b1) * g
        nu = b2 * state.nu + (1.0 - b2) * (g * g)
        count = state.count + 1
        mu_hat = mu / (1.0 - b1**count)
        nu_hat = nu / (1.0 - b2**count)
        return mu_hat / (np.sqrt(nu_hat) + eps), ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: ``t = g + decay * t``; emits ``t`` (or ``g + decay * t`` for Nesterov)."""
    decay = _unit(decay, "decay (momentum)")

    def init(params: np.ndarray) -> TraceState:
        return TraceState(trace=_zeros(params))

    def update(updates: np.ndarray, state: TraceState,
               params: np.ndarray | None = None) -> tuple[np.ndarray, TraceState]:
        g = np.asarray(updates, dtype=np.float64)
        t = g + decay * state.trace
        return (g + decay * t if nesterov else t), TraceState(t)

    return GradientTransformation(init, update)


def clip(max_abs: float) -> GradientTransformation:
    """Clip every update element to ``[-max_abs, max_abs]``."""
    max_abs = _positive(max_abs, "clip value (max_abs)")

    def update(updates: np.ndarray, state: OptState,
               params: np.ndarray | None = None) -> tuple[np.ndarray, OptState]:
        return np.clip(np.asarray(updates, dtype=np.float64), -max_abs, max_abs), state

    return GradientTransformation(_no_state, update)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale updates by ``max_norm / norm`` when their Euclidean norm exceeds ``max_norm``."""
    max_norm = _positive(max_norm, "clip norm (max_norm)")

    def update(updates: np.ndarray, state: OptState,
               params: np.ndarray | None = None) -> tuple[np.ndarray, OptState]:
        g = np.asarray(updates, dtype=np.float64)
        norm = float(np.sqrt(np.sum(g * g)))
        return (g * (max_norm / norm) if norm > max_norm else g), state

    return GradientTransformation(_no_state, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` in order; the state is the tuple of their states."""

    def init(params: np.ndarray) -> tuple[OptState, ...]:
        return tuple(t.init(params) for t in transforms)

    def update(updates: np.ndarray, state: tuple[OptState, ...],
               params: np.ndarray | None = None) -> tuple[np.ndarray, tuple[OptState, ...]]:
        if len(state) != len(transforms):
            raise ValidationError(f"chain of {len(transforms)} transforms got a state of "
                                  f"{len(state)} entries")
        new_states = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


# ---------------------------------------------------------------- optimizers

def adam(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> GradientTransformation:
    """Adam: ``chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))``."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def sgd(learning_rate: float | Schedule, momentum: float = 0.0,
        nesterov: bool = False) -> GradientTransformation:
    """Gradient descent, with heavy-ball or Nesterov momentum when ``momentum > 0``."""
    return chain(*_sgd_stages(learning_rate, momentum, nesterov))


def _sgd_stages(learning_rate: float | Schedule, momentum: float,
                nesterov: bool) -> list[GradientTransformation]:
    momentum = _unit(momentum, "momentum")
    stages = [trace(momentum, nesterov)] if momentum > 0.0 else []
    return [*stages, scale_by_learning_rate(learning_rate)]


OPTIMIZERS = ("adam", "sgd")


def optimizer_from_config(name: str, learning_rate: float | Schedule,
                          clip_value: float | None = None, clip_norm: float | None = None,
                          momentum: float = 0.0) -> GradientTransformation:
    """Build ``'adam'`` or ``'sgd'`` as one flat chain, clipping (value, then norm) first."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    stages: list[GradientTransformation] = []
    if clip_value is not None:
        stages.append(clip(clip_value))
    if clip_norm is not None:
        stages.append(clip_by_global_norm(clip_norm))
    if key == "adam":
        if _real(momentum, "momentum") != 0.0:
            raise ConfigError(f"momentum applies only to 'sgd'; got momentum={momentum!r} "
                              "with 'adam' (use b1)")
        stages += [scale_by_adam(), scale_by_learning_rate(learning_rate)]
    else:
        stages += _sgd_stages(learning_rate, momentum, nesterov=False)
    return chain(*stages)


def apply_updates(params: np.ndarray, updates: np.ndarray) -> np.ndarray:
    """Return ``params + updates`` as a new array; shapes must match, updates be finite."""
    p = np.asarray(params, dtype=np.float64)
    u = np.asarray(updates, dtype=np.float64)
    if p.shape != u.shape:
        raise ValidationError(f"updates must have the params' shape {p.shape}; got {u.shape}")
    if not np.isfinite(u).all():
        raise ValidationError("updates must be finite; found NaN or infinity "
                              "(check the loss gradients and the learning rate)")
    return p + u


# ---------------------------------------------------------------- checkpointing

def _is_namedtuple(x: object) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _children(state: OptState) -> list[tuple[str, OptState]]:
    if _is_namedtuple(state):
        return list(zip(state._fields, state, strict=True))
    return [(str(i), s) for i, s in enumerate(state)]


def state_to_arrays(state: OptState) -> dict[str, np.ndarray]:
    """Flatten an optimizer state to ``{"0.mu": array, "0.count": array(0), ...}``."""
    out: dict[str, np.ndarray] = {}

    def walk(node: OptState, path: str) -> None:
        if isinstance(node, tuple | list):
            for key, child in _children(node):
                walk(child, f"{path}.{key}" if path else key)
        else:
            out[path or "state"] = np.array(node, copy=True)

    walk(state, "")
    return out


def state_from_arrays(template_state: OptState, arrays: dict[str, np.ndarray]) -> OptState:
    """Rebuild a state shaped like ``template_state`` (e.g. ``opt.init(params)``) from arrays."""
    used: set[str] = set()

    def build(node: OptState, path: str) -> OptState:
        if isinstance(node, tuple | list):
            kids = [build(child, f"{path}.{key}" if path else key)
                    for key, child in _children(node)]
            if _is_namedtuple(node):
                return type(node)(*kids)
            return type(node)(kids)
        key = path or "state"
        if key not in arrays:
            raise ValidationError(f"optimizer state is missing entry {key!r}; "
                                  f"have {sorted(arrays)}")
        used.add(key)
        arr = np.asarray(arrays[key])
        if arr.shape != np.shape(node):
            raise ValidationError(f"optimizer state entry {key!r} has shape {arr.shape}; "
                                  f"expected {np.shape(node)}")
        if isinstance(node, bool | int | float):
            return type(node)(arr.item())
        return np.array(arr, dtype=np.asarray(node).dtype, copy=True)

    state = build(template_state, "")
    extra = sorted(set(arrays) - used)
    if extra:
        raise ValidationError(f"optimizer state has unexpected entries {extra}; the template "
                              "does not match the saved optimizer")
    return state
