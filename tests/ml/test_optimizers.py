"""Optimizers: known optima of a parabola and Rosenbrock, a reference Adam, exact clipping,
state round trips and hyperparameter validation."""

from __future__ import annotations

import io

import numpy as np
import pytest

from q_store.errors import ConfigError, ValidationError
from q_store.ml.optimizers import (
    EmptyState,
    GradientTransformation,
    ScaleByAdamState,
    ScaleByScheduleState,
    TraceState,
    adam,
    apply_updates,
    chain,
    clip,
    clip_by_global_norm,
    optimizer_from_config,
    scale,
    scale_by_adam,
    scale_by_learning_rate,
    sgd,
    state_from_arrays,
    state_to_arrays,
    trace,
)

# parabola f(x) = 0.5 * sum(a * (x - c)^2): minimum at c
CURVATURE = np.array([1.0, 3.0, 10.0])
OPTIMUM = np.array([0.5, -2.0, 1.5])
START = np.array([3.0, 3.0, -3.0])
PARABOLA_STEPS = 1000
PARABOLA_TOL = 1e-8  # observed <= 6e-11 (sgd_schedule), <= 2e-15 for the rest


def parabola_grad(x: np.ndarray) -> np.ndarray:
    return CURVATURE * (x - OPTIMUM)


def rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def minimise(opt: GradientTransformation, grad_fn, x0: np.ndarray, steps: int) -> np.ndarray:
    x = np.array(x0, dtype=float)
    state = opt.init(x)
    for _ in range(steps):
        updates, state = opt.update(grad_fn(x), state, x)
        x = apply_updates(x, updates)
    return x


