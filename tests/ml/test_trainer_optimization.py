"""Circuit optimisation is on the trainer's path: a backend is sent fewer gates, and training
gives the same losses and weights as without it."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from tests.execution.test_optimization_stage import Recording

SAME = 1e-10  # rounding of exact rewrites, accumulated over a few optimiser steps


def train(optimize: bool, **kw: object) -> tuple[dict, QuantumModel, Recording, QuantumTrainer]:
    rng = np.random.default_rng(4)
    x = rng.uniform(-np.pi, np.pi, (8, 4))
    y = (np.sin(x[:, 0]) * np.cos(x[:, 3]) > 0).astype(int)
    backend = Recording()
    cfg = TrainingConfig(n_qubits=4, epochs=2, batch_size=4, shuffle=False, seed=1,
                         gradient_method="parameter_shift", learning_rate=0.1,
                         enable_circuit_optimization=optimize, **kw)  # type: ignore[arg-type]
    model = QuantumModel.from_config(cfg, 4, 2, task="classification", backend=backend)
    trainer = QuantumTrainer(cfg)
    history = trainer.fit(model, (x, y), (x, y))
    return history, model, backend, trainer


@pytest.mark.parametrize("entanglement", ["circular", "linear"])
def test_training_sends_fewer_gates_and_learns_the_same(entanglement):
    h0, m0, b0, _ = train(False, entanglement=entanglement)
    h1, m1, b1, trainer = train(True, entanglement=entanglement)
    # circular: the same circuits, each with fewer gates; linear: the light cone also makes
    # parameter-shift circuits of gates it removed equal to the unshifted one (deduplicated)
    assert len(b1.sent) == len(b0.sent) if entanglement == "circular" else (
        len(b1.sent) < len(b0.sent))
    assert b1.gates < b0.gates
    two0 = sum(c.num_two_qubit_gates for c in b0.sent)
    two1 = sum(c.num_two_qubit_gates for c in b1.sent)
    assert two1 <= two0 and (two1 < two0) == (entanglement == "linear")  # light cone
    np.testing.assert_allclose(h1["losses"], h0["losses"], atol=SAME)
    np.testing.assert_allclose(h1["val_losses"], h0["val_losses"], atol=SAME)
    np.testing.assert_allclose(m1.weights, m0.weights, atol=SAME)
    assert trainer.performance_tracker is not None
    events = trainer.performance_tracker.events("optimization")
    assert events and all(e["exact"] for e in events)
    assert sum(e["gates_after"] for e in events) == b1.gates
    assert sum(e["circuits"] for e in events) == len(b1.sent)


def test_adaptive_depth_blocks_cost_nothing_on_a_backend_until_they_grow():
    """Validation runs the full-depth model; optimisation strips the zero blocks before
    sending, so validating at full depth sends the active-depth circuit."""
    _, m0, _, trainer = train(True, adaptive_circuit_depth=True, min_circuit_depth=1,
                              max_circuit_depth=3, circuit_depth_schedule="step")
    assert m0.layers[-1].active == 2  # epoch 1 at depth 1, epoch 2 at depth 3
    assert trainer.performance_tracker is not None
    first = next(e for e in trainer.performance_tracker.events("optimization")
                 if e["role"] == "values")  # validation after epoch 1, at full depth
    per_circuit = first["two_qubit_before"] / first["circuits"]
    assert per_circuit == 4 + 2 * 4  # the CNOT ring and two blocks of four RXX
    assert first["two_qubit_after"] / first["circuits"] <= 4  # the zero blocks are gone
