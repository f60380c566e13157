"""The six examples of the v3.2 document, each on a local backend, in well under a minute.

1. Basic quantum neural network: a 4-qubit model learns a hidden 4-qubit "teacher"; the cost
   of one parameter-shift gradient counted against the spec's 1 + 2N.
2. Quantum autoencoder (dimensionality reduction): 8-dimensional data compressed into 2 of 3
   qubits (4 amplitudes) and decompressed again; the fidelity of the round trip.
3. Pattern recognition: three 8-pixel patterns with noise, 8 qubits, a held-out test set.
4. Multi-backend training: the same model trained on ``mock_ideal``, ``mock_noisy`` and
   ``cirq``; the exact backends agree to rounding, the noisy one does not.
5. Transfer learning: pre-train on task A, freeze early weights, fine-tune on task B.
6. Train once, run anywhere: train on the local simulator, then switch ``quantum_sdk`` to IonQ
   and fine-tune there (the local IonQ-compatible server this script starts; never IonQ's
   cloud). The fine-tuned losses equal those of training on locally for the same epochs.

Usage::

    python examples/examples_v3_2.py               # all six
    python examples/examples_v3_2.py --example 2   # one (repeat --example for several)
    python examples/examples_v3_2.py --quick       # smaller runs (the tests use this)
    python examples/examples_v3_2.py --json        # also a JSON summary as the last line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from q_store import AdjointGradient, StatevectorSimulator, Z
from q_store.backends import IonQEmulator, LatencyModel
from q_store.circuit import Circuit
from q_store.core import BackendManager, QuantumModel, QuantumTrainer, TrainingConfig
from q_store.core.gradient_computer import QuantumGradientComputer
from q_store.data import DataLoader
from q_store.errors import QStoreError
from q_store.ml.losses import cross_entropy

Summary = dict[str, Any]


def print_epochs(trainer: QuantumTrainer, prefix: str = "  ") -> None:
    """Print each epoch's loss from the trainer's event stream."""
    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "epoch":
            acc = event.get("accuracy")
            print(f"{prefix}epoch {event['epoch']}: loss {event['loss']:.4f}"
                  + ("" if acc is None else f", accuracy {acc:.4f}"), flush=True)

    assert trainer.performance_tracker is not None
    trainer.performance_tracker.subscribe(on_event)


# -- 1. basic quantum neural network --------------------------------------------------------------
async def basic_qnn(quick: bool) -> Summary:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(40, 4))
    # targets: <Z0>, <Z1> of a hidden model of the same shape, so the task is learnable exactly
    y = QuantumModel(4, 2, 2, seed=7).predict(x)

    config = TrainingConfig(epochs=5 if quick else 15, batch_size=10, learning_rate=0.05,
                            seed=0)
    trainer = QuantumTrainer(config)
    print_epochs(trainer)
    model = QuantumModel(input_dim=4, output_dim=2, n_layers=2, seed=0)  # the spec's call
    data_loader = DataLoader(x, y, batch_size=10, seed=0)
    before = float(np.mean((model.predict(x) - y) ** 2))
    history = await trainer.train(model, data_loader)
    after = float(np.mean((model.predict(x) - y) ** 2))
    print(f"  mean squared error: {before:.4f} before training, {after:.4f} after")

    # The spec's cost of one gradient: 1 + 2N circuit executions for N parameters
    # (parameter shift, every gate here has one frequency). Measured on the model's circuit
    # with the first sample's inputs bound, against the adjoint method's exact gradient.
    builder = Circuit.builder(model.n_qubits).extend(
        model.encoder.circuit().bind(inputs=model.encoder.inputs(x[:1])[0]).operations)
    model.quantum_layer.append_to(builder, range(model.n_qubits), 0)
    circuit = builder.build(n_weights=model.n_parameters)
    grad = await QuantumGradientComputer().compute_gradients(circuit, model.weights)
    exact = AdjointGradient(StatevectorSimulator()).jacobian(circuit, Z(0), model.weights)
    diff = float(np.max(np.abs(grad.gradients - exact.weights[0, 0])))
    n = model.count_parameters()
    print(f"  one parameter-shift gradient of <Z0>: {grad.n_circuit_executions} circuit "
          f"executions for {n} parameters (1 + 2 x {n} = {1 + 2 * n}); "
          f"max |difference from the adjoint gradient| {diff:.1e}")
    await trainer.aclose()
    return {"losses": history["losses"], "mse_before": before, "mse_after": after,
            "parameters": n, "gradient_circuits": grad.n_circuit_executions,
            "gradient_vs_adjoint": diff}


# -- 2. quantum autoencoder -----------------------------------------------------------------------
def round_trip_fidelity(unitary: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per sample: compress (U), reset the trash qubit (wire 0) to |0>, decompress (U^dagger);
    the fidelity of the result with the input state."""
    psi = x / np.linalg.norm(x, axis=1, keepdims=True)
    phi = (psi @ unitary.T).reshape(len(x), 2, -1)  # (sample, trash bit, kept amplitudes)
    kept = np.einsum("nta,ntb->nab", phi, phi.conj())  # the 2 kept qubits' density matrix
    return np.real(np.einsum("na,nab,nb->n", phi[:, 0].conj(), kept, phi[:, 0]))


