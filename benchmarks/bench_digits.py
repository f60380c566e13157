"""Handwritten digits: the QuantumFashionClassifier defaults over 5 stratified 70/30 splits.

Protocol (one split protocol throughout, ``q_store.datasets``)
--------------------------------------------------------------
scikit-learn's digits (1797 images of 8x8 pixel values 0..16, 10 classes) are split 70/30,
stratified, by ``Dataset.split(0.3, seed=s)`` for the split seeds ``s = 0..4``
(:func:`q_store.datasets.train_test_indices`). On each split the classifier exactly as a user
gets it, ``QuantumFashionClassifier.for_dataset(train)`` with ``q_store.models.DEFAULTS``
(64 pixels amplitude-encoded on 6 qubits, RY layers and CNOTs with at most 300 weights, the
readout of the defaults, Adam with the defaults' schedule, exact adjoint gradients on the local
simulator), is trained with ``fit`` on the 70 % and scored once on the 30 %. Reported per split:
test accuracy, weights, epochs, training time as process CPU seconds (all threads) and wall
seconds, the 1-minute load average; then mean, standard deviation (ddof=1), min and max over
the splits, and a ``LogisticRegression`` (scikit-learn defaults, ``max_iter=5000``) on the same
raw pixels and splits. Training is a fixed number of epochs (the defaults'), not a wall-clock
cut: results do not depend on the machine's load. The budget is 60 s of training per split on
a 2-core machine; CPU seconds are the load-independent measure of it (on an idle machine the
wall time is at most the CPU time, since the training keeps at least one core busy), and wall
seconds are reported as measured, under whatever load the machine had.

Model selection (``--select``): never on test data. The configuration in ``DEFAULTS`` was fixed
in advance by 5-fold stratified cross-validation (``Dataset.kfold(5, seed=0)``) on the training
part of split 0 only: every candidate in ``GRID`` is trained on 4 folds and scored on the 5th,
and the candidate with the best mean validation accuracy won (ties: the cheaper one). The test
part of split 0 is never used for it; the test parts of splits 1-4 overlap split 0's training
part, so only split 0's test accuracy is strictly untouched by the selection. ``--select
--split-seeds 0 1 2 3 4`` repeats the selection on every split's own training part (nested
cross-validation) and ``--nested`` then also trains each split's own winner on that split and
reports its test accuracy: that column is free of the overlap. ``--jobs N`` runs the fits in N
processes (one numba thread each), for a machine with many cores; ``--resume LOG`` keeps the
fits of an earlier run's log (``digits_selection.fits.jsonl``, each fit with the machine it ran
on) and runs the missing ones. CPU seconds in the selection are information only (they come
from whichever machine ran the fit).

Usage::

    python benchmarks/bench_digits.py [--nested] [--previous] [--out PATH]
    python benchmarks/bench_digits.py --select [--split-seeds 0 ...] [--jobs N]
        [--resume LOG ...] [--out PATH]

Writes ``benchmarks/results/digits.json`` and ``digits.md`` (``digits_selection.json``,
``.md`` and ``.fits.jsonl`` for ``--select``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchenv import environment, load_average, text_table
from q_store import datasets
from q_store.datasets import Dataset
from q_store.models import DEFAULTS, FashionClassifierDefaults, QuantumFashionClassifier

SPLIT_SEEDS = (0, 1, 2, 3, 4)
TEST_SIZE = 0.3
CV_FOLDS, CV_SEED = 5, 0
MAX_WEIGHTS = 300
BUDGET_S = 60.0
TARGET_ACCURACY = 0.955
RESULTS = Path(__file__).resolve().parent / "results"

# The model of the benchmark before the learning-quality work (300 RY weights, depth 50, full
# CNOTs, the projector readout on 4 of the 6 wires renormalised over the classes without a
# temperature, 60 epochs), for the --previous row.
PREVIOUS = dataclasses.replace(DEFAULTS, circuit_depth=50, entanglement="full",
                               readout="projectors", readout_temperature=None,
                               init_scale=1.0, epochs=60, batch_size=16, learning_rate=0.05,
                               learning_rate_schedule="exponential",
                               learning_rate_final_fraction=0.05)


def _candidate(**kw: Any) -> FashionClassifierDefaults:
    return dataclasses.replace(DEFAULTS, **kw)


# The selection grid: readout, its temperature, epochs (every candidate: 300 RY weights, depth
# 50 x 6 qubits, circular CNOTs, Adam from lr 0.05 decaying exponentially to 0.05 x, batch 16).
# The fixed parts come from single-fold trials on fold 0 of split 0's training part (training
# data only): a softmax temperature was the large gain (10 epochs, basis groups: no temperature
# 90.1 %, T=20 94.4 %, T=40 97.2 %); with T=40, circular or linear CNOTs for 20 epochs (97.2 %)
# were as good as full ones for 25 (96.0 %) at about half the CPU time; initial weights in
# [-0.1, 0.1] (95.2 %) and a cosine schedule to 0.01 x (95.6 %) were not better than [-1, 1]
# with the exponential schedule (97.2 %). One fold of 252 images: +-1.2 points of noise.
GRID: dict[str, FashionClassifierDefaults] = {
    f"{ro}-T{t:g}-e{ep}": _candidate(circuit_depth=50, entanglement="circular", readout=ro,
                                     readout_temperature=t, epochs=ep, learning_rate=0.05,
                                     learning_rate_schedule="exponential",
                                     learning_rate_final_fraction=0.05, batch_size=16,
                                     init_scale=1.0)
    for ro in ("basis_groups", "projectors") for t in (20.0, 40.0, 80.0) for ep in (20, 45)
}


def describe(d: FashionClassifierDefaults) -> str:
    t = "" if d.readout_temperature is None else f", T={d.readout_temperature:g}"
    return (f"depth {d.circuit_depth} {'+'.join(d.rotations)}, {d.entanglement} CNOTs, "
            f"{d.readout}{t}, init {d.init_scale:g}, {d.epochs} epochs, lr {d.learning_rate:g} "
            f"{d.learning_rate_schedule} -> x{d.learning_rate_final_fraction:g}, batch "
            f"{d.batch_size}")


# -- one fit ------------------------------------------------------------------------------------
@dataclass
class Fit:
    """One training run and its score on held-out data (validation fold or test split)."""

    accuracy: float
    train_accuracy: float
    weights: int
    epochs: int
    cpu_s: float
    wall_s: float
    load: float | None


def split(seed: int) -> tuple[Dataset, Dataset]:
    return datasets.load("digits").split(TEST_SIZE, seed=seed)


def fit_and_score(d: FashionClassifierDefaults, train: Dataset, held_out: Dataset) -> Fit:
    model = QuantumFashionClassifier.for_dataset(train, defaults=d)
    if model.count_parameters() > MAX_WEIGHTS:
        raise ValueError(f"{model.count_parameters()} weights > {MAX_WEIGHTS}")
    c0, t0 = time.process_time(), time.perf_counter()
    model.fit(train)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return Fit(model.evaluate(held_out)["accuracy"], model.evaluate(train)["accuracy"],
               model.count_parameters(), d.epochs, cpu, wall, load_average())


def warm_up(d: FashionClassifierDefaults = DEFAULTS) -> None:
    """Compile the numba kernels once, outside the timed region."""
    small = split(0)[0].sample(40, seed=0)
    tiny = dataclasses.replace(d, circuit_depth=1, epochs=1)
    QuantumFashionClassifier.for_dataset(small, defaults=tiny).fit(small)


def _cv_task(d: FashionClassifierDefaults, split_seed: int, fold: int) -> Fit:
    train, _ = split(split_seed)  # the test part is not touched
    tr, va = list(train.kfold(CV_FOLDS, seed=CV_SEED))[fold]
    return fit_and_score(d, tr, va)


def _worker_init() -> None:
    warm_up()


# -- selection ----------------------------------------------------------------------------------
def _machine() -> str:
    env = environment(())
    return f"{env['cpu_count']} x {env['cpu_model']}, numba threads {env['numba_num_threads']}"


def load_fits(paths: list[Path]) -> dict[tuple[str, int, int], dict[str, Any]]:
    """Fit records ``(candidate, split, fold) -> record`` from earlier ``--select`` logs."""
    out = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[r["candidate"], r["split"], r["fold"]] = r
    return out


def select(split_seeds: list[int], jobs: int, log: Path | None = None,
           earlier: dict[tuple[str, int, int], dict[str, Any]] | None = None
           ) -> dict[int, Any]:
    """Cross-validate every GRID candidate on each split's training part; ``log`` gets one
    JSON line per finished fit (kept when a long run is cut short), ``earlier`` holds fits
    from earlier runs that are not repeated."""
    tasks = [(name, s, f) for s in split_seeds for name in GRID for f in range(CV_FOLDS)]
    machine = _machine()
    records: dict[int, dict[str, Any]] = {}

    def done(i: int, record: dict[str, Any]) -> None:
        records[i] = record
        print(f"[select] split {record['split']} {record['candidate']} fold "
              f"{record['fold']}: {100 * record['accuracy']:.2f} % ({record['cpu_s']:.1f} CPU "
              f"s, {record.get('machine', '?')})", file=sys.stderr, flush=True)
        if log is not None:
            with log.open("a") as fh:
                fh.write(json.dumps(record) + "\n")

    def record(i: int, fit: Fit) -> dict[str, Any]:
        n, s, f = tasks[i]
        return {"split": s, "candidate": n, "fold": f, **dataclasses.asdict(fit),
                "machine": machine}

    pending = []
    for i, key in enumerate(tasks):
        if earlier and key in earlier:
            done(i, earlier[key])
        else:
            pending.append(i)
    if jobs > 1:
        os.environ["NUMBA_NUM_THREADS"] = "1"  # inherited by the spawned workers
        machine = machine.rsplit(", numba threads", 1)[0] + ", numba threads 1"
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                                 initializer=_worker_init) as pool:
            futures = {pool.submit(_cv_task, GRID[tasks[i][0]], tasks[i][1], tasks[i][2]): i
                       for i in pending}
            for fu in as_completed(futures):
                done(futures[fu], record(futures[fu], fu.result()))
    elif pending:
        warm_up()
        for i in pending:
            n, s, f = tasks[i]
            done(i, record(i, _cv_task(GRID[n], s, f)))
    fits = [Fit(**{k: records[i][k] for k in Fit.__dataclass_fields__})
            for i in range(len(tasks))]
    by: dict[tuple[int, str], list[Fit]] = {}
    for (n, s, _), fit in zip(tasks, fits, strict=True):
        by.setdefault((s, n), []).append(fit)
    per_split = {}
    for s in split_seeds:
        rows = {n: {"cv_mean": float(np.mean([f.accuracy for f in by[s, n]])),
                    "cv_std": float(np.std([f.accuracy for f in by[s, n]], ddof=1)),
                    "train_mean": float(np.mean([f.train_accuracy for f in by[s, n]])),
                    "cpu_s_mean": float(np.mean([f.cpu_s for f in by[s, n]])),
                    "folds": [f.accuracy for f in by[s, n]]} for n in GRID}
        best = max(GRID, key=lambda n: (round(rows[n]["cv_mean"], 10), -rows[n]["cpu_s_mean"]))
        machines: dict[str, int] = {}
        for i, (_, s2, _) in enumerate(tasks):
            if s2 == s:
                m = records[i].get("machine", "?")
                machines[m] = machines.get(m, 0) + 1
        per_split[s] = {"candidates": rows, "best": best, "machines": machines}
    return per_split


def selection_report(per_split: dict[int, Any], env: dict[str, Any]) -> str:
    cols = ("candidate", "CV mean", "CV std", "train (4 folds)", "CPU s / fit")
    out = []
    for s, res in per_split.items():
        rows = res["candidates"]
        body = [[n, f"{100 * r['cv_mean']:.2f} %", f"{100 * r['cv_std']:.2f}",
                 f"{100 * r['train_mean']:.2f} %", f"{r['cpu_s_mean']:.1f}"]
                for n, r in sorted(rows.items(), key=lambda kv: -kv[1]["cv_mean"])]
        out += [f"Split seed {s}: {CV_FOLDS}-fold CV (seed {CV_SEED}) on its training part; "
                f"chosen: {res['best']} ({describe(GRID[res['best']])}).", "",
                "| " + " | ".join(cols) + " |", "| --- |" + " ---: |" * (len(cols) - 1)]
        out += ["| " + " | ".join(b) + " |" for b in body] + [""]
        out += ["Fits run on: " + "; ".join(f"{m} ({k} fits)"
                                            for m, k in res["machines"].items()) + ".", ""]
    out.append(f"Report written on {env['cpu_count']} CPUs ({env['cpu_model']}), "
               f"{env['timestamp']}; load {env['load_average_at_start']} at start, "
               f"{env['load_average_at_end']} at end. CPU s / fit: training on 4 folds (80 % "
               "of the training part), process CPU time on the machine that ran the fit.")
    return "\n".join(out) + "\n"


# -- the benchmark --------------------------------------------------------------------------------
def logistic(train: Dataset, test: Dataset) -> float:
    clf = LogisticRegression(max_iter=5000).fit(train.X, train.y)
    return float(clf.score(test.X, test.y))


def spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max())}


def recorded_selection() -> dict[str, Any] | None:
    path = RESULTS / "digits_selection.json"
    return json.loads(path.read_text()) if path.exists() else None


def _plain(d: FashionClassifierDefaults) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(d)))


def selection_check() -> str:
    """Whether DEFAULTS is the configuration the recorded selection chose on split 0."""
    rec = recorded_selection()
    if rec is None:
        return "no recorded selection (run --select)"
    best = rec["per_split"].get("0", {}).get("best")
    if best is None:
        return "the recorded selection has no split 0"
    same = rec["grid"][best] == _plain(DEFAULTS)
    return (f"DEFAULTS {'=' if same else '!='} the candidate chosen by CV on split 0's "
            f"training part ({best})")


def nested_choices() -> dict[int, tuple[str, FashionClassifierDefaults]]:
    """Each split's own CV winner, from the recorded ``--select --split-seeds 0 1 2 3 4``."""
    rec = recorded_selection()
    missing = [s for s in SPLIT_SEEDS if rec is None or str(s) not in rec["per_split"]]
    if missing:
        raise SystemExit(f"--nested needs a recorded selection for splits {missing}: run "
                         "--select --split-seeds 0 1 2 3 4 first")
    assert rec is not None
    out = {}
    for s in SPLIT_SEEDS:
        best = rec["per_split"][str(s)]["best"]
        fields = dict(rec["grid"][best])
        fields["image_shape"] = tuple(fields["image_shape"])
        fields["rotations"] = tuple(fields["rotations"])
        out[s] = (best, FashionClassifierDefaults(**fields))
    return out


