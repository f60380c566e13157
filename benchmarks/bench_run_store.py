"""What recording a run costs the training loop.

What is measured
----------------
The same training (scikit-learn digits 0-3, amplitude encoding on 6 qubits, one
hardware-efficient layer of depth 2, exact adjoint gradients, Adam, batch 8, ``--epochs``
(10) epochs of 36 steps of a few milliseconds each, so events come as fast as this simulator
makes them: the worst case for the recorder) run three ways, interleaved, ``--repeats`` times each:

* ``plain``: ``QuantumTrainer.fit`` with its PerformanceTracker (always on in ``q-store train``);
* ``store``: the same plus a :class:`~q_store.store.RunRecorder` writing every event to a
  SQLite run store in a temporary directory (WAL, batched transactions on its own thread),
  closed (all events written) before the clock stops;
* ``checkpoints``: ``plain`` with ``checkpoint_dir`` (an atomic checkpoint per epoch);
* ``store+checkpoints``: both (each checkpoint also hashed and recorded): compare it with
  ``checkpoints``.

Reported: median and spread (min-max) of the training time (``fit``), the ratio of medians
to ``plain`` (and of ``store+checkpoints`` to ``checkpoints``), the same for the process's
CPU time over fit and close (all threads; steadier than wall time on a shared machine), the
time closing the recorder takes after training (the last events written, the status set),
events recorded, the time the training thread spends in the recorder's subscriber per event
(measured by wrapping it) and the CPU time of the recorder's writer thread per run (the most
it can take from the training thread through the interpreter lock). The final weights of all
runs must agree exactly (recording observes, it changes nothing).

Usage::

    python benchmarks/bench_run_store.py [--repeats 7] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchenv import environment, load_average, text_table
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.layers import HardwareEfficientQuantumLayer
from q_store.store import RunRecorder, RunStore

MODES = ("plain", "store", "checkpoints", "store+checkpoints")


def _data():
    x, y = load_digits(return_X_y=True)
    keep = y < 4
    return x[keep][:288], y[keep][:288]


def run_once(mode: str, x, y, epochs: int
             ) -> tuple[float, float, float, int, float, float, np.ndarray]:
    """(seconds in fit, CPU seconds of the process in fit and closing, seconds closing the
    recorder, events recorded, seconds in the recorder's subscriber, CPU seconds of the
    writer thread, final weights)."""
    with tempfile.TemporaryDirectory() as tmp:
        opts = {"checkpoint_dir": str(Path(tmp) / "ck")} if "checkpoints" in mode else {}
        cfg = TrainingConfig(epochs=epochs, batch_size=8, learning_rate=0.05, seed=1, **opts)
        model = QuantumModel(64, 4, task="classification", encoding="amplitude", seed=1,
                             layers=[HardwareEfficientQuantumLayer(6, depth=2)])
        trainer = QuantumTrainer(cfg)
        tracker = trainer.performance_tracker
        in_callback = [0.0]
        rec = store = None
        if mode.startswith("store"):
            store = RunStore(Path(tmp) / "store")
            run = store.create_run("bench", {"training": cfg.to_dict()})
            rec = RunRecorder(store.root, run.id, tracker)
            rec._unsubscribe()  # re-subscribed through a timer of its subscriber
            inner = rec._on_event

            def timed(e, inner=inner):
                s = time.perf_counter()
                inner(e)
                in_callback[0] += time.perf_counter() - s

            rec._unsubscribe = tracker.subscribe(timed)
        else:  # the same number of subscribers, doing nothing
            tracker.subscribe(lambda e: None)
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.fit(model, (x, y))
        fit_s = time.perf_counter() - t0
        events, writer_cpu = 0, 0.0
        if rec is not None and store is not None:
            rec.close("completed")
            events, writer_cpu = rec.written, rec.writer_cpu_seconds
            store.close()
        close_s = time.perf_counter() - t0 - fit_s
        cpu_s = time.process_time() - c0
        return fit_s, cpu_s, close_s, events, in_callback[0], writer_cpu, model.weights.copy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "run_store.json"))
    args = ap.parse_args()
    x, y = _data()
    load_start = load_average()
    for mode in MODES:  # untimed: numba kernels, imports, file-system caches
        run_once(mode, x, y, args.epochs)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    closing: dict[str, list[float]] = {m: [] for m in MODES}
    events: dict[str, int] = {}
    per_event: dict[str, list[float]] = {m: [] for m in MODES}
    writer: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    weights = []
    for _ in range(args.repeats):
        for mode in MODES:  # interleaved, so drifting load hits every mode alike
            fit_s, cpu_s, close_s, n, cb, wcpu, w = run_once(mode, x, y, args.epochs)
            writer[mode].append(wcpu)
            cpu[mode].append(cpu_s)
            times[mode].append(fit_s)
            closing[mode].append(close_s)
            events[mode] = n
            if n:
                per_event[mode].append(cb / n)
            weights.append(w)
    same = all(np.array_equal(w, weights[0]) for w in weights)

    def ref(mode: str, of: dict[str, list[float]] = times) -> float:
        return statistics.median(of["checkpoints" if mode == "store+checkpoints" else "plain"])

    rows, records = [], []
    for mode in MODES:
        med = statistics.median(times[mode])
        cb = statistics.median(per_event[mode]) if per_event[mode] else None
        rows.append([mode, f"{med:.3f}", f"{min(times[mode]):.3f}-{max(times[mode]):.3f}",
                     "(ref)" if mode == "plain" else f"{med / ref(mode):.3f}",
                     f"{statistics.median(cpu[mode]):.3f}",
                     "(ref)" if mode == "plain" else
                     f"{statistics.median(cpu[mode]) / ref(mode, cpu):.3f}",
                     f"{statistics.median(closing[mode]):.3f}", str(events.get(mode, 0)),
                     "-" if cb is None else f"{1e6 * cb:.1f}",
                     "-" if cb is None else f"{1e3 * statistics.median(writer[mode]):.1f}"])
        records.append({"mode": mode, "median_fit_s": med, "min_fit_s": min(times[mode]),
                        "max_fit_s": max(times[mode]), "ratio": med / ref(mode),
                        "median_close_s": statistics.median(closing[mode]),
                        "events": events.get(mode, 0), "subscriber_us_per_event":
                        None if cb is None else 1e6 * cb,
                        "writer_cpu_ms": 1e3 * statistics.median(writer[mode]),
                        "median_cpu_s": statistics.median(cpu[mode]),
                        "cpu_ratio": statistics.median(cpu[mode]) / ref(mode, cpu),
                        "fit_times": times[mode]})
    table = text_table(("mode", "fit median s", "fit spread s", "ratio", "CPU s", "CPU ratio",
                        "close s", "events", "subscriber us/event", "writer CPU ms"), rows)
    print(table)
    print(f"\nfinal weights identical across all {len(weights)} runs: {same}; "
          f"{args.repeats} interleaved repeats; 1-min load {load_start} at start, "
          f"{load_average()} at end")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"rows": records, "identical_weights": same, "repeats": args.repeats,
              "epochs": args.epochs, "load_start": load_start, "load_end": load_average(),
              "environment": environment(("numpy", "numba"))}
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(
        "```\n" + table + "\n```\n\n" + f"Final weights identical across runs: {same}. "
        f"{args.repeats} interleaved repeats of {args.epochs} epochs after one untimed run of "
        "each mode; "
        f"1-min load {load_start} at start.\n")
    if not same:
        raise SystemExit("recording changed the training: weights differ")


if __name__ == "__main__":
    main()