async def autoencoder(quick: bool) -> Summary:
    # 8-dimensional data that lies in a 4-dimensional subspace (unknown to the model)
    rng = np.random.default_rng(1)
    subspace = np.linalg.qr(rng.normal(size=(8, 4)))[0]
    train = rng.normal(size=(60, 4)) @ subspace.T
    test = rng.normal(size=(30, 4)) @ subspace.T

    # The spec writes QuantumModel(input_dim=8, output_dim=4, n_layers=3) and reads the 4
    # compressed dimensions with forward(). A quantum autoencoder (Romero et al. 2017) encodes
    # the 8 values as the amplitudes of 3 qubits and learns a circuit U that leaves one qubit
    # (the trash) in |0> for every input: the other 2 qubits then hold the data, 4 amplitudes.
    # So the trained output is the trash qubit's <Z> (target +1), output_dim=1; the 4
    # dimensions are the kept qubits' amplitudes, and decompression is U's inverse.
    model = QuantumModel(input_dim=8, output_dim=1, n_layers=3, encoding="amplitude", seed=1)
    sim = StatevectorSimulator()
    f_before = float(round_trip_fidelity(sim.unitary(model.circuit, model.weights), test).mean())

    config = TrainingConfig(epochs=20 if quick else 40, batch_size=10, learning_rate=0.05,
                            seed=0)
    trainer = QuantumTrainer(config)
    history = await trainer.train(model, DataLoader(train, np.ones((len(train), 1)), 10,
                                                    seed=0))
    trash_z = await model.forward(test)  # the spec's call: <Z> of the trash qubit
    unitary = sim.unitary(model.circuit, model.weights)
    f_train = float(round_trip_fidelity(unitary, train).mean())
    f_test = float(round_trip_fidelity(unitary, test).mean())
    print(f"  {model.n_qubits} qubits, {model.count_parameters()} parameters, "
          f"{len(history['losses'])} epochs: loss {history['losses'][0]:.4f} -> "
          f"{history['losses'][-1]:.4f}")
    print(f"  trash qubit <Z> on test data: mean {float(trash_z.mean()):.4f} (1 = perfect)")
    print(f"  round-trip fidelity on test data: {f_before:.4f} before training, "
          f"{f_test:.4f} after (training data {f_train:.4f})")
    await trainer.aclose()
    return {"losses": history["losses"], "fidelity_before": f_before,
            "fidelity_train": f_train, "fidelity_test": f_test,
            "trash_z": float(trash_z.mean()), "qubits": model.n_qubits}


# -- 3. pattern recognition -----------------------------------------------------------------------
PATTERNS = np.array([[1, 1, 1, 1, 0, 0, 0, 0],   # left half lit
                     [0, 0, 0, 0, 1, 1, 1, 1],   # right half lit
                     [1, 0, 1, 0, 1, 0, 1, 0]],  # every other pixel
                    dtype=float)