def run(args: argparse.Namespace) -> int:
    env = environment(("q-store", "numpy", "numba", "scikit-learn"))
    nested = nested_choices() if args.nested else {}
    warm_up()
    rows: dict[str, list[Fit]] = {"defaults": [], "previous": [], "nested": []}
    logit = []
    for s in SPLIT_SEEDS:
        train, test = split(s)
        todo = [("defaults", DEFAULTS)] + ([("previous", PREVIOUS)] if args.previous else [])
        if s in nested and _plain(nested[s][1]) != _plain(DEFAULTS):
            todo.append(("nested", nested[s][1]))
        for name, d in todo:
            rows[name].append(fit_and_score(d, train, test))
            f = rows[name][-1]
            print(f"[bench] split {s} {name}: {100 * f.accuracy:.2f} % ({f.cpu_s:.1f} CPU s, "
                  f"{f.wall_s:.1f} wall s, load {f.load})", file=sys.stderr, flush=True)
        if s in nested and _plain(nested[s][1]) == _plain(DEFAULTS):
            rows["nested"].append(rows["defaults"][-1])
        logit.append(logistic(train, test))
    env["load_average_at_end"] = load_average()
    cols = ["split seed", "quantum acc", "logistic acc", "weights", "epochs", "train CPU s",
            "train wall s", "load"]
    if nested:
        cols[2:2] = ["own-CV choice", "its acc"]
    body = []
    for i, s in enumerate(SPLIT_SEEDS):
        f = rows["defaults"][i]
        extra = [nested[s][0], f"{100 * rows['nested'][i].accuracy:.2f} %"] if nested else []
        body.append([str(s), f"{100 * f.accuracy:.2f} %", *extra, f"{100 * logit[i]:.2f} %",
                     str(f.weights), str(f.epochs), f"{f.cpu_s:.1f}", f"{f.wall_s:.1f}",
                     f"{f.load}"])
    q = spread([f.accuracy for f in rows["defaults"]])
    lr = spread(logit)
    nq = spread([f.accuracy for f in rows["nested"]]) if nested else None
    cpu = [f.cpu_s for f in rows["defaults"]]
    wall = [f.wall_s for f in rows["defaults"]]
    for stat in ("mean", "std", "min", "max"):
        unit = "" if stat == "std" else " %"
        timing = ["", ""] if stat == "std" else [
            f"{getattr(np, stat)(cpu):.1f}", f"{getattr(np, stat)(wall):.1f}"]
        extra = ["", f"{100 * nq[stat]:.2f}{unit}"] if nq else []
        body.append([stat, f"{100 * q[stat]:.2f}{unit}", *extra, f"{100 * lr[stat]:.2f}{unit}",
                     "", "", *timing, ""])
    weights = rows["defaults"][0].weights
    met = q["mean"] >= TARGET_ACCURACY and max(cpu) <= BUDGET_S and weights <= MAX_WEIGHTS
    gap = q["mean"] - TARGET_ACCURACY
    notes = [
        f"Model: QuantumFashionClassifier defaults ({describe(DEFAULTS)}); {weights} circuit "
        "weights, no classical trainable parameters (the readout temperature is a fixed "
        "hyperparameter).",
        f"Selection: {CV_FOLDS}-fold CV on split 0's training part only; {selection_check()}. "
        "Split 0's test part is untouched by the selection; splits 1-4's test parts overlap "
        "split 0's training part"
        + ("; 'own-CV choice' is each split's own CV winner (nested CV: chosen on that split's "
           "training part only) and 'its acc' its test accuracy." if nested else "."),
        f"Target: mean test accuracy >= {100 * TARGET_ACCURACY:g} % with <= {MAX_WEIGHTS} "
        f"circuit weights and <= {BUDGET_S:g} s of training per split: "
        f"{'met' if met else 'NOT met'} (mean {100 * q['mean']:.2f} %, "
        + (f"{100 * gap:.2f} points above" if gap >= 0 else f"short by {-100 * gap:.2f} points")
        + f"; {weights} weights; at most {max(cpu):.1f} CPU s per split).",
        "Training time: process CPU seconds (all threads) are the load-independent measure; "
        "wall seconds as measured under the load shown (other users' processes on the same "
        "cores).",
    ]
    if nq:
        notes.append(f"Nested CV (each split's own choice): mean {100 * nq['mean']:.2f} %, "
                     f"std {100 * nq['std']:.2f}, min {100 * nq['min']:.2f} %, max "
                     f"{100 * nq['max']:.2f} %.")
    if args.previous:
        p = spread([f.accuracy for f in rows["previous"]])
        notes.append(f"Previous defaults ({describe(PREVIOUS)}): mean {100 * p['mean']:.2f} %, "
                     f"std {100 * p['std']:.2f}, min {100 * p['min']:.2f} %, max "
                     f"{100 * p['max']:.2f} %, mean CPU "
                     f"{np.mean([f.cpu_s for f in rows['previous']]):.1f} s per split.")
    notes.append(f"{env['cpu_count']} CPUs ({env['cpu_model']}), numba threads "
                 f"{env['numba_num_threads']}; q-store {env['versions']['q-store']}, numpy "
                 f"{env['versions']['numpy']}, numba {env['versions']['numba']}, scikit-learn "
                 f"{env['versions']['scikit-learn']}, Python {env['python']}, "
                 f"{env['timestamp']}; 1-min load average {env['load_average_at_start']} at "
                 f"start, {env['load_average_at_end']} at end.")
    print(text_table(tuple(cols), body, left=1))
    for n in notes:
        print(f"note: {n}")
    md = ["| " + " | ".join(cols) + " |", "| --- |" + " ---: |" * (len(cols) - 1)]
    md += ["| " + " | ".join(b) + " |" for b in body]
    md_text = "\n".join(md) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    out = args.out or RESULTS / "digits.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "QuantumFashionClassifier defaults on digits, 5 stratified 70/30 "
                            "splits", "split_seeds": list(SPLIT_SEEDS),
               "defaults": dataclasses.asdict(DEFAULTS), "target_accuracy": TARGET_ACCURACY,
               "budget_seconds": BUDGET_S, "max_weights": MAX_WEIGHTS, "target_met": met,
               "environment": env, "notes": notes,
               "nested_choices": {s: n for s, (n, _) in nested.items()},
               "quantum": {n: [dataclasses.asdict(f) for f in fs] for n, fs in rows.items()
                           if fs},
               "quantum_spread": q, "nested_spread": nq, "logistic": logit,
               "logistic_spread": lr}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    out.with_suffix(".md").write_text(md_text)
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return 0


