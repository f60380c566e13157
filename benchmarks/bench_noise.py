"""Noisy simulation: q_store's density-matrix simulator against Qiskit Aer's density_matrix method.

What is measured
----------------
The spec workload on ``n`` qubits (``RX(x_q)`` embedding, two layers of ``RY``/``RZ`` on every
qubit and a CNOT ring, ``<Z0>``) under IonQ Aria's published noise (``NoiseModel.ionq_aria()``:
depolarizing after every gate, readout error on measurement), for a batch of ``B`` input rows
with shared weights. Time per sample = time of the whole call / ``B``.

* q_store: ``DensityMatrixSimulator(NoiseModel.ionq_aria(), threads=T).expectation(circuit,
  Z(0), weights, inputs)``;
* Aer: ``AerSimulator(method="density_matrix", noise_model=to_aer_noise_model(...),
  max_parallel_threads=T)`` running the parameterised circuit once with ``B`` parameter
  bindings, saving the marginal probabilities of qubit 0, to which the same readout error is
  applied (Aer applies readout errors only to sampled measurements).

``T`` is 1 (one thread each) or the library default (all CPUs). Rows marked "busy" run while a
bounded busy loop (a subprocess pinned to CPU 0) occupies one core.

How
---
Before timing, the values of both systems are checked against each other for every sample
(1e-10; the script aborts otherwise); that call is also the warm-up. Repeats are interleaved
(each repeat times every system of the row in turn; ``--repeats``, fewer, but at least 3, where
a row would take longer than ``--budget`` seconds) and the median, min and max per sample are
reported, with the 1-minute load average before each row. The ratio is Aer / q_store (> 1: q_store
faster), from the medians. A noisy-gradient row compares q_store's adjoint sweep with parameter
shift on the same simulator (Aer has no gradients).

Usage::

    python benchmarks/bench_noise.py [--cases 8x1,8x100,10x1,10x100] [--repeats 5]
        [--no-busy] [--out PATH]

Results go to ``benchmarks/results/noise.json`` and ``noise.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchenv import environment, load_average, text_table
from q_store.backends.qiskit import to_aer_noise_model, to_qiskit
from q_store.circuit import Z
from q_store.demo import hardware_efficient_circuit
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel
from q_store.sim.noisy_adjoint import noisy_adjoint_angles

SEED = 2024
TOLERANCE = 1e-10
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "noise.json"
BUSY_SECONDS = 3600  # the busy loop's bound; it is stopped as soon as its rows are done
MIN_REPEATS = 3


def make_data(n: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 100 * n + batch)
    return rng.uniform(0, 2 * np.pi, size=4 * n), rng.uniform(0, np.pi, size=(batch, n))


def ours(n: int, threads: int | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    sim = DensityMatrixSimulator(NoiseModel.ionq_aria(), threads=threads)
    circuit = hardware_efficient_circuit(n, 2)
    return lambda w, xs: np.asarray(sim.expectation(circuit, Z(0), w, xs))


def aer(n: int, threads: int | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from qiskit_aer import AerSimulator

    nm = NoiseModel.ionq_aria()
    circuit = hardware_efficient_circuit(n, 2)
    options = {} if threads is None else {"max_parallel_threads": threads}
    sim = AerSimulator(method="density_matrix", noise_model=to_aer_noise_model(nm, n), **options)
    qc = to_qiskit(circuit)
    qc.save_probabilities(qubits=[0])
    thetas = [p for p in qc.parameters if p.name.startswith("theta")]
    xs_params = [p for p in qc.parameters if p.name.startswith("x")]
    z = np.array([1.0, -1.0])

    def run(w: np.ndarray, xs: np.ndarray) -> np.ndarray:
        binds = {p: [float(w[p.index])] * len(xs) for p in thetas}
        binds.update({p: list(map(float, xs[:, p.index])) for p in xs_params})
        result = sim.run(qc, parameter_binds=[binds]).result()
        probs = np.array([result.data(i)["probabilities"] for i in range(len(xs))])
        return nm.apply_readout(probs, [0]) @ z

    return run


class Busy:
    """A bounded busy loop pinned to CPU 0, in a subprocess."""

    def __enter__(self) -> Busy:
        code = f"import time\nt = time.time() + {BUSY_SECONDS}\nwhile time.time() < t: pass\n"
        self.proc = subprocess.Popen([sys.executable, "-c", code],
                                     preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


def measure(systems: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each system, repeats interleaved."""
    times: dict[str, list[float]] = {s: [] for s in systems}
    for _ in range(repeats):
        for name, fn in systems.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def run_case(n: int, batch: int, threads: int | None, repeats: int, busy: bool,
             budget: float) -> list[dict[str, Any]]:
    w, xs = make_data(n, batch)
    fns = {"q_store": ours(n, threads), "aer": aer(n, threads)}
    values, first = {}, 0.0
    for k, f in fns.items():  # the check, and the warm-up
        t0 = time.perf_counter()
        values[k] = f(w, xs)
        first += time.perf_counter() - t0
    err = float(np.abs(values["q_store"] - values["aer"]).max())
    if err > TOLERANCE:
        raise SystemExit(f"n={n} B={batch}: q_store and Aer differ by {err:.3g}")
    repeats = max(MIN_REPEATS, min(repeats, int(budget / first)))
    load = load_average()
    times = measure({k: (lambda f=f: f(w, xs)) for k, f in fns.items()}, repeats)
    rows = []
    for system, ts in times.items():
        per = [t / batch * 1e3 for t in ts]
        rows.append({"n": n, "batch": batch, "threads": threads or "default", "busy": busy,
                     "system": system, "ms_per_sample_median": statistics.median(per),
                     "ms_per_sample_min": min(per), "ms_per_sample_max": max(per),
                     "repeats": repeats, "max_abs_diff": err, "load_before": load})
    return rows