OPTIMIZERS = {
    "sgd": lambda: sgd(0.05),
    "sgd_momentum": lambda: sgd(0.05, momentum=0.9),
    "sgd_nesterov": lambda: sgd(0.05, momentum=0.9, nesterov=True),
    "sgd_schedule": lambda: sgd(lambda k: 0.1 / (1 + k / 100)),
    "adam": lambda: adam(0.05),
    "adam_schedule": lambda: adam(lambda k: 0.1 * 0.998**k),
    "clip_then_scale": lambda: chain(clip(0.5), scale(-0.05)),
    "global_norm_then_lr": lambda: chain(clip_by_global_norm(1.0), scale_by_learning_rate(0.05)),
    "config_adam": lambda: optimizer_from_config("adam", 0.05, clip_value=1.0, clip_norm=2.0),
    "config_sgd": lambda: optimizer_from_config("sgd", 0.05, clip_norm=1.0, momentum=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_minimises_a_parabola(name):
    x = minimise(OPTIMIZERS[name](), parabola_grad, START, PARABOLA_STEPS)
    np.testing.assert_allclose(x, OPTIMUM, atol=PARABOLA_TOL)


# Rosenbrock from (-1.2, 1), 5000 steps: observed max error 6e-12 (Adam), 7e-10 (momentum)
ROSENBROCK_STEPS = 5000
ROSENBROCK_TOL = 1e-6


@pytest.mark.parametrize("opt", [
    adam(0.02),
    sgd(1e-3, momentum=0.9),
    sgd(1e-3, momentum=0.9, nesterov=True),
], ids=["adam", "momentum", "nesterov"])
def test_rosenbrock_minimum(opt):
    x = minimise(opt, rosenbrock_grad, np.array([-1.2, 1.0]), ROSENBROCK_STEPS)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=ROSENBROCK_TOL)


def test_adam_matches_hand_written_reference():
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-6
    opt = adam(lr, b1, b2, eps)
    rng = np.random.default_rng(3)
    x = rng.normal(size=4)
    ref_x, m, v = x.copy(), np.zeros(4), np.zeros(4)
    state = opt.init(x)
    for t in range(1, 6):
        g = np.sin(3 * x) + x**2  # gradient of an arbitrary smooth function
        updates, state = opt.update(g, state, x)
        x = apply_updates(x, updates)
        rg = np.sin(3 * ref_x) + ref_x**2
        m = b1 * m + (1 - b1) * rg
        v = b2 * v + (1 - b2) * rg**2
        ref_x = ref_x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(x, ref_x, rtol=0, atol=1e-12)
    assert state[0].count == 5


def test_momentum_trace_by_hand():
    opt = trace(0.5)
    s = opt.init(np.zeros(2))
    u, s = opt.update(np.array([1.0, 2.0]), s)
    np.testing.assert_array_equal(u, [1.0, 2.0])
    u, s = opt.update(np.array([1.0, 0.0]), s)
    np.testing.assert_array_equal(u, [1.5, 1.0])  # g + 0.5 * previous trace
    nest = trace(0.5, nesterov=True)
    u, _ = nest.update(np.array([1.0, 0.0]), TraceState(np.array([1.0, 2.0])))
    np.testing.assert_array_equal(u, [1.75, 0.5])  # g + 0.5 * (g + 0.5 * t)


def test_learning_rate_schedule_sees_counts_from_zero():
    seen: list[int] = []
    opt = scale_by_learning_rate(lambda k: seen.append(k) or 0.5 * (k + 1))
    s = opt.init(np.zeros(1))
    for expected in ([-0.5], [-1.0], [-1.5]):
        u, s = opt.update(np.ones(1), s)
        np.testing.assert_array_equal(u, expected)
    assert seen == [0, 1, 2]
    assert s == ScaleByScheduleState(3)


def test_bad_schedule_value_is_a_config_error():
    opt = scale_by_learning_rate(lambda k: float("nan"))
    with pytest.raises(ConfigError, match="finite number >= 0"):
        opt.update(np.ones(1), opt.init(np.zeros(1)))


# ---------------------------------------------------------------- clipping and chain order

def test_clip_by_value_is_exact():
    u, s = clip(1.0).update(np.array([-3.0, 0.5, 2.0, -1.0]), EmptyState())
    np.testing.assert_array_equal(u, [-1.0, 0.5, 1.0, -1.0])
    assert s == EmptyState()


def test_clip_by_global_norm_is_exact():
    opt = clip_by_global_norm(2.5)
    u, _ = opt.update(np.array([3.0, -4.0]), EmptyState())  # norm 5 -> scaled by 0.5
    np.testing.assert_array_equal(u, [1.5, -2.0])
    small = np.array([0.3, -0.4])  # norm 0.5 <= 2.5: untouched
    u, _ = opt.update(small, EmptyState())
    np.testing.assert_array_equal(u, small)


def test_chain_order_matters():
    g = np.array([3.0, -0.2])
    clip_then_scale, _ = chain(clip(1.0), scale(2.0)).update(g, (EmptyState(), EmptyState()))
    scale_then_clip, _ = chain(scale(2.0), clip(1.0)).update(g, (EmptyState(), EmptyState()))
    np.testing.assert_array_equal(clip_then_scale, [2.0, -0.4])
    np.testing.assert_array_equal(scale_then_clip, [1.0, -0.4])


def test_optimizer_from_config_clips_before_the_optimizer():
    opt = optimizer_from_config("sgd", 0.1, clip_value=1.0, clip_norm=1.0)
    u, _ = opt.update(np.array([5.0, 0.0]), opt.init(np.zeros(2)))
    np.testing.assert_array_equal(u, [-0.1, 0.0])  # 5 -> 1 (value) -> 1 (norm) -> -0.1
    adam_opt = optimizer_from_config("ADAM", 0.1, clip_value=1.0)
    assert [type(s) for s in adam_opt.init(np.zeros(2))] == [
        EmptyState, ScaleByAdamState, EmptyState]


# ---------------------------------------------------------------- state checkpointing

def _npz_round_trip(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("make", [
    lambda: optimizer_from_config("adam", 0.05, clip_value=1.0, clip_norm=2.0),
    lambda: sgd(lambda k: 0.05 / (1 + k), momentum=0.9, nesterov=True),
    lambda: chain(chain(scale_by_adam(), trace(0.3)), scale(-0.1)),
], ids=["config_adam", "sgd_schedule_momentum", "nested_chain"])
def test_state_round_trip_is_exact_and_training_continues_identically(make):
    opt = make()
    x = START.copy()
    state = opt.init(x)
    for _ in range(7):
        u, state = opt.update(parabola_grad(x), state, x)
        x = apply_updates(x, u)
    arrays = state_to_arrays(state)
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    restored = state_from_arrays(make().init(START), _npz_round_trip(arrays))
    assert type(restored) is type(state)
    for key, value in state_to_arrays(restored).items():
        np.testing.assert_array_equal(value, arrays[key])
    xa, xb, sa, sb = x.copy(), x.copy(), state, restored
    for _ in range(5):
        ua, sa = opt.update(parabola_grad(xa), sa, xa)
        ub, sb = make().update(parabola_grad(xb), sb, xb)
        xa, xb = apply_updates(xa, ua), apply_updates(xb, ub)
    np.testing.assert_array_equal(xa, xb)


def test_state_keys_are_stable_paths():
    opt = optimizer_from_config("adam", 0.1, clip_value=1.0)
    arrays = state_to_arrays(opt.init(np.zeros(3)))
    assert sorted(arrays) == ["1.count", "1.mu", "1.nu"]
    assert arrays["1.count"].shape == ()
    restored = state_from_arrays(opt.init(np.zeros(3)), arrays)
    assert isinstance(restored[1].count, int)
    nested = state_to_arrays(chain(chain(trace(0.1)), scale_by_learning_rate(lambda k: 1.0))
                             .init(np.zeros(2)))
    assert sorted(nested) == ["0.0.trace", "1.count"]


def test_state_from_arrays_rejects_mismatches():
    opt = adam(0.1)
    template = opt.init(np.zeros(3))
    arrays = state_to_arrays(template)
    with pytest.raises(ValidationError, match=r"missing entry '0\.nu'"):
        state_from_arrays(template, {k: v for k, v in arrays.items() if k != "0.nu"})
    with pytest.raises(ValidationError, match=r"'0\.mu' has shape \(4,\); expected \(3,\)"):
        state_from_arrays(template, {**arrays, "0.mu": np.zeros(4)})
    with pytest.raises(ValidationError, match="unexpected entries"):
        state_from_arrays(template, {**arrays, "2.trace": np.zeros(3)})


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize(("make", "match"), [
    (lambda: adam(0.0), "learning_rate must be a positive"),
    (lambda: adam(-1e-3), "learning_rate must be a positive"),
    (lambda: sgd(float("inf")), "learning_rate must be finite"),
    (lambda: sgd("fast"), "learning_rate must be a real number"),
    (lambda: adam(0.1, b1=1.0), r"b1 must lie in \[0, 1\)"),
    (lambda: adam(0.1, b2=-0.1), r"b2 must lie in \[0, 1\)"),
    (lambda: adam(0.1, eps=0.0), "eps must be a positive"),
    (lambda: sgd(0.1, momentum=1.5), r"momentum must lie in \[0, 1\)"),
    (lambda: clip(0.0), "clip value"),
    (lambda: clip_by_global_norm(-1.0), "clip norm"),
    (lambda: scale(float("nan")), "step must be finite"),
    (lambda: optimizer_from_config("rmsprop", 0.1), "unknown optimizer 'rmsprop'.*adam, sgd"),
    (lambda: optimizer_from_config("adam", 0.1, momentum=0.9), "momentum applies only"),
])
def test_bad_hyperparameters_raise_config_error(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_apply_updates_checks_shape_and_finiteness():
    np.testing.assert_array_equal(apply_updates(np.ones(2), np.array([0.5, -1.0])), [1.5, 0.0])
    with pytest.raises(ValidationError, match="params' shape"):
        apply_updates(np.ones(2), np.ones(3))
    with pytest.raises(ValidationError, match="finite"):
        apply_updates(np.ones(2), np.array([np.nan, 0.0]))


def test_update_is_pure():
    opt = adam(0.1)
    state = opt.init(np.zeros(2))
    g = np.array([1.0, -2.0])
    opt.update(g, state)
    assert state.__class__ is tuple and state[0].count == 0
    np.testing.assert_array_equal(state[0].mu, [0.0, 0.0])
    np.testing.assert_array_equal(g, [1.0, -2.0])
