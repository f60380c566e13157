"""QuantumFashionClassifier on scikit-learn digits: test accuracy over 5 stratified splits.

The classifier exactly as a user gets it (``q_store.models.DEFAULTS``: 8x8 pixels amplitude-
encoded on 6 qubits, RY layers with full CNOTs, Adam with an exponentially decaying learning
rate, exact adjoint gradients on the local simulator), trained with ``fit`` on 70 % of the
digits and scored once on the other 30 %, for the splits ``Dataset.split(0.3, seed=s)``,
``s = 0..4`` (stratified, ``q_store.datasets``). Each circuit depth in ``--depths`` is one
row; a ``LogisticRegression`` (scikit-learn defaults, ``max_iter=5000``) on the same raw
pixels and splits is the classical baseline. Reported per row: mean, standard deviation, min
and max of the test accuracy over the splits, weights, mean training seconds.

This is the baseline for the learning-quality work (issue item 6): it measures the defaults,
it does not tune them (that must use training folds only, e.g. ``Dataset.kfold``).

Usage::

    python benchmarks/bench_fashion_classifier.py [--depths 4 50] [--seeds 0 1 2 3 4]
        [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchenv import environment, load_average, text_table
from q_store import datasets
from q_store.datasets import Dataset
from q_store.models import DEFAULTS, QuantumFashionClassifier

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fashion_classifier.json"
COLUMNS = ("model", "weights", "mean acc", "std", "min", "max", "train s (mean)")


@dataclass
class Row:
    model: str
    weights: int
    accuracies: list[float]
    seconds: list[float]

    def cells(self) -> list[str]:
        a = np.array(self.accuracies)
        return [self.model, str(self.weights), f"{100 * a.mean():.2f} %",
                f"{100 * a.std(ddof=1):.2f}" if len(a) > 1 else "-",
                f"{100 * a.min():.2f} %", f"{100 * a.max():.2f} %",
                f"{np.mean(self.seconds):.1f}"]


def quantum(depth: int, splits: list[tuple[Dataset, Dataset]]) -> Row:
    accs, secs, weights = [], [], 0
    for train, test in splits:
        model = QuantumFashionClassifier.for_dataset(train, circuit_depth=depth)
        t0 = time.perf_counter()
        model.fit(train)
        secs.append(time.perf_counter() - t0)
        accs.append(model.evaluate(test)["accuracy"])
        weights = model.count_parameters()
        print(f"[bench] depth {depth}, split {len(accs)}: {100 * accs[-1]:.2f} % in "
              f"{secs[-1]:.1f} s", file=sys.stderr, flush=True)
    rot = "+".join(DEFAULTS.rotations)
    return Row(f"QuantumFashionClassifier depth {depth} ({rot}, {DEFAULTS.entanglement} "
               f"CNOTs, {DEFAULTS.epochs} epochs)", weights, accs, secs)


def logistic(splits: list[tuple[Dataset, Dataset]]) -> Row:
    accs, secs = [], []
    for train, test in splits:
        t0 = time.perf_counter()
        clf = LogisticRegression(max_iter=5000).fit(train.X, train.y)
        secs.append(time.perf_counter() - t0)
        accs.append(float(clf.score(test.X, test.y)))
    return Row("LogisticRegression (raw pixels)", int(clf.coef_.size + clf.intercept_.size),
               accs, secs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", type=int, nargs="+", default=[DEFAULTS.circuit_depth])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    env = environment(("q-store", "numpy", "numba", "scikit-learn"))
    digits = datasets.load("digits")
    splits = [digits.split(0.3, seed=s) for s in args.seeds]
    small = splits[0][0].sample(40, seed=0)  # compile the kernels outside the timed region
    QuantumFashionClassifier.for_dataset(small, circuit_depth=1).fit(small, epochs=1)
    rows = [quantum(d, splits) for d in args.depths] + [logistic(splits)]
    env["load_average_at_end"] = load_average()
    table = text_table(COLUMNS, [r.cells() for r in rows])
    note = (f"digits, 70/30 stratified splits, seeds {args.seeds}; defaults {DEFAULTS}; "
            f"{env['cpu_count']} CPUs ({env['cpu_model']}), load average "
            f"{env['load_average_at_start']} at start, {env['load_average_at_end']} at end")
    print(table)
    print(note)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"benchmark": "QuantumFashionClassifier defaults on digits",
                               "seeds": args.seeds, "defaults": asdict(DEFAULTS),
                               "environment": env, "rows": [asdict(r) for r in rows]}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    md = ["| " + " | ".join(COLUMNS) + " |",
          "| --- | " + " | ".join(["---:"] * (len(COLUMNS) - 1)) + " |"]
    md += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(md) + f"\n\n{note}\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