def noisy_patterns(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patterns (classes in turn) with 10 % of pixels flipped and some jitter, as
    rotation angles in [0, pi]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(PATTERNS)
    pixels = PATTERNS[labels]
    pixels = np.where(rng.random(pixels.shape) < 0.1, 1.0 - pixels, pixels)
    return np.pi * pixels + rng.normal(scale=0.2, size=pixels.shape), labels


async def pattern_recognition(quick: bool) -> Summary:
    train_x, train_y = noisy_patterns(60, seed=2)
    test_patterns, test_y = noisy_patterns(30, seed=3)
    config = TrainingConfig(epochs=10 if quick else 20, batch_size=10, learning_rate=0.05,
                            seed=0)
    config.n_qubits = 8  # the spec's line
    # the spec's model; three classes are read as basis-state probabilities of 2 qubits
    model = QuantumModel(input_dim=8, output_dim=3, n_layers=4, task="classification",
                         seed=2)
    trainer = QuantumTrainer(config)
    history = await trainer.train(model, DataLoader(train_x, train_y, 10, seed=0))
    predictions = await model.forward(test_patterns)  # class probabilities
    accuracy = float(np.mean(np.argmax(predictions, axis=1) == test_y))
    print(f"  {model.count_parameters()} parameters, {len(history['losses'])} epochs: loss "
          f"{history['losses'][0]:.4f} -> {history['losses'][-1]:.4f}, training accuracy "
          f"{history['accuracy'][-1]:.4f}")
    print(f"  test accuracy: {accuracy:.4f} on {len(test_y)} unseen patterns (chance "
          f"{1 / len(PATTERNS):.4f})")
    await trainer.aclose()
    return {"losses": history["losses"], "train_accuracy": history["accuracy"][-1],
            "test_accuracy": accuracy, "chance": 1 / len(PATTERNS)}


# -- 4. multi-backend training --------------------------------------------------------------------
async def multi_backend(quick: bool) -> Summary:
    rng = np.random.default_rng(4)
    x = rng.uniform(-1.0, 1.0, size=(8, 4))
    y = QuantumModel(4, 2, 2, seed=7).predict(x)
    config = TrainingConfig(epochs=1 if quick else 2, batch_size=8, learning_rate=0.05,
                            seed=0)
    backend_manager = BackendManager(config)
    data_loader = DataLoader(x, y, 8, seed=0)

    # Compare performance across backends
    backends = ["mock_ideal", "mock_noisy", "cirq"]
    results: dict[str, Any] = {}
    for backend_name in backends:
        try:
            backend = backend_manager.get_backend(backend_name)
        except QStoreError as e:  # e.g. Cirq not installed: say so and go on
            print(f"  {backend_name}: skipped ({e})")
            continue
        model = QuantumModel(4, 2, 2, backend, seed=0)
        # One trainer per run: a trainer holds one run's state (epoch, optimiser moments), so
        # the spec's single trainer would continue the first run instead of starting afresh.
        trainer = QuantumTrainer(config, backend_manager)
        start = time.perf_counter()
        history = await trainer.train(model, data_loader)
        stats = trainer.get_performance_stats()
        methods = sorted({m for epoch in history["gradient_methods"] for m in epoch})
        results[backend_name] = {"losses": history["losses"], "methods": methods,
                                 "circuits_per_batch": stats["avg_circuits"],
                                 "seconds": time.perf_counter() - start}
        print(f"  {backend_name:<10} losses {[round(v, 6) for v in history['losses']]}, "
              f"{'+'.join(methods)}, {stats['avg_circuits']:.0f} circuits per batch of "
              f"{config.batch_size}, {time.perf_counter() - start:.1f} s")
        await trainer.aclose()
    await backend_manager.close()
    ideal = results["mock_ideal"]["losses"]
    for name in ("mock_noisy", "cirq"):
        if name in results:
            gap = float(np.max(np.abs(np.subtract(results[name]["losses"], ideal))))
            results[name]["max_loss_difference_from_ideal"] = gap
            print(f"  {name} vs mock_ideal: max loss difference {gap:.2e}")
    n = QuantumModel(4, 2, 2).count_parameters()
    print(f"  parameter shift on a backend: 1 + 2 x {n} = {1 + 2 * n} circuits per sample; "
          "the exact local simulator answers with the adjoint method (2 per sample)")
    return results


# -- 5. transfer learning -------------------------------------------------------------------------
async def transfer_learning(quick: bool) -> Summary:
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.0, 1.0, size=(40, 4))
    # two related tasks: the same kind of boundary, shifted
    task_a_loader = DataLoader(x, (x[:, 0] + x[:, 1] > 0).astype(int), 10, seed=0)
    task_b_loader = DataLoader(x, (x[:, 0] + x[:, 1] > 0.4).astype(int), 10, seed=0)
    config = TrainingConfig(epochs=5 if quick else 10, batch_size=10, learning_rate=0.05,
                            seed=0)
    model = QuantumModel(4, 2, 2, task="classification", seed=5)
    trainer = QuantumTrainer(config)
    fresh_b, _ = await trainer.evaluate(QuantumModel(4, 2, 2, task="classification", seed=5),
                                        task_b_loader)

    # Pre-train on task A (train() returns the run's history so far: copy what we keep)
    task_a = list((await trainer.train(model, task_a_loader))["losses"])
    # Freeze early layers
    model.quantum_layer.freeze_parameters([0, 1, 2, 3])
    frozen, others = model.weights[:4].copy(), model.weights[4:].copy()
    before_b, _ = await trainer.evaluate(model, task_b_loader)
    # Fine-tune on task B with the spec's smaller step size
    config.learning_rate = 0.001
    history = await trainer.train(model, task_b_loader, epochs=config.epochs)
    task_b = history["losses"][len(task_a):]
    unchanged = bool(np.array_equal(model.weights[:4], frozen))
    moved = float(np.max(np.abs(model.weights[4:] - others)))
    print(f"  task A: loss {task_a[0]:.4f} -> {task_a[-1]:.4f}")
    print(f"  task B: loss {fresh_b:.4f} for the untrained model, {before_b:.4f} for the "
          f"model pre-trained on A, {task_b[-1]:.4f} after fine-tuning (learning rate "
          f"{history['learning_rates'][-1]:g})")
    print(f"  frozen weights 0-3 unchanged: {unchanged}; trainable weights moved by up to "
          f"{moved:.4f}; trainable parameters {model.count_parameters()} of "
          f"{model.n_parameters}")
    await trainer.aclose()
    return {"task_a_losses": task_a, "task_b_untrained": fresh_b,
            "task_b_pretrained": before_b, "task_b_losses": task_b,
            "frozen_unchanged": unchanged, "trainable_moved": moved,
            "learning_rates": history["learning_rates"],
            "trainable": model.count_parameters(), "parameters": model.n_parameters}


