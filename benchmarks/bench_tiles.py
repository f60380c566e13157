"""Tile shapes of the large-state kernels, side by side: the evidence behind
``q_store.sim.blocked.tile_bits``.

What is measured
----------------
The spec workload (RX embedding, 2 layers of RY/RZ and a CNOT ring) on one state of 20 and 24
qubits, one thread: the forward pass (``forward_blocked``, from the product-state prefix) and
the adjoint sweep (``adjoint_blocked``, with ``Z`` on the top qubit as the observable), in
complex128 and complex64, for several (row bits, inner bits) shapes. Shapes alternate within
each round, so load changes hit all of them; every shape's result is checked against the first
shape's before timing. Cells: median (min-max) milliseconds over the rounds, and the ratio of the
old fixed shape (9, 5) to each shape (> 1: faster than (9, 5)); ``*`` marks what ``tile_bits``
chooses.

Usage::

    python benchmarks/bench_tiles.py [--rounds 7] [--qubits 20,24] [--out PATH]

Writes ``benchmarks/results/tiles.json`` and ``tiles.md`` (or next to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import environment, load_average, text_table
from q_store.demo import hardware_efficient_circuit
from q_store.sim import StatevectorSimulator
from q_store.sim import blocked as BL
from q_store.sim.kernels import P_COL
from q_store.sim.statevector import tile_types

OUT = Path(__file__).resolve().parent / "results" / "tiles.json"
SHAPES = ((9, 5), (9, 6), (9, 7), (10, 6), (11, 5), (11, 6))
OLD = (9, 5)
LAYERS = 2


def _runner(n: int, dtype: Any, sweep: str) -> Any:
    rng = np.random.default_rng(n)
    x = rng.uniform(0.0, np.pi, n)
    w = rng.uniform(0.0, 2 * np.pi, 4 * n)
    sim = StatevectorSimulator(threads=1, dtype=dtype)
    _, tape = sim._prepare(hardware_efficient_circuit(n, LAYERS), w, x,
                           derivatives=sweep == "adjoint")
    real, cplx = tile_types(np.dtype(dtype))
    psi = np.zeros(2**n, dtype=dtype)
    BL.forward_blocked(psi, n, tape.blk, tape.pref, True, tape.mem, tape.par, tape.mats1,
                       tape.mats2, 0, 1, *OLD, real, cplx)
    lam = psi.copy()
    lam[2 ** (n - 1):] *= -1  # Z on the most significant qubit

    def forward(shape: tuple[int, int]) -> np.ndarray:
        out = np.empty_like(psi)
        BL.forward_blocked(out, n, tape.blk, tape.pref, True, tape.mem, tape.par, tape.mats1,
                           tape.mats2, 0, 1, *shape, real, cplx)
        return out

    def adjoint(shape: tuple[int, int]) -> np.ndarray:
        grad = np.zeros(int(tape.par[:, P_COL].max()) + 1)
        BL.adjoint_blocked(psi.copy(), lam.copy(), n, tape.blk, tape.pref, True, tape.mem,
                           tape.par, tape.mats1, tape.mats2, tape.dmats1, tape.dmats2, 0, grad,
                           1, *shape, real, cplx)
        return grad

    return forward if sweep == "forward" else adjoint


def measure(n: int, dtype: Any, sweep: str, rounds: int) -> list[dict[str, Any]]:
    run = _runner(n, dtype, sweep)
    itemsize = np.dtype(dtype).itemsize
    chosen = BL.tile_bits(n, itemsize, adjoint=sweep == "adjoint")
    shapes = [s for s in SHAPES if sum(s) <= n]
    if chosen not in shapes:
        shapes.append(chosen)
    tol = 1e-10 if dtype == np.complex128 else 2e-5
    ref = run(shapes[0])
    for s in shapes[1:]:
        err = float(np.abs(run(s) - ref).max())
        if err > tol:
            raise SystemExit(f"n={n} {sweep} {s}: differs from {shapes[0]} by {err:.2e}")
    times: dict[tuple[int, int], list[float]] = {s: [] for s in shapes}
    for _ in range(rounds):
        for s in shapes:
            t0 = time.perf_counter()
            run(s)
            times[s].append(1e3 * (time.perf_counter() - t0))
    old = statistics.median(times[OLD])
    return [{"qubits": n, "dtype": np.dtype(dtype).name, "sweep": sweep, "shape": list(s),
             "chosen": s == chosen, "median_ms": statistics.median(ts), "min_ms": min(ts),
             "max_ms": max(ts), "ratio_vs_9_5": old / statistics.median(ts)}
            for s, ts in times.items()]


def _cells(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[f"n={r['qubits']} {r['dtype']} {r['sweep']}",
             f"({r['shape'][0]}, {r['shape'][1]}){' *' if r['chosen'] else ''}",
             f"{r['median_ms']:.4g} ({r['min_ms']:.4g}-{r['max_ms']:.4g})",
             f"{r['ratio_vs_9_5']:.2f}x"] for r in rows]


COLUMNS = ("case", "shape (rows, inner)", "ms", "vs (9, 5)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--qubits", default="20,24")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    env = environment(("numba", "numpy"))
    rows: list[dict[str, Any]] = []
    for n in (int(q) for q in args.qubits.split(",")):
        for dtype in (np.complex128, np.complex64):
            for sweep in ("forward", "adjoint"):
                rounds = args.rounds if n < 24 else max(3, args.rounds // 2)
                rows += measure(n, dtype, sweep, rounds)
                print(f"[tiles] n={n} {np.dtype(dtype).name} {sweep} done", file=sys.stderr)
    env["load_average_at_end"] = load_average()
    table = text_table(COLUMNS, _cells(rows))
    print(table)
    md = ["| " + " | ".join(COLUMNS) + " |", "| --- | --- | ---: | ---: |"]
    md += ["| " + " | ".join(c) + " |" for c in _cells(rows)]
    md.append("")
    md.append(f"Median (min-max) over alternating rounds, one thread; `*`: the shape "
              f"`tile_bits` chooses. {env.get('cpu_count')} CPUs ({env.get('cpu_model')}); "
              f"load average {env.get('load_average_at_start')} at start, "
              f"{env['load_average_at_end']} at end.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "tile shapes of the large-state kernels",
                                    "environment": env, "rows": rows}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
