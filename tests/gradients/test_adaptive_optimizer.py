"""The v3.3 AdaptiveGradientOptimizer, the adaptive planner's switch to natural gradient, the
spec's SPSAGradientEstimator call and the v3.2 gradient computers, all on the planners."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from q_store.backends import BackendManager
from q_store.circuit import Circuit, Z, theta
from q_store.core import AdaptiveGradientOptimizer, SPSAGradientEstimator
from q_store.core.gradient_computer import NaturalGradientComputer, QuantumGradientComputer
from q_store.errors import ValidationError
from q_store.gradients import (
    AdaptiveGradient,
    AdjointGradient,
    NaturalGradient,
    ParameterShiftGradient,
    SPSAGradient,
)
from q_store.sim import StatevectorSimulator
from q_store.sim.qfim import metric_tensor

OBS = (Z(0), Z(1))
P0 = np.array([0.4, -0.7, 1.1, 0.3])


def builder(p):  # the spec's circuit_builder: a function of the parameters
    return (Circuit(2).ry(0, p[0]).ry(1, p[1]).cnot(0, 1).rx(0, 2 * p[2] + 0.1)
            .rz(1, p[3]).ry(1, p[3]))


def loss(values: np.ndarray) -> float:
    return float((values[0] - 0.5) ** 2 + 0.3 * values[1])


def exact_loss(params: np.ndarray) -> float:
    c = builder(np.array([theta[i] for i in range(4)], dtype=object))
    return loss(np.atleast_2d(StatevectorSimulator().expectation(c, OBS, params))[0])


def exact_gradient(params: np.ndarray, h: float = 1e-6) -> np.ndarray:
    e = np.eye(len(params)) * h
    return np.array([(exact_loss(params + d) - exact_loss(params - d)) / (2 * h) for d in e])


def test_method_table_of_the_spec():
    opt = AdaptiveGradientOptimizer(None, initial_method="spsa")
    table = [opt.select_method(i, [1.0 - 0.1 * i for i in range(i)]) for i in range(25)]
    assert table[:10] == ["spsa"] * 10  # iterations 0-9: fast SPSA
    assert table[10] == table[20] == "parameter_shift"  # every 10th: accurate
    assert set(table[11:20]) == {"spsa"}
    slow = [1.0] * 12  # no progress over the window
    assert opt.select_method(12, slow) == "natural_gradient"
    assert opt.switched_at == 12
    assert opt.select_method(13, [1.0 - 0.1 * i for i in range(13)]) == "natural_gradient"
    assert AdaptiveGradientOptimizer(None).select_method(5, slow) == "spsa"  # warm-up first
    with pytest.raises(ValidationError, match="initial_method"):
        AdaptiveGradientOptimizer(None, initial_method="adjoint")


def test_compute_gradients_runs_each_method_on_the_engine():
    opt = AdaptiveGradientOptimizer(None, seed=0, observables=OBS)
    ps = asyncio.run(opt.compute_gradients(builder, loss, P0, iteration=10, loss_history=[]))
    assert ps.method_used == "parameter_shift"
    np.testing.assert_allclose(ps.gradients, exact_gradient(P0), atol=1e-7)
    assert ps.function_value == pytest.approx(exact_loss(P0), abs=1e-12)
    assert ps.n_circuit_executions == 1 + 2 * 5  # values + two shifts per angle
    sp = asyncio.run(opt.compute_gradients(builder, loss, P0, iteration=3))
    assert sp.method_used == "spsa" and sp.n_circuit_executions == 3
    ng = asyncio.run(opt.compute_gradients(builder, loss, P0, iteration=11,
                                           loss_history=[0.5] * 11))
    assert ng.method_used == "natural_gradient"
    g = metric_tensor(builder(np.array([theta[i] for i in range(4)], dtype=object)), P0)
    np.testing.assert_allclose(ng.metric, g, atol=1e-10)  # exact metric on the simulator
    np.testing.assert_allclose(ng.gradients, np.linalg.solve(g + 0.01 * np.eye(4),
                                                             ng.raw_gradients), atol=1e-9)
    np.testing.assert_allclose(np.asarray(ng), ng.gradients)
    assert opt.history == ["parameter_shift", "spsa", "natural_gradient"]
    assert opt.state["spsa"].k == 1  # the planners' explicit state, advanced


def test_on_a_sampling_backend_the_metric_is_estimated_from_circuits():
    opt = AdaptiveGradientOptimizer(BackendManager().get_backend("mock_noisy"), shots=4000,
                                    seed=1, observables=OBS)
    assert opt.methods["natural_gradient"].metric == "block_diagonal"
    res = asyncio.run(opt.compute_gradients(builder, loss, P0, iteration=12,
                                            loss_history=[0.2] * 12))
    assert res.method_used == "natural_gradient" and res.metric is not None
    layers = 3  # ry ry | rx rz | ry
    assert res.n_circuit_executions == 1 + 2 * 5 + layers - 1  # the first layer acts on |00>


def test_spsa_estimator_call_of_the_spec_is_unbiased():
    """``await estimator.estimate_gradient(circuit_builder=, loss_function=, parameters=,
    shots=)``: two circuits per estimate (plus the values), and the mean of many estimates
    is the gradient (exact probabilities; 4.5 standard errors)."""
    est = SPSAGradientEstimator(c=0.01, seed=3)

    async def many(n: int) -> np.ndarray:
        out = []
        for _ in range(n):
            r = await est.estimate_gradient(circuit_builder=builder, loss_function=loss,
                                            parameters=P0, shots=None, observables=OBS)
            out.append(r.gradients)
        return np.array(out)

    samples = asyncio.run(many(800))
    stderr = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - exact_gradient(P0)) < 4.5 * stderr + 1e-4)
    sampled = asyncio.run(est.estimate_gradient(circuit_builder=builder, loss_function=loss,
                                                parameters=P0, shots=1000, observables=OBS))
    assert sampled.n_circuit_executions == 3 and est.k == 801


def test_v32_gradient_computers():
    grad = asyncio.run(QuantumGradientComputer().compute_gradients(builder, P0))
    c = builder(np.array([theta[i] for i in range(4)], dtype=object))
    jac = AdjointGradient().jacobian(c, Z(0), P0).weights[0, 0]
    np.testing.assert_allclose(grad.gradients, jac, atol=1e-10)  # d<Z0>/dp by default
    with_loss = asyncio.run(QuantumGradientComputer(observables=OBS).compute_gradients(
        c, P0, loss))
    np.testing.assert_allclose(with_loss.gradients, exact_gradient(P0), atol=1e-7)
    nat = NaturalGradientComputer(regularization=0.05)
    res = asyncio.run(nat.compute_natural_gradient(c, P0, loss, observables=OBS))
    g = metric_tensor(c, P0)
    np.testing.assert_allclose(res.gradients, np.linalg.solve(g + 0.05 * np.eye(4),
                                                              exact_gradient(P0)), atol=1e-6)
    with pytest.raises(ValidationError, match="theta"):
        asyncio.run(QuantumGradientComputer().compute_gradients(lambda p: np.sin(p[0]), P0))


def test_adaptive_planner_switches_to_natural_gradient_on_stalls():
    c = builder(np.array([theta[i] for i in range(4)], dtype=object))
    shift = ParameterShiftGradient()
    ad = AdaptiveGradient(spsa=SPSAGradient(seed=1), exact=shift,
                          natural=NaturalGradient(base=shift, metric="block_diagonal"),
                          refine_every=2, switch_patience=2)
    state = ad.init()
    for loss_value in (1.0, 1.0, 1.0):
        state = ad.observe(state, loss_value)
    assert state.method == "natural_gradient"
    plan = ad.plan(c, OBS, P0, state=state)
    assert plan.notes["method"] == "natural_gradient"
    assert len(plan) == len(shift.plan(c, OBS, P0)) + plan.notes["metric_rows"] > 11
    res = ad.jacobian(c, OBS, P0)  # from init: step 0 refines with parameter shift
    assert res.precondition is None
    restored = ad.state_from_plain(ad.state_to_plain(state))
    assert restored == state
    legacy = ad.state_to_plain(ad.init())
    del legacy["natural"]  # a checkpoint written before the natural-gradient switch existed
    assert ad.state_from_plain(legacy).natural == ad.natural.init()
    plain = AdaptiveGradient()
    stalled = plain.init()
    for _ in range(4):
        stalled = plain.observe(stalled, 1.0)
    assert stalled.method == "parameter_shift"  # no natural method given: the exact one
