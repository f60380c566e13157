"""Adaptive shot allocation: the shot-noise model against repeated sampling, the gCANS rule, the
engine running every plan with the allocated shots, and the trainer reporting each step."""

from __future__ import annotations

import asyncio
import math
import warnings

import numpy as np
import pytest

from q_store.backends import BackendManager
from q_store.circuit import Circuit, PauliString, Projector, X, Z, theta, x
from q_store.errors import ConfigError, ConfigWarning, ValidationError
from q_store.execution.engine import ExecutionEngine
from q_store.execution.factory import engine_from_config
from q_store.execution.local import answer_all
from q_store.execution.shots import (
    AdaptiveShotAllocator,
    gradient_shot_variance,
    single_shot_variance,
)
from q_store.execution.tracker import PerformanceTracker
from q_store.gradients import ParameterShiftGradient, SPSAGradient
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator

CIRCUIT = (Circuit(2).rx(0, x[0]).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1])
           .rx(0, theta[2]))
OBS = (Z(0), Z(1))
W = np.array([0.4, -0.9, 0.7])
XIN = np.array([[0.3], [-1.2]])
COT = np.array([[0.8, -0.5], [0.3, 1.1]])


def test_single_shot_variance_of_each_observable():
    v = np.array([[0.6, 0.25, 0.1]])
    obs = (PauliString(((0, "Z"),), 2.0), Projector("1", (0,)), Z(0) + X(1))
    got = single_shot_variance(obs, v, shots=5)
    expected = np.array([[4.0 - 0.36, 0.25 * 0.75, 2.0 - 0.01 / 2]]) * 5 / 4
    np.testing.assert_allclose(got, expected)
    assert single_shot_variance((Z(0),), np.array([[1.2]]), 10)[0, 0] == 0.0  # clipped


@pytest.mark.parametrize("method", [ParameterShiftGradient(), SPSAGradient(seed=4)])
def test_propagated_shot_noise_matches_repeated_sampling(method):
    """The variance of a sampled gradient over 600 independent repetitions agrees with the
    noise the allocator propagates through the plan (no repetitions): within 30 % per
    component (4 standard errors of a variance from 600 samples), 15 % in total."""
    shots, reps = 200, 600
    sim = StatevectorSimulator()
    plan = method.plan(CIRCUIT, OBS, W, XIN, cotangent=lambda v: COT)
    exact_answers = answer_all(plan.requests, sim)
    exact = plan.finish(exact_answers)
    predicted = gradient_shot_variance(plan, exact_answers, exact, shots,
                                       np.random.default_rng(0), probes=4000)
    rng = np.random.default_rng(1)
    runs = np.array([plan.finish(answer_all(plan.requests, sim, shots=shots, rng=rng)).weights
                     for _ in range(reps)])
    measured = runs.var(axis=0, ddof=1)
    assert predicted.shape == exact.weights.shape
    np.testing.assert_allclose(measured, predicted, rtol=0.30)
    assert abs(measured.sum() / predicted.sum() - 1) < 0.15
    np.testing.assert_allclose(runs.mean(axis=0), exact.weights,
                               atol=5 * np.sqrt(predicted.max() / reps))


def test_gcans_rule_picks_shots_from_noise_and_signal():
    a = AdaptiveShotAllocator(1, 10_000, 50, smoothing=0.0)
    assert a.shots == 50
    g = np.array([0.3, 0.4])  # |g|^2 = 0.25
    # variance 0.001 at 1000 shots: one-shot noise tr(Sigma_1) = 1, so s = 1 / 0.25 = 4
    assert a.observe(g, np.array([0.0004, 0.0006]), 1000) == 4
    tight = AdaptiveShotAllocator(1, 10_000, 50, smoothing=0.0, noise_ratio=0.01)
    assert tight.observe(g, 0.001, 1000) == 400
    bounded = AdaptiveShotAllocator(500, 2000, 1000, smoothing=0.0)
    assert bounded.observe(g, 0.001, 1000) == 500
    assert bounded.observe(np.zeros(2), 0.001, 500) == 2000  # no signal: as many as allowed
    assert [h["next_shots"] for h in bounded.history] == [500, 2000]


def test_moving_averages_are_bias_corrected():
    a = AdaptiveShotAllocator(1, 10**9, 10, smoothing=0.5)
    g1, g2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    a.observe(g1, 0.01, 100)  # first step: the averages are the observations
    assert a.shots == math.ceil(1.0 / 1.0)
    a.observe(g2, 0.03, 100)
    chi = (0.25 * g1 + 0.5 * g2) / 0.75
    xi = (0.25 * 1.0 + 0.5 * 3.0) / 0.75
    assert a.shots == math.ceil(xi / (chi @ chi))


def test_bounds_and_gcans_constant_are_validated():
    for bad in ({"min_shots": 1200}, {"max_shots": 900}, {"base_shots": 0},
                {"noise_ratio": 0.0}, {"smoothing": 1.0}):
        with pytest.raises(ValidationError):
            AdaptiveShotAllocator(**{"min_shots": 500, "max_shots": 2000, "base_shots": 1000,
                                     **bad})
    a = AdaptiveShotAllocator.from_lipschitz(1.0, 0.1)
    assert a.noise_ratio == pytest.approx((2 - 0.1) / 0.2)
    with pytest.raises(ValidationError):
        AdaptiveShotAllocator.from_lipschitz(10.0, 0.5)


class Fixed:
    """An allocator that always answers ``shots`` (to see the engine use it)."""

    def __init__(self, shots: int) -> None:
        self.shots = shots

    def variance(self, plan, answers, result, shots):  # type: ignore[no-untyped-def]
        return np.full_like(result.weights, float(shots))