def gradient_rows(n: int, batch: int, repeats: int) -> list[dict[str, Any]]:
    """Noisy gradient of the batch's summed <Z0> w.r.t. the weights: adjoint vs shift."""
    w, xs = make_data(n, batch)
    sim = DensityMatrixSimulator(NoiseModel.ionq_aria())
    circuit = hardware_efficient_circuit(n, 2)
    shift = ParameterShiftGradient(executor=sim)
    from q_store.circuit.params import parameter_map_for

    pm = parameter_map_for(circuit)

    def adjoint() -> np.ndarray:
        res = noisy_adjoint_angles(sim, circuit, (Z(0),), w, xs, cotangent=np.ones((batch, 1)))
        return pm.pullback(res.batch, res.d_angles)[0].sum(0)

    def ps() -> np.ndarray:
        return np.asarray(shift.jacobian(circuit, [Z(0)], w, xs).weights).sum(0).reshape(-1)

    err = float(np.abs(adjoint() - ps()).max())
    if err > TOLERANCE:
        raise SystemExit(f"gradients differ by {err:.3g}")
    load = load_average()
    times = measure({"q_store adjoint": adjoint, "q_store parameter shift": ps}, repeats)
    return [{"n": n, "batch": batch, "system": s, "ms_per_sample_median":
             statistics.median(ts) / batch * 1e3, "ms_per_sample_min": min(ts) / batch * 1e3,
             "ms_per_sample_max": max(ts) / batch * 1e3, "repeats": repeats,
             "max_abs_diff": err, "load_before": load} for s, ts in times.items()]


def tables(rows: list[dict[str, Any]], grads: list[dict[str, Any]]) -> tuple[str, str]:
    cols = ("case", "threads", "q_store ms/sample", "Aer ms/sample", "Aer / q_store", "load")
    body = []
    for i in range(0, len(rows), 2):
        a, b = rows[i], rows[i + 1]
        q, r = (a, b) if a["system"] == "q_store" else (b, a)
        cell = "{:.2f} ({:.2f}-{:.2f})"
        body.append([f"n={q['n']}, B={q['batch']}",
                     f"{q['threads']}{', busy' if q['busy'] else ''}",
                     cell.format(q["ms_per_sample_median"], q["ms_per_sample_min"],
                                 q["ms_per_sample_max"]),
                     cell.format(r["ms_per_sample_median"], r["ms_per_sample_min"],
                                 r["ms_per_sample_max"]),
                     f"{r['ms_per_sample_median'] / q['ms_per_sample_median']:.1f}x",
                     f"{q['load_before']}"])
    text = text_table(cols, body, left=2)
    gcols = ("case", "method", "ms/sample", "vs adjoint")
    gbody = []
    base = {(g["n"], g["batch"]): g["ms_per_sample_median"] for g in grads
            if g["system"] == "q_store adjoint"}
    for g in grads:
        gbody.append([f"n={g['n']}, B={g['batch']}", g["system"],
                      "{:.1f} ({:.1f}-{:.1f})".format(g["ms_per_sample_median"],
                                                     g["ms_per_sample_min"],
                                                     g["ms_per_sample_max"]),
                      f"{g['ms_per_sample_median'] / base[(g['n'], g['batch'])]:.1f}x"])
    if gbody:
        text += "\n\nNoisy gradient (sum of <Z0> over the batch, w.r.t. 4n weights)\n"
        text += text_table(gcols, gbody, left=2)
    md = ["| " + " | ".join(cols) + " |", "|" + " --- |" * 2 + " ---: |" * 4]
    md += ["| " + " | ".join(r) + " |" for r in body]
    if gbody:
        md += ["", "| " + " | ".join(gcols) + " |", "|" + " --- |" * 2 + " ---: |" * 2]
        md += ["| " + " | ".join(r) + " |" for r in gbody]
    return text, "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="8x1,8x100,10x1,10x100")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=120.0,
                    help="seconds a row's repeats may take (at least 3 repeats)")
    ap.add_argument("--no-busy", action="store_true")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    cases = [tuple(int(v) for v in c.split("x")) for c in args.cases.split(",")]
    env = environment(("q-store", "qiskit", "qiskit-aer", "numpy", "numba"))
    rows: list[dict[str, Any]] = []
    for n, b in cases:
        for threads in (1, None):
            rows += run_case(n, b, threads, args.repeats, False, args.budget)
            print(f"done n={n} B={b} threads={threads or 'default'}", flush=True)
    if not args.no_busy and hasattr(os, "sched_setaffinity"):
        with Busy():
            for n, b in cases:
                rows += run_case(n, b, None, args.repeats, True, args.budget)
                print(f"done n={n} B={b} busy", flush=True)
    grads = gradient_rows(8, 10, args.repeats)
    env["load_average_at_end"] = load_average()
    text, md = tables(rows, grads)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": env, "rows": rows, "gradients": grads},
                                   indent=2))
    note = (f"\n\nCells: median (min-max) ms per sample over up to {args.repeats} interleaved "
            "repeats (at least 3; the count per row is in the JSON); "
            "ratio from medians (> 1: q_store faster). Aria preset (NoiseModel.ionq_aria()), "
            f"values checked equal to {TOLERANCE:g} first. {env['cpu_count']} CPUs "
            f"({env['cpu_model']}); numba threads {env['numba_num_threads']}; "
            f"{env['timestamp']}; 1-min load {env['load_average_at_start']} at start, "
            f"{env['load_average_at_end']} at end; busy: a spinning process pinned to CPU 0.\n")
    args.out.with_suffix(".md").write_text(md + note)


if __name__ == "__main__":
    main()
