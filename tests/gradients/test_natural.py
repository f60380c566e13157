"""Natural gradient on every backend: the block-diagonal metric against the exact metric, 2-SPSA
in expectation, the metric cache, circuit counts, and backends."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend
from q_store.circuit import GATES, Circuit, Z, theta, x
from q_store.circuit.params import resolve_batch
from q_store.errors import ConfigError, NotSupportedError
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.engine import ExecutionEngine
from q_store.execution.local import answer_all
from q_store.execution.measurement import measurement_plan
from q_store.gradients import AdjointGradient, NaturalGradient, ParameterShiftGradient
from q_store.gradients.metric_blocks import block_diagonal_requests, metric_layers
from q_store.gradients.metric_spsa import (
    inverse_operations,
    metric_estimates,
    spsa_metric_requests,
)
from q_store.sim import StatevectorSimulator
from q_store.sim.qfim import metric_tensor
from q_store.sim.statevector import parameter_map_for
from tests.reference import random_circuit, reference_unitary

ROTATIONS = ("RX", "RY", "RZ", "RXX", "RYY", "RZZ", "CRX", "CRY", "CRZ", "PhaseShift", "U3",
             "ZZ", "CNOT", "CZ", "H", "S", "SX", "T")
EXACT = 1e-10


def _block_metric(circuit, weights, inputs=None, sim=None):
    batch = resolve_batch(circuit, weights, inputs)
    requests, finish = block_diagonal_requests(circuit, batch)
    return finish(answer_all(requests, sim or StatevectorSimulator()))


def _same_layer(circuit):
    """Pairs of weights in one layer (for circuits whose angles each use one weight)."""
    a_w = parameter_map_for(circuit).a_w
    n = circuit.n_weights
    mask = np.zeros((n, n), dtype=bool)
    for layer in metric_layers(circuit):
        ws = [int(np.flatnonzero(a_w[col])[0]) for col in layer.columns]
        mask[np.ix_(ws, ws)] = True
    return mask


def test_single_qubit_analytic():
    a, b = 0.7, -0.3
    c = Circuit(1).rx(0, theta[0]).ry(0, theta[1])
    np.testing.assert_allclose(_block_metric(c, [a, b]),
                               [[0.25, 0.0], [0.0, np.cos(a) ** 2 / 4]], atol=EXACT)


@pytest.mark.parametrize("seed", range(5))
def test_blocks_equal_the_exact_metric_blocks(seed):
    """Every within-layer entry equals the exact metric (tangent states), every cross-layer
    entry is zero: on random circuits over every gate with a generator, with a data batch."""
    rng = np.random.default_rng(seed)
    body = random_circuit(3, 16, rng, gates=ROTATIONS, symbolic=True)
    c = Circuit(3).rx(0, x[0]).ry(2, x[1]).compose(body)  # encoding first: a batch of states
    w = rng.normal(size=c.n_weights)
    xs = rng.uniform(-1, 1, size=(3, 2))
    exact = metric_tensor(c, w, xs).mean(axis=0)
    block = _block_metric(c, w, xs)
    mask = _same_layer(c)
    assert mask.sum() < mask.size  # several layers
    np.testing.assert_allclose(block[mask], exact[mask], atol=EXACT)
    np.testing.assert_array_equal(block[~mask], 0.0)


def test_equals_the_full_metric_where_it_is_block_diagonal():
    """RY(a) q0, CNOT, RY(b) q1 and a product of single-qubit chains: the true metric has no
    cross-layer entries, so the block-diagonal one is the full metric."""
    cases = [(Circuit(2).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1]), [0.9, 0.4]),
             (Circuit(3).rx(0, theta[0]).ry(0, theta[1]).ry(1, theta[2]).rz(1, theta[3])
              .rx(2, theta[4]).ry(2, theta[5]), [0.3, -0.8, 1.1, 0.2, -0.5, 0.7])]
    for c, w in cases:
        exact = metric_tensor(c, w)
        assert np.abs(exact[~_same_layer(c)]).max() < EXACT  # truly block diagonal
        np.testing.assert_allclose(_block_metric(c, w), exact, atol=EXACT)
    np.testing.assert_allclose(_block_metric(*cases[0]), np.diag([0.25, 0.25]), atol=EXACT)


def test_layers_are_one_measurement_basis_each_and_counted():
    c = (Circuit(3).rx(0, x[0]).ry(0, theta[0]).crx(1, 2, theta[1]).cnot(0, 1)
         .rxx(0, 1, theta[2]).rz(2, theta[3]))
    layers = metric_layers(c)
    assert [len(layer.columns) for layer in layers] == [2, 2]
    for layer in layers:
        assert len(measurement_plan(layer.observables, 3).bases) == 1
    batch = resolve_batch(c, np.zeros(4), np.ones((5, 1)))
    requests, _ = block_diagonal_requests(c, batch)
    assert sum(r.rows for r in requests) == 2 * 5  # one circuit per layer and sample


def test_generator_free_gates_are_refused_with_the_alternatives():
    c = Circuit(1).gpi(0, theta[0])
    with pytest.raises(NotSupportedError, match="'spsa'"):
        metric_layers(c)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_inverse_of_every_gate(gate):
    spec = GATES[gate]
    rng = np.random.default_rng(len(gate))
    c = Circuit(spec.num_wires).append(gate, tuple(range(spec.num_wires)),
                                      *rng.uniform(-1, 1, spec.num_params))
    inv = Circuit(spec.num_wires, inverse_operations(c))
    product = reference_unitary(inv) @ reference_unitary(c)
    phase = product[0, 0]
    assert abs(abs(phase) - 1) < EXACT
    np.testing.assert_allclose(product, phase * np.eye(2**spec.num_wires), atol=EXACT)


def test_two_spsa_is_unbiased():
    """The mean of N 2-SPSA estimates converges to the exact metric: every entry within 4.5
    standard errors (measured from the N samples) plus the O(epsilon^2) bias."""
    rng = np.random.default_rng(11)
    c = Circuit(3).rx(0, x[0]).compose(random_circuit(3, 10, rng, gates=ROTATIONS[:9],
                                                      symbolic=True))
    w = rng.normal(size=c.n_weights)
    xs = np.array([[0.2], [-0.9]])
    n, eps = 20_000, 1e-3
    deltas = rng.choice([-1.0, 1.0], size=(n, 2, c.n_weights))
    batch = resolve_batch(c, w, xs)
    requests, finish = spsa_metric_requests(c, batch, deltas, eps)
    answers = answer_all(requests, StatevectorSimulator())
    samples = metric_estimates(np.asarray(answers[0]).reshape(n, 4, 2).mean(axis=2), deltas,
                               eps)
    np.testing.assert_allclose(finish(answers), samples.mean(axis=0), atol=1e-12)
    exact = metric_tensor(c, w, xs).mean(axis=0)
    stderr = samples.std(axis=0, ddof=1) / np.sqrt(n)
    tolerance = 4.5 * stderr + 1e-4
    assert np.all(np.abs(samples.mean(axis=0) - exact) <= tolerance)
    assert np.abs(exact).max() > 0.1  # a metric worth estimating
    assert not np.all(np.abs(1.1 * samples.mean(axis=0) - exact) <= tolerance)  # 10 % off fails


def test_natural_gradient_running_spsa_metric_converges():
    """The method's state averages the per-step estimates (Gacon et al.'s running mean):
    after K steps at fixed weights it is the mean of K estimates."""
    c = Circuit(2).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1]).rx(0, theta[2])
    w = np.array([0.4, -1.0, 0.6])
    ng = NaturalGradient(base=AdjointGradient(), metric="spsa", epsilon=1e-3, resamplings=25,
                         seed=5)
    for _ in range(40):
        res = ng.jacobian(c, Z(0), w)
    assert ng.state.count == 40 and ng.state.step == 40
    np.testing.assert_allclose(res.metric, ng.state.metric)
    exact = metric_tensor(c, w)
    assert np.abs(ng.state.metric - exact).max() < 0.05  # 1000 estimates of entries ~ 0.25
    restored = ng.state_from_plain(ng.state_to_plain(ng.state))
    np.testing.assert_allclose(restored.metric, ng.state.metric)


@pytest.mark.parametrize("metric,extra", [("exact", None), ("block_diagonal", 2 * 4),
                                          ("spsa", 4 * 4 * 2)])
def test_plans_count_metric_circuits(metric, extra):
    c = Circuit(2).rx(0, x[0]).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1])
    w, xs = np.array([0.3, 0.5]), np.linspace(0, 1, 4)[:, None]
    base = ParameterShiftGradient()
    ng = NaturalGradient(base=base, metric=metric, resamplings=2, seed=1)
    plan, plain = ng.plan(c, Z(1), w, xs), base.plan(c, Z(1), w, xs)
    if extra is None:  # the exact metric: one tangent state per weight-carrying angle
        extra = 4 * c.num_gate_params
    assert len(plan) == len(plain) + extra
    assert plan.notes["metric_rows"] == extra


def test_precondition_is_the_regularised_metric_solve():
    c = Circuit(2).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1]).rz(0, theta[2]).rx(1, theta[3])
    w = np.array([0.3, 1.2, -0.4, 0.8])
    eps = 0.05
    res = NaturalGradient(base=AdjointGradient(), metric="block_diagonal",
                          regularization=eps).jacobian(c, Z(1), w)
    g = _block_metric(c, w)
    grad = res.weights[0, 0]
    np.testing.assert_allclose(res.precondition(grad),
                               np.linalg.solve(g + eps * np.eye(4), grad), atol=1e-10)


def test_metric_cache_reuses_exactly_at_identical_weights():
    c = Circuit(2).rx(0, x[0]).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1])
    w, xs = np.array([0.3, 0.5]), np.array([[0.1], [0.7]])
    ng = NaturalGradient(base=AdjointGradient(), metric="block_diagonal", cache_size=4)
    first = ng.jacobian(c, Z(1), w, xs)
    again = ng.plan(c, Z(1), w, xs, state=ng.state)
    assert again.notes["metric_cache"] == "hit" and again.notes["metric_rows"] == 0
    second = ng.jacobian(c, Z(1), w, xs)
    np.testing.assert_array_equal(second.metric, first.metric)
    other_inputs = ng.plan(c, Z(1), w, xs + 0.1, state=ng.state)
    other_weights = ng.plan(c, Z(1), w + 1e-9, xs, state=ng.state)
    assert other_inputs.notes["metric_cache"] == other_weights.notes["metric_cache"] == "miss"
    stats = ng.cache_stats()
    assert (stats["hits"], stats["misses"], stats["size"]) == (2, 3, 1)


def test_metric_cache_reuse_for_n_steps_is_an_approximation_on_a_schedule():
    c = Circuit(1).rx(0, theta[0]).ry(0, theta[1])
    ng = NaturalGradient(base=AdjointGradient(), metric="block_diagonal", cache_size=2,
                         reuse_steps=3)
    used = []
    for k in range(7):
        res = ng.jacobian(c, Z(0), [0.1 * k, 0.2])
        used.append(res.metric[1, 1])
    # steps 0-2 keep step 0's metric cos^2(0)/4, steps 3-5 step 3's, step 6 its own
    expected = [np.cos(0.1 * (k - k % 3)) ** 2 / 4 for k in range(7)]
    np.testing.assert_allclose(used, expected, atol=EXACT)
    assert ng.cache_stats()["hits"] == 4


def test_backend_metrics_equal_local_ones():
    """Through the backend pipeline (exact probabilities of the local backend), the
    block-diagonal and 2-SPSA metrics equal those computed on the simulator directly; the
    exact metric is refused there with the alternatives."""
    import asyncio

    c = Circuit(2).rx(0, x[0]).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1]).rz(0, theta[2])
    w, xs = np.array([0.3, 0.5, -0.2]), np.array([[0.1], [0.7]])
    remote = ExecutionEngine(StatevectorSimulator(),
                             executor=BackendExecutor(LocalSimulatorBackend("local_exact")))
    local = ExecutionEngine(StatevectorSimulator())
    for metric in ("block_diagonal", "spsa"):
        def plan(metric=metric):
            return NaturalGradient(base=ParameterShiftGradient(), metric=metric,
                                   seed=3).plan(c, Z(1), w, xs)
        there = asyncio.run(remote.execute(plan()))
        here = asyncio.run(local.execute(plan()))
        np.testing.assert_allclose(there.metric, here.metric, atol=EXACT)
        np.testing.assert_allclose(there.weights, here.weights, atol=EXACT)
    exact = NaturalGradient(base=ParameterShiftGradient(), metric="exact").plan(c, Z(1), w, xs)
    with pytest.raises(ConfigError, match="block_diagonal"):
        asyncio.run(remote.execute(exact))


def test_sampled_block_metric_within_shot_noise():
    c = Circuit(2).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1]).rx(0, theta[2]).ry(1, theta[3])
    w = np.array([0.7, -0.4, 1.3, 0.2])
    shots = 20_000
    sim = StatevectorSimulator()
    batch = resolve_batch(c, w, None)
    requests, finish = block_diagonal_requests(c, batch)
    rng = np.random.default_rng(0)
    sampled = finish([sim.expectation_angles(r.circuit, r.angles, r.observables, shots=shots,
                                             seed=rng) for r in requests])
    exact = _block_metric(c, w)
    # covariances of Pauli strings with coefficients 1/4: standard error below 1/(2 sqrt(shots))
    assert np.abs(sampled - exact).max() < 5 / (2 * np.sqrt(shots))
    assert np.abs(sampled - exact).max() > 0  # it did sample


def test_defaults_follow_the_target():
    ng = NaturalGradient()
    assert ng.metric == "exact" and isinstance(ng.base, AdjointGradient)
    on_backend = NaturalGradient(BackendExecutor(LocalSimulatorBackend(), 100))
    assert on_backend.metric == "block_diagonal"
    assert isinstance(on_backend.base, ParameterShiftGradient)
    with pytest.raises(NotSupportedError, match="block_diagonal"):
        NaturalGradient(metric="spsa").plan(Circuit(1).ry(0, theta[0]), Z(0), [0.1],
                                            initial_state=np.array([1.0, 0.0]))