def test_local_engine_runs_plans_with_the_allocated_shots():
    tracker = PerformanceTracker()
    engine = ExecutionEngine(StatevectorSimulator(), shots=1000, shot_allocator=Fixed(2),
                             rng=np.random.default_rng(0), tracker=tracker)
    plan = ParameterShiftGradient().plan(CIRCUIT, OBS, W, XIN, cotangent=lambda v: COT)
    res = asyncio.run(engine.execute(plan))
    # two shots per circuit: every estimate of <Z> is -1, 0 or 1
    assert set(np.unique(res.values)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(res.shot_variance, 2.0)
    assert tracker.events("circuits")[-1]["shots"] == 2
    values = asyncio.run(engine.run(plan.requests[:1]))[0]  # plain runs keep `shots`
    assert len(np.unique(values)) > 3
    assert tracker.events("circuits")[-1]["shots"] == 1000
    assert ExecutionEngine(StatevectorSimulator(), shot_allocator=Fixed(2)).plan_shots is None


def test_backend_engine_submits_the_allocated_shots():
    cfg = TrainingConfig(gradient_method="parameter_shift", shots=1000,
                         adaptive_shot_allocation=True, min_shots=100, base_shots=300)
    tracker = PerformanceTracker()
    backend = BackendManager(cfg).get_backend("mock_noisy")
    engine = engine_from_config(cfg, simulator=StatevectorSimulator(), backend=backend,
                                rng=np.random.default_rng(0), budget=None, tracker=tracker)
    assert engine.shot_allocator is not None and engine.plan_shots == 300
    # gCANS's constant from the step size (learning_rate 0.01) with L = 1
    assert engine.shot_allocator.noise_ratio == pytest.approx((2 - 0.01) / 0.02)
    plan = ParameterShiftGradient().plan(CIRCUIT, OBS, W, XIN, cotangent=lambda v: COT)
    res = asyncio.run(engine.execute(plan))
    assert {e["shots"] for e in tracker.events("job")} == {300}
    assert res.shot_variance.shape == res.weights.shape and np.all(res.shot_variance > 0)


def _teacher_problem(offset: float):
    """Regression onto the model's own outputs at its initial weights (loss 0 there), started
    ``offset`` away from them."""
    rng = np.random.default_rng(7)
    xs = rng.uniform(-1, 1, size=(12, 2))
    model = QuantumModel(2, 1, 1, seed=3)
    y = model.predict(xs)
    model.weights = model.weights + offset
    return model, xs, y


@pytest.mark.parametrize("offset,expect", [(0.0, "max"), (1.0, "min")])
def test_trainer_allocates_from_the_step_gradient(offset, expect):
    """Far from the optimum the gradient dwarfs the shot noise: few shots. At the optimum
    the gradient is only noise: as many shots as allowed. Every step is reported."""
    model, xs, y = _teacher_problem(offset)
    cfg = TrainingConfig(gradient_method="parameter_shift", shots=1000, epochs=6,
                         batch_size=12, learning_rate=0.5, optimizer="sgd", seed=2,
                         adaptive_shot_allocation=True, min_shots=50, base_shots=400,
                         max_shots=4000)
    trainer = QuantumTrainer(cfg)
    trainer.fit(model, (xs, y))
    steps = trainer.performance_tracker.events("step")
    shots = trainer.performance_tracker.events("shots")
    allocator = trainer.engine.shot_allocator
    assert len(shots) == len(steps) == 6 == len(allocator.history)
    assert steps[0]["shots"] == steps[0]["circuits"] * 400  # base_shots first
    for before, after, event in zip(shots, shots[1:], steps[1:], strict=False):
        assert after["shots"] == before["next_shots"]  # the engine ran what was chosen
        assert event["shots"] == event["circuits"] * after["shots"]
    assert all(50 <= s["next_shots"] <= 4000 for s in shots)
    assert shots[-1]["next_shots"] == (4000 if expect == "max" else 50)


def test_config_options_are_validated_and_explained():
    with pytest.raises(ConfigError, match="min_shots <= base_shots"):
        TrainingConfig(adaptive_shot_allocation=True, min_shots=800, base_shots=700)
    with pytest.raises(ConfigError, match="True or False"):
        TrainingConfig(adaptive_shot_allocation="yes")
    on = TrainingConfig(adaptive_shot_allocation=True, min_shots=10, base_shots=20,
                        max_shots=30)
    assert any("shots=None runs exact" in m for m in on.inapplicable())
    off = TrainingConfig(min_shots=10)
    assert any("adaptive_shot_allocation=True only" in m for m in off.inapplicable())
    sampled = TrainingConfig(adaptive_shot_allocation=True, shots=100,
                             gradient_method="spsa")
    assert sampled.inapplicable() == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = QuantumTrainer(on)
    assert any(issubclass(w.category, ConfigWarning) for w in caught)
    model = QuantumModel(2, 1, 1, seed=0)
    trainer.fit(model, (np.zeros((4, 2)), np.zeros(4)), epochs=1)
    assert trainer.engine.shot_allocator is None  # exact run: nothing to allocate


def test_a_model_that_grows_restarts_the_gradient_average_not_the_shots():
    """Adaptive depth appends weights mid-run: the allocator's running gradient average
    starts again for the longer gradient (it used to fail to broadcast), the shots stay."""
    from q_store.execution.shots import AdaptiveShotAllocator

    alloc = AdaptiveShotAllocator(min_shots=100, max_shots=1000, base_shots=300)
    alloc.observe(np.full(8, 0.5), np.full(8, 1e-3), 300)
    shots = alloc.shots
    alloc.observe(np.full(20, 0.5), np.full(20, 1e-3), shots)
    assert len(alloc.history) == 2 and alloc.history[-1]["gradient_norm2"] > 0
