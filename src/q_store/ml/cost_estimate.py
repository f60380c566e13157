"""What training would cost on the trainer's backend, counted from the gradient method's
plans (``len(plan)``), never by running the step: circuits, shots, gate counts, dollars, gate
time and an expected wall time."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from q_store.backends.cost import CostEstimate
from q_store.backends.local import LocalSimulatorBackend
from q_store.execution.backend_executor import run_sync
from q_store.ml.inputs import count_samples, first_batch

if TYPE_CHECKING:
    from q_store.ml.models import QuantumModel
    from q_store.ml.trainer import QuantumTrainer

__all__ = ["estimate_training_cost", "measured_circuits"]


def estimate_training_cost(trainer: QuantumTrainer, model: QuantumModel, train_loader: Any,
                           val_loader: Any, epochs: int | None) -> CostEstimate:
    """See :meth:`QuantumTrainer.estimate_cost`."""
    backend = trainer.backend or LocalSimulatorBackend(simulator=trainer.simulator)
    n_epochs = trainer.config.epochs - trainer.epoch if epochs is None else epochs
    x_train = first_batch(trainer._loader(train_loader, shuffle=False))
    per_sample = runs_per_sample(trainer, model, x_train[:1])
    rows = count_samples(trainer._loader(train_loader, shuffle=False)) * per_sample * n_epochs
    if val_loader is not None:
        rows += count_samples(trainer._loader(val_loader, shuffle=False)) * n_epochs
    shots = trainer.config.shots if trainer.backend is not None else None
    one = backend.estimate_cost(measured_circuits(model, x_train[:1]), shots)
    total = math.ceil(rows)
    return CostEstimate(total * one.circuits, one.shots, total * one.one_qubit_gates,
                        total * one.two_qubit_gates, total * one.usd, total * one.seconds,
                        expected_wall_seconds(trainer, model, x_train, total * one.circuits))


def runs_per_sample(trainer: QuantumTrainer, model: QuantumModel, x: np.ndarray) -> float:
    """Circuit runs per sample of a training step, averaged over the method's cycle (the
    adaptive method refines every few steps): plans are counted, nothing runs."""
    method = trainer.method
    assert method is not None
    inputs, states = model.encode(x)
    cycle = getattr(method, "refine_every", 1)
    state, runs = trainer.method_state, 0
    for _ in range(cycle):
        plan = method.plan(model.circuit, model.observables, model.weights, inputs,
                           initial_state=states, state=state)
        runs += len(plan)
        state = plan.state
    return runs / cycle


def expected_wall_seconds(trainer: QuantumTrainer, model: QuantumModel, x: np.ndarray,
                          circuits: int) -> float | None:
    """On the local simulator, one step timed now and scaled; on a backend, scaled from the
    seconds per circuit its jobs took so far (None before any job)."""
    if trainer.backend is None:
        assert trainer.engine is not None and trainer.method is not None
        inputs, states = model.encode(x)
        plan = trainer.method.plan(model.circuit, model.observables, model.weights, inputs,
                                   initial_state=states, state=trainer.method_state)
        t0 = time.perf_counter()
        run_sync(trainer.engine.run(plan.requests))
        return (time.perf_counter() - t0) / max(1, len(plan)) * circuits
    tracker = trainer.performance_tracker
    name = trainer.backend.name
    jobs = [] if tracker is None else [e for e in tracker.events("job")
                                       if e.get("backend") == name]
    done = sum(e.get("circuits", 0) for e in jobs)
    if not done:
        return None
    seconds = sum(e.get("submit_seconds", 0.0) + e.get("wait_seconds", 0.0) for e in jobs)
    return seconds / done * circuits


def measured_circuits(model: QuantumModel, x: np.ndarray) -> list[Any]:
    """The circuits one sample's evaluation submits: the bound circuit (after its state
    preparation, for amplitude encoding) in each measurement basis."""
    from q_store.execution.measurement import measurement_plan
    from q_store.ml._state_prep import prepare_state_circuit

    inputs, states = model.encode(x)
    bound = model.circuit.bind(model.weights, None if inputs is None else inputs[0])
    if states is not None:
        bound = prepare_state_circuit(states[0]).compose(bound)
    return measurement_plan(tuple(model.observables), model.n_qubits).circuits(bound)
