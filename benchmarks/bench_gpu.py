"""The GPU state-vector path (CuPy) against the compiled CPU simulator, side by side.

What is measured
----------------
The spec workload (RX embedding, two layers of RY, RZ on every qubit and a CNOT ring, ``<Z0>``)
on one state at 20 to 26 qubits, and a batch of 1000 states at 8 qubits: the forward pass
(``expectation``) and the adjoint gradient (``AdjointGradient.vjp`` summed over the batch),
seconds per call, median (min) of the repeats after one untimed call. Before any timing the GPU
values and gradients are checked against the CPU simulator's to 1e-10 (the script aborts
otherwise). The CPU simulator uses all of numba's threads. Results come back to the host in
every call (the GPU timings include that copy and the host-side gate matrices).

A CPU cell predicted (from the previous size, x4 per two qubits) to exceed ``--cpu-budget``
seconds per call is recorded as null with the reason, so the run fits a short device lease.

Usage::

    python benchmarks/bench_gpu.py [--sizes 20,22,24,26] [--repeats 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np

from q_store.circuit import Z
from q_store.demo import hardware_efficient_circuit
from q_store.gradients import AdjointGradient
from q_store.sim import StatevectorSimulator
from q_store.sim.gpu import GPUStatevectorSimulator

TOLERANCE = 1e-10


def _time(f: Callable[[], Any], repeats: int) -> tuple[float, float]:
    f()  # untimed: CuPy kernel compilation, numba's cache, allocator warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


def _case(n: int, batch: int, seed: int = 0):
    c = hardware_efficient_circuit(n, 2)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=(batch, n) if batch > 1 else n)
    w = rng.normal(size=c.n_weights)
    cot = np.ones((batch, 1)) if batch > 1 else np.ones(1)
    return c, w, x, cot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,22,24,26")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu-budget", type=float, default=8.0,
                        help="skip CPU cells predicted to take longer per call (seconds)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    gpu = GPUStatevectorSimulator()
    cpu = StatevectorSimulator()
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    env = {"gpu": props["name"].decode(), "cupy": cupy.__version__, "numba": numba.__version__,
           "numba_threads": numba.config.NUMBA_NUM_THREADS, "python": sys.version.split()[0]}
    print(env, flush=True)
    rows: list[dict[str, Any]] = []
    cases = [(8, 1000)] + [(int(s), 1) for s in args.sizes.split(",")]
    predicted: dict[str, float] = {}
    for n, batch in cases:
        c, w, x, cot = _case(n, batch)
        calls = {
            "forward": lambda sim, c=c, w=w, x=x: sim.expectation(c, Z(0), w, x),
            "gradient": lambda sim, c=c, w=w, x=x, cot=cot: AdjointGradient(sim).vjp(
                c, [Z(0)], w, x, cot).weights,
        }
        for what, call in calls.items():
            g_val = call(gpu)
            row: dict[str, Any] = {"qubits": n, "batch": batch, "call": what}
            guess = predicted.get(what)
            if guess is not None and batch == 1 and guess > args.cpu_budget:
                row["cpu_s"] = None
                row["cpu_note"] = f"predicted {guess:.1f} s per call > --cpu-budget"
            else:
                c_val = call(cpu)
                err = float(np.max(np.abs(np.asarray(g_val) - np.asarray(c_val))))
                row["max_abs_difference"] = err
                if err > TOLERANCE:
                    print(f"GPU and CPU disagree at n={n} ({what}): {err:.2e}", flush=True)
                    return 1
                reps = max(1, min(args.repeats, int(30 / max(guess or 0.1, 0.1))))
                row["cpu_s"], row["cpu_min_s"] = _time(partial(call, cpu), reps)
                if batch == 1:
                    predicted[what] = 4.0 * row["cpu_s"]
            row["gpu_s"], row["gpu_min_s"] = _time(partial(call, gpu), args.repeats)
            if row.get("cpu_s"):
                row["speedup"] = row["cpu_s"] / row["gpu_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                args.out.write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    print(f"{'case':<16}{'call':<10}{'CPU s':>18}{'GPU s':>20}{'CPU/GPU':>9}")
    for r in rows:
        case = f"n={r['qubits']}, B={r['batch']}"
        cpu_cell = f"{r['cpu_s']:.4f} ({r['cpu_min_s']:.4f})" if r.get("cpu_s") else "skipped"
        gpu_cell = f"{r['gpu_s']:.4f} ({r['gpu_min_s']:.4f})"
        ratio = f"{r['speedup']:.1f}" if r.get("speedup") else "-"
        print(f"{case:<16}{r['call']:<10}{cpu_cell:>18}{gpu_cell:>20}{ratio:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