def run_select(args: argparse.Namespace) -> int:
    env = environment(("q-store", "numpy", "numba", "scikit-learn"))
    out = args.out or RESULTS / "digits_selection.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".fits.jsonl")
    earlier = load_fits(args.resume) if args.resume else None  # read before the log goes
    log.unlink(missing_ok=True)
    per_split = select(args.split_seeds, args.jobs, log, earlier)
    env["load_average_at_end"] = load_average()
    md = selection_report(per_split, env)
    print(md)
    out.write_text(json.dumps({"folds": CV_FOLDS, "cv_seed": CV_SEED, "environment": env,
                               "grid": {n: dataclasses.asdict(d) for n, d in GRID.items()},
                               "per_split": {str(s): r for s, r in per_split.items()}},
                              indent=2) + "\n")
    out.with_suffix(".md").write_text(md)
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--select", action="store_true",
                   help="cross-validate GRID on training folds (no test data)")
    p.add_argument("--split-seeds", type=int, nargs="+", default=[0],
                   help="with --select: the splits whose training parts are cross-validated")
    p.add_argument("--jobs", type=int, default=1, help="with --select: worker processes")
    p.add_argument("--resume", type=Path, nargs="+", default=None,
                   help="with --select: fit logs (.fits.jsonl) of earlier runs; their fits "
                        "are kept, the missing ones are run")
    p.add_argument("--nested", action="store_true",
                   help="also train each split's own CV winner (needs the recorded --select "
                        "--split-seeds 0 1 2 3 4)")
    p.add_argument("--previous", action="store_true",
                   help="also train the defaults from before the learning-quality work")
    p.add_argument("--out", type=Path, default=None, help="JSON output (Markdown next to it)")
    args = p.parse_args(argv)
    return run_select(args) if args.select else run(args)


if __name__ == "__main__":
    sys.exit(main())
