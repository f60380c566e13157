"""The ``q-store`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="q-store", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the spec's 8-qubit example on the local simulator")
    demo.add_argument("--epochs", type=int, default=5)
    demo.add_argument("--samples", type=int, default=100)
    demo.add_argument("--qubits", type=int, default=8)
    demo.add_argument("--depth", type=int, default=2)
    demo.add_argument("--batch-size", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    emulator = sub.add_parser("ionq-emulator",
                              help="serve a local IonQ-compatible API (offline development)")
    from q_store.backends.ionq.emulator import add_arguments

    add_arguments(emulator)
    from q_store import cli_tune  # `q-store tune`, in its own module
    cli_tune.add_arguments(sub.add_parser("tune", help="hyperparameter search with Optuna"))
    args = parser.parse_args(argv)
    if args.command == "tune":
        return cli_tune.run(args)
    if args.command == "ionq-emulator":
        from q_store.backends.ionq.emulator import run_from_args

        return int(run_from_args(args))
    if args.command == "demo":
        from q_store.demo import run_demo

        run_demo(n_samples=args.samples, n_qubits=args.qubits, depth=args.depth,
                 epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