# -- 6. train once, run anywhere ------------------------------------------------------------------
async def train_once_run_anywhere(quick: bool) -> Summary:
    rng = np.random.default_rng(6)
    x = rng.uniform(-1.0, 1.0, size=(16, 4))
    train_loader = DataLoader(x, (x[:, 0] + x[:, 1] > 0).astype(int), 8, seed=0)
    local_epochs, ionq_epochs = 5, 1 if quick else 2

    def make() -> tuple[TrainingConfig, QuantumModel]:
        return (TrainingConfig(epochs=local_epochs, batch_size=8, learning_rate=0.05, seed=0),
                QuantumModel(4, 2, 2, task="classification", seed=6))

    # The local IonQ-compatible server stands in for IonQ's cloud (no modelled latency here).
    # For the real service, leave out ionq_base_url and set IONQ_API_KEY.
    with IonQEmulator(api_key="local-key", latency=LatencyModel(time_scale=0)) as server:
        config, model = make()
        trainer = QuantumTrainer(config)
        # Train on simulator
        config.quantum_sdk = "mock"
        await trainer.train(model, train_loader)
        # Fine-tune on IonQ (here its simulator, exact, through the server)
        config.quantum_sdk = "ionq"
        config.quantum_api_key = "local-key"
        config.ionq_base_url = server.root_url
        # estimate_cost is synchronous (it may time a local step): run it off the event loop
        estimate = await asyncio.to_thread(trainer.estimate_cost, model, train_loader,
                                           epochs=ionq_epochs)
        history = await trainer.train(model, train_loader, epochs=ionq_epochs)
        stats = trainer.get_performance_stats()
        jobs = [j for j in server.jobs.values() if j.parent_id is None]
        server_circuits = sum(j.circuits for j in jobs)
        # the same model scored on IonQ and locally
        loss_ionq, _ = await trainer.evaluate(model, train_loader)
        loss_local, _ = cross_entropy(model.predict(x), train_loader.y)
        await trainer.aclose()

    # the same training entirely on the local simulator
    config, reference_model = make()
    reference = QuantumTrainer(config)
    expected = (await reference.train(reference_model, train_loader,
                                      epochs=local_epochs + ionq_epochs))["losses"]
    await reference.aclose()

    tuned = history["losses"][local_epochs:]
    gap = float(np.max(np.abs(np.subtract(tuned, expected[local_epochs:]))))
    methods = sorted({m for epoch in history["gradient_methods"][local_epochs:] for m in epoch})
    print(f"  local simulator, {local_epochs} epochs: loss {history['losses'][0]:.4f} -> "
          f"{history['losses'][local_epochs - 1]:.4f}")
    print(f"  IonQ (local server), {ionq_epochs} more epochs with {'+'.join(methods)}: losses "
          f"{[round(v, 6) for v in tuned]}")
    same_epochs = [round(v, 6) for v in expected[-ionq_epochs:]]
    print(f"  the same epochs on the local simulator: {same_epochs} (max difference {gap:.1e})")
    print(f"  training circuits on IonQ: estimated {estimate.circuits}, counted by the trainer "
          f"{int(stats['backend_circuits'])}, run by the server {server_circuits} in "
          f"{len(jobs)} jobs")
    print(f"  loss of the final model on IonQ {loss_ionq:.6f}, locally {loss_local:.6f}")
    return {"losses": history["losses"], "local_losses": expected, "max_difference": gap,
            "methods": methods, "estimated_circuits": estimate.circuits,
            "server_circuits": server_circuits, "server_jobs": len(jobs),
            "trainer_circuits": int(stats["backend_circuits"]), "loss_ionq": loss_ionq,
            "loss_local": float(loss_local), "local_epochs": local_epochs,
            "ionq_epochs": ionq_epochs}


EXAMPLES: dict[int, tuple[str, Callable[[bool], Awaitable[Summary]]]] = {
    1: ("Basic quantum neural network", basic_qnn),
    2: ("Quantum autoencoder (dimensionality reduction)", autoencoder),
    3: ("Pattern recognition", pattern_recognition),
    4: ("Multi-backend training", multi_backend),
    5: ("Transfer learning", transfer_learning),
    6: ("Train once, run anywhere", train_once_run_anywhere),
}


async def main(argv: list[str] | None = None) -> dict[str, Summary]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--example", type=int, action="append", choices=sorted(EXAMPLES),
                   help="run only this example (repeatable); default: all")
    p.add_argument("--quick", action="store_true", help="smaller runs")
    p.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = p.parse_args(argv)
    out: dict[str, Summary] = {}
    for number in args.example or sorted(EXAMPLES):
        title, run = EXAMPLES[number]
        print(f"\n== Example {number}: {title} ==", flush=True)
        start = time.perf_counter()
        out[str(number)] = await run(args.quick)
        print(f"  ({time.perf_counter() - start:.1f} s)")
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    asyncio.run(main())
