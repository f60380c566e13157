"""Fashion-MNIST quantum classifier (the v3.5 example), on the local exact simulator.

Reads the standard Fashion-MNIST IDX files from a directory you downloaded them to (q_store
never downloads anything), or uses scikit-learn's 8x8 digits::

    python examples/fashion_classifier.py --data ~/data/fashion-mnist --train-samples 2000
    python examples/fashion_classifier.py --digits

Images are area-downsampled to 2**n_qubits pixels and amplitude-encoded (the classifier's
defaults, ``q_store.models.FashionClassifierDefaults``); training is the spec's
``await trainer.train(model, train_loader, val_loader)`` with a stratified 10 % of the training
images held out for validation. Printed: one line per epoch, then the test accuracy.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from q_store import QuantumTrainer, datasets
from q_store.datasets import Dataset
from q_store.errors import QStoreError
from q_store.models import DEFAULTS, QuantumFashionClassifier


def load_data(args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    if args.digits:
        return datasets.load("digits").split(0.3, seed=args.seed)
    train = datasets.load("fashion_mnist", path=args.data, split="train")
    test = datasets.load("fashion_mnist", path=args.data, split="test")
    return train, test


def subsample(data: Dataset, n: int | None, seed: int) -> Dataset:
    return data if n is None or n >= len(data) else data.sample(n, seed=seed)


def print_epoch(total: int) -> Any:
    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "epoch":
            print(f"epoch {event['epoch']}/{total}: loss {event['loss']:.4f}, accuracy "
                  f"{event['accuracy']:.4f}, val_loss {event['val_loss']:.4f}", flush=True)
    return on_event


async def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="directory with the Fashion-MNIST IDX files")
    src.add_argument("--digits", action="store_true", help="scikit-learn's 8x8 digits")
    p.add_argument("--train-samples", type=int, default=None,
                   help="stratified subsample of the training split (default: all)")
    p.add_argument("--test-samples", type=int, default=None)
    p.add_argument("--n-qubits", type=int, default=DEFAULTS.n_qubits)
    p.add_argument("--circuit-depth", type=int, default=DEFAULTS.circuit_depth)
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    train, test = load_data(args)
    train = subsample(train, args.train_samples, args.seed)
    test = subsample(test, args.test_samples, args.seed)
    train, val = train.split(0.1, seed=args.seed)
    print(f"data: {len(train)} train / {len(val)} validation / {len(test)} test images, "
          f"{train.image_shape[0]}x{train.image_shape[1]}, {train.n_classes} classes")

    # the spec's model ...
    model = QuantumFashionClassifier(n_qubits=args.n_qubits, circuit_depth=args.circuit_depth,
                                     n_classes=train.n_classes,
                                     image_shape=train.image_shape, seed=args.seed)
    print(f"model: {model}")
    print(f"preprocessing: {model.preprocessing.describe()}")
    model.fit_preprocessing(train.X)  # learns nothing for downsampling; needed for PCA

    # ... and the spec's training loop
    config = model.training_config(epochs=args.epochs, seed=args.seed)
    trainer = QuantumTrainer(config)
    if trainer.performance_tracker is not None:  # the run's event stream
        trainer.performance_tracker.subscribe(print_epoch(config.epochs))
    await trainer.train(model, train.loader(config.batch_size, seed=args.seed),
                        val.loader(len(val), shuffle=False))
    await trainer.aclose()

    scores = model.evaluate(test)
    print(f"weights: {model.count_parameters()}")
    print(f"test loss: {scores['loss']:.4f}")
    print(f"test accuracy: {scores['accuracy']:.4f} (chance {1 / test.n_classes:.4f})")
    return scores["accuracy"]


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except QStoreError as e:  # bad data or options: say what, without a traceback
        sys.exit(f"error: {e}")
