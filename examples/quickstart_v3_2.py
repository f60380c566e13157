"""The v3.2 quick start: train a 4-qubit model on the exact local simulator.

The spec's "Basic Training Example", as written, with the data it leaves to the reader: 50
samples of 4 features, two classes (whether ``x0 + x1 > 0``)::

    python examples/quickstart_v3_2.py          # 10 epochs, as the spec's config says
    python examples/quickstart_v3_2.py --json   # also a JSON summary as the last line

Printed: the encoded data's shape, the loss per epoch, the final loss, the norm of the loss
gradient over all 50 samples after training, the training accuracy and the time taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np

from q_store.core import BackendManager, QuantumModel, QuantumTrainer, TrainingConfig
from q_store.core.data_encoder import QuantumDataEncoder
from q_store.data import DataLoader


def make_data(n: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples in [-1, 1]^4; label 1 where ``x0 + x1 > 0`` (a task 4 qubits can learn)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


async def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = p.parse_args(argv)
    training_data, labels = make_data()

    # Configure training (the spec's block; pinecone_api_key is accepted and unused: this
    # package stores nothing in Pinecone)
    config = TrainingConfig(
        pinecone_api_key="your-api-key",
        quantum_sdk="mock",  # the exact local simulator; or "cirq", "qiskit", "ionq"
        learning_rate=0.01,
        epochs=args.epochs,
        batch_size=5,
        n_qubits=4,
        seed=0,
    )

    # Initialize backend
    backend_manager = BackendManager(config)
    backend = backend_manager.get_backend("mock_ideal")

    # Create model. The spec's call makes a model with two outputs; `task="classification"`
    # makes them the probabilities of the two classes (the default, "regression", would read
    # two <Z> values and want two real targets per sample).
    model = QuantumModel(input_dim=4, output_dim=2, n_layers=2, backend=backend,
                         task="classification", seed=0)

    # Prepare data. The encoder is the spec's standalone step; the model encodes its inputs
    # itself (angle encoding, one feature per qubit), so the loader carries the raw features.
    encoder = QuantumDataEncoder(n_qubits=4)
    encoded_data = await encoder.encode_batch(training_data, method="amplitude")
    norms = np.linalg.norm(encoded_data.states, axis=1)
    print(f"Encoded {len(encoded_data)} samples as {encoded_data.states.shape[1]}-amplitude "
          f"states on {encoded_data.n_qubits} qubits (norms {norms.min():.6f}.."
          f"{norms.max():.6f})")
    data_loader = DataLoader(training_data, labels, batch_size=config.batch_size, seed=0)

    print(f"Training quantum model ({config.epochs} epochs, {len(training_data)} samples, "
          f"{model.n_qubits} qubits, {model.count_parameters()} parameters)")
    trainer = QuantumTrainer(config, backend_manager)
    if trainer.performance_tracker is not None:  # one line per epoch from the event stream
        trainer.performance_tracker.subscribe(
            lambda e: e["event"] == "epoch" and print(
                f"Epoch {e['epoch']}/{config.epochs}: Loss = {e['loss']:.4f}", flush=True))

    # Train
    start = time.perf_counter()
    history = await trainer.train(model, data_loader)
    seconds = time.perf_counter() - start

    # the loss gradient over the whole data set after training (no update), and the accuracy
    _, gradient = await asyncio.to_thread(trainer.loss_and_gradient, model, training_data,
                                          labels)
    predictions = await model.forward(training_data)
    accuracy = float(np.mean(np.argmax(predictions, axis=1) == labels))
    await trainer.aclose()

    print(f"\nFinal loss: {history['losses'][-1]:.4f}")
    print(f"Gradient norm: {np.linalg.norm(gradient):.4f}")
    print(f"Training accuracy: {accuracy:.4f} (chance 0.5)")
    print(f"Training time: {seconds:.1f} seconds")
    summary = {"epochs": config.epochs, "losses": history["losses"],
               "gradient_norm": float(np.linalg.norm(gradient)), "accuracy": accuracy,
               "parameters": model.count_parameters(), "encoded_shape":
               list(encoded_data.states.shape), "encoded_norm_error":
               float(np.max(np.abs(norms - 1.0)))}
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    asyncio.run(main())
