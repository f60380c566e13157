"""Adaptive circuit depth: the schedules, identity blocks, a loss that does not jump when the
model grows, validation at full depth, circuits saved at shallow depths, exact resume."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from q_store.circuit import Circuit
from q_store.errors import ConfigError, ConfigWarning
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.depth import AdaptiveDepth, DepthSchedule, IdentityBlocks
from q_store.ml.layers import QuantumConvolutionalLayer
from q_store.sim import StatevectorSimulator

CONTINUITY = 1e-12  # loss just before vs just after a depth change
SIM = StatevectorSimulator()


def data(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n, 3))
    return x, 0.6 * np.sin(x[:, 0] + x[:, 1]) * np.cos(x[:, 2])


def config(**kw: object) -> TrainingConfig:
    base = dict(n_qubits=3, epochs=4, batch_size=12, shuffle=False, seed=2,
                learning_rate=0.1, adaptive_circuit_depth=True, circuit_depth_schedule="linear",
                min_circuit_depth=1, max_circuit_depth=3)
    return TrainingConfig(**{**base, **kw})  # type: ignore[arg-type]


# -- the schedule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,epochs,depths", [
    ("linear", 5, [2, 3, 3, 4, 4]),
    ("exponential", 5, [2, 2, 3, 3, 4]),
    ("step", 5, [2, 2, 4, 4, 4]),
    ("linear", 20, [2] * 5 + [3] * 10 + [4] * 5),
    ("exponential", 20, [2] * 7 + [3] * 9 + [4] * 4),
    ("linear", 1, [4]),
])
def test_schedules_go_from_min_to_max(kind, epochs, depths):
    s = DepthSchedule(kind, 2, 4)
    assert [s.depth_at(e, epochs) for e in range(epochs)] == depths


def test_exponential_spends_longest_at_the_cheap_depths():
    lin, exp = DepthSchedule("linear", 1, 6), DepthSchedule("exponential", 1, 6)
    assert sum(exp.depth_at(e, 30) for e in range(30)) < sum(lin.depth_at(e, 30)
                                                             for e in range(30))


@pytest.mark.parametrize("kw,message", [
    ({"circuit_depth_schedule": "cosine"}, "linear, exponential, step"),
    ({"min_circuit_depth": 3, "max_circuit_depth": 2}, "below min_circuit_depth"),
    ({"min_circuit_depth": 0}, "integer >= 1"),
    ({"adaptive_circuit_depth": 1}, "True or False"),
])
def test_bad_depth_options_say_what_is_allowed(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**{"adaptive_circuit_depth": True, **kw})


def test_depth_options_without_the_switch_are_flagged():
    msgs = TrainingConfig(circuit_depth_schedule="step", max_circuit_depth=6).inapplicable()
    assert len(msgs) == 2 and all("adaptive_circuit_depth is off" in m for m in msgs)
    assert any("circuit_depth=" in m for m in config(circuit_depth=4).inapplicable())
    assert TrainingConfig(adaptive_circuit_depth=True, circuit_depth_schedule="exponential",
                          min_circuit_depth=2, max_circuit_depth=4).inapplicable() == []


# -- identity blocks -------------------------------------------------------------------------------

@pytest.mark.parametrize("entanglement", ["linear", "circular", "full"])
def test_blocks_at_zero_are_the_identity_and_entangle_when_trained(entanglement):
    blocks = IdentityBlocks(3, 2, ("RY", "RZ"), entanglement)
    b = Circuit.builder(3)
    blocks.append_to(b, (0, 1, 2), 0)
    c = b.build()
    assert len(c) == blocks.n_parameters == 2 * blocks.block_size
    np.testing.assert_array_equal(SIM.unitary(c, np.zeros(blocks.n_parameters)), np.eye(8))
    u = SIM.unitary(c, np.random.default_rng(1).uniform(-1, 1, blocks.n_parameters))
    assert not np.allclose(np.abs(u), np.abs(np.kron(np.kron(u[:2, :2], np.eye(2)), np.eye(2))))


def test_the_model_grows_to_full_depth_with_zero_frozen_blocks():
    cfg = config()
    model = QuantumModel.from_config(cfg, 3, 1)
    assert model.layers[0].depth == 1
    w0 = model.weights.copy()
    depth = AdaptiveDepth.from_config(cfg)
    assert depth is not None and depth.prepare(model) and not depth.prepare(model)
    blocks = model.layers[-1]
    assert isinstance(blocks, IdentityBlocks) and blocks.n_blocks == 2
    np.testing.assert_array_equal(model.weights[: len(w0)], w0)
    assert not model.weights[len(w0):].any() and model.count_parameters() == len(w0)
    assert depth.at_epoch_start(model, 0, 4) == 1
    assert model.training_circuit.operations == model.circuit.operations[: len(
        model.training_circuit)]
    assert depth.at_epoch_start(model, 3, 4) == 3 and model.training_circuit is model.circuit
    assert depth.at_epoch_start(model, 0, 4) == 3  # never shrinks


def test_models_it_cannot_grow_are_refused_or_flagged():
    depth = AdaptiveDepth(DepthSchedule("linear", 1, 2))
    conv = QuantumModel(4, 1, layers=[QuantumConvolutionalLayer(4)])
    with pytest.raises(ConfigError, match="QuantumConvolutionalLayer"):
        depth.prepare(conv)
    deep = QuantumModel(3, 1, 2)
    with pytest.warns(ConfigWarning, match="adds no layer"):
        assert not depth.prepare(deep)


# -- training --------------------------------------------------------------------------------------

def test_the_loss_does_not_jump_when_the_model_grows():
    x, y = data()
    cfg = config()
    model = QuantumModel.from_config(cfg, 3, 1)
    trainer = QuantumTrainer(cfg)
    steps: list[dict] = []
    assert trainer.performance_tracker is not None
    trainer.performance_tracker.subscribe(lambda e: steps.append(e) if e["event"] == "step"
                                          else None)
    trainer.fit(model, (x, y), epochs=1)  # epoch 1 of 4: depth 1
    n_active = len(model.training_circuit)
    before, grad_before = trainer.loss_and_gradient(model, x, y)
    full_depth, _ = asyncio.run(trainer.evaluate(model, (x, y)))  # every block, at zero
    assert full_depth == pytest.approx(before, abs=CONTINUITY)
    blocks = model.layers[-1]
    assert not grad_before[-blocks.n_parameters:].any()  # not grown: no gradient
    trainer.fit(model, (x, y), epochs=1)  # epoch 2 of 4: depth 2
    assert len(model.training_circuit) > n_active
    after = steps[-1]["loss"]  # the first step after the change, before its update
    assert abs(after - before) <= CONTINUITY
    _, grad_after = trainer.loss_and_gradient(model, x, y)
    grown = grad_after[-blocks.n_parameters:][: blocks.block_size]
    assert np.abs(grown).max() > 1e-3  # the new block trains at once
    entanglers = grown[-len(blocks.pairs):]  # XX, not ZZ: live even right before readout
    assert np.abs(entanglers).max() > 1e-3
    depths = [e["depth"] for e in trainer.performance_tracker.events("depth")]
    assert depths == [1, 2]


def test_a_full_run_grows_and_trains_every_block_and_saves_circuits():
    x, y = data()
    cfg = config(gradient_method="parameter_shift")
    model = QuantumModel.from_config(cfg, 3, 1)
    trainer = QuantumTrainer(cfg)
    history = trainer.fit(model, (x, y), (x, y))
    assert trainer.performance_tracker is not None
    events = trainer.performance_tracker.events("depth")
    assert [e["depth"] for e in events] == [1, 2, 2, 3]
    assert [e["gates"] for e in events] == [3 + 9, 3 + 18, 3 + 18, 3 + 27]
    assert all(e["full_gates"] == 30 for e in events)
    runs = [e["circuits"] for e in trainer.performance_tracker.events("step")]
    assert runs == sorted(runs) and runs[0] < runs[-1]  # parameter shift: 2 per gate angle
    assert model.layers[-1].active == 2 and np.all(model.weights != 0.0)
    assert history["val_losses"][-1] < history["val_losses"][0]


def test_resuming_mid_growth_reproduces_the_uninterrupted_run(tmp_path):
    x, y = data()
    whole = QuantumModel.from_config(config(), 3, 1)
    QuantumTrainer(config()).fit(whole, (x, y))
    first = QuantumModel.from_config(config(), 3, 1)
    QuantumTrainer(config(checkpoint_dir=str(tmp_path), epochs=4)).fit(first, (x, y), epochs=2)
    resumed = QuantumModel.from_config(config(), 3, 1)  # not grown yet: train grows it first
    trainer = QuantumTrainer(config(checkpoint_dir=str(tmp_path)))
    trainer.fit(resumed, (x, y), resume_from=tmp_path / "latest.npz")
    np.testing.assert_allclose(resumed.weights, whole.weights, atol=1e-12)


def test_cost_estimates_count_the_full_depth():
    x, y = data()
    cfg = config(gradient_method="parameter_shift")
    grown = QuantumTrainer(cfg).estimate_cost(QuantumModel.from_config(cfg, 3, 1), (x, y))
    fixed = TrainingConfig(n_qubits=3, epochs=4, batch_size=12, gradient_method="parameter_shift",
                           circuit_depth=1)
    shallow = QuantumTrainer(fixed).estimate_cost(QuantumModel.from_config(fixed, 3, 1), (x, y))
    assert grown.circuits > shallow.circuits  # an upper bound, never the starting depth
