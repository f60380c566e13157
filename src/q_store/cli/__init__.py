"""The ``q-store`` command.

``demo`` (the spec's 8-qubit example), ``train CONFIG`` (a run from a TOML/YAML file, recorded
in the run store), ``evaluate RUN``, ``runs`` (list, show, compare, delete, plot) and
``ionq-emulator`` (a local IonQ-compatible server). Errors a user can fix (a bad config file,
an unknown run) are printed as one line naming the problem, exit status 2; other q_store
errors (a backend failure) exit with 1; an interrupted training run exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from q_store.errors import (
    ConfigError,
    NotSupportedError,
    QStoreError,
    StoreError,
    ValidationError,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="q-store", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the spec's 8-qubit example on the local simulator")
    demo.add_argument("--epochs", type=int, default=5)
    demo.add_argument("--samples", type=int, default=100)
    demo.add_argument("--qubits", type=int, default=8)
    demo.add_argument("--depth", type=int, default=2)
    demo.add_argument("--batch-size", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    from q_store.cli import evaluate, runs, train, tune

    train.add_arguments(sub.add_parser(
        "train", help="train a model described by a TOML or YAML file; the run is recorded "
                      "in the run store"))
    evaluate.add_arguments(sub.add_parser("evaluate", help="evaluate a stored run on data"))
    runs.add_arguments(sub.add_parser("runs", help="list, show, compare, delete or plot "
                                                   "stored runs"))
    tune.add_arguments(sub.add_parser("tune", help="hyperparameter search with Optuna"))
    from q_store.cli import dashboard

    dashboard.add_arguments(sub.add_parser("dashboard", help="serve the run store as a live "
                                                             "web dashboard (127.0.0.1)"))
    emulator = sub.add_parser("ionq-emulator",
                              help="serve a local IonQ-compatible API (offline development)")
    from q_store.backends.ionq.emulator import add_arguments

    add_arguments(emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ionq-emulator":
        from q_store.backends.ionq.emulator import run_from_args

        return int(run_from_args(args))
    if args.command == "demo":
        from q_store.demo import run_demo

        run_demo(n_samples=args.samples, n_qubits=args.qubits, depth=args.depth,
                 epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        return 0
    try:
        if args.command == "train":
            from q_store.cli.train import run_train

            return run_train(args)
        if args.command == "evaluate":
            from q_store.cli.evaluate import run_evaluate

            return run_evaluate(args)
        if args.command == "dashboard":
            from q_store.cli.dashboard import run_dashboard

            return run_dashboard(args)
        if args.command == "tune":
            from q_store.cli.tune import run as run_tune

            return run_tune(args)
        from q_store.cli.runs import run_runs

        return run_runs(args)
    except (ConfigError, StoreError, ValidationError, NotSupportedError) as exc:
        print(f"q-store {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except QStoreError as exc:  # a backend or budget failure: said in one line, not a trace
        print(f"q-store {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
