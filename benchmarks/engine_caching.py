"""Caching section of ``bench_engine.py``: what the template cache and the result cache buy.

What is measured
----------------
1. Templates (level 1, ``enable_circuit_cache``). One training epoch of a 6-qubit classifier
   (6 features, angle encoding, 2 layers, 60 samples in batches of 10, adjoint gradients) on the
   local exact simulator, with the template cache on and off (``cache_size`` 0: every simulator
   call builds the circuit's program again). From the ``template`` events: lookups, hit rate,
   mean build time (from the run without the cache, where every lookup builds) and mean bind
   time (with the cache) and their ratio; and the epoch's wall time both ways and their ratio.
2. Results (level 2, ``enable_smart_caching``). Validation of the same model twice with
   unchanged weights (as when a run is evaluated again, or validation repeats at a plateau),
   on three targets: the local exact simulator (``val`` samples), the noisy density-matrix
   backend (``mock_noisy``, exact noisy probabilities through the backend pipeline) and the
   local IonQ-compatible server (ideal simulator) with the spec's v3.4 latencies (0.5 s per
   request, 1.3 s queue wait, 0.575 s per circuit) scaled by ``--ionq-time-scale``. Reported:
   the first and the second pass with the cache, a pass without it, the second pass's hit
   rate, the ratio of the uncached pass to the cached repeat, and whether every pass's loss
   and accuracy equal the uncached pass's exactly.

How
---
Everything runs in one process, warmed up first (numba kernels compiled, connections opened by
an untimed evaluation of other samples). Runs alternate between the compared settings; each is
repeated ``--repeats`` times; medians with min-max ranges are reported, and ratios are computed
from medians. IonQ times are wall seconds at the given time scale (fixed real costs such as
JSON and HTTP are not scaled).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import numpy as np

from q_store.backends import IonQBackend, NoisySimulatorBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

N_FEATURES, N_TRAIN, N_VAL, SEED = 6, 60, 200, 7
V34 = {"request_overhead": 0.5, "queue_wait": 1.3, "seconds_per_circuit": 0.575}
KEY = "bench-caching-key"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("caching")
    g.add_argument("--ionq-time-scale", type=float, default=0.02,
                   help="multiplies the v3.4 latencies of the local IonQ server")
    g.add_argument("--ionq-val", type=int, default=40, help="validation samples on IonQ")
    g.add_argument("--noisy-val", type=int, default=40,
                   help="validation samples on the density-matrix backend")


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-np.pi, np.pi, size=(n, N_FEATURES))
    return xs, (np.sin(xs[:, 0]) * np.cos(xs[:, 1]) > 0).astype(int)


def model(backend: Any = None) -> QuantumModel:
    return QuantumModel(N_FEATURES, 2, 2, backend=backend, task="classification", seed=SEED)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4g} ({min(values):.3g}-{max(values):.3g})"


# -- level 1 --------------------------------------------------------------------------------------
def epoch(cache_on: bool) -> tuple[float, list[dict[str, Any]]]:
    trainer = QuantumTrainer(TrainingConfig(epochs=1, batch_size=10, seed=SEED,
                                            enable_circuit_cache=cache_on))
    m = model()
    t0 = time.perf_counter()
    trainer.fit(m, data(N_TRAIN, SEED))
    seconds = time.perf_counter() - t0
    assert trainer.performance_tracker is not None
    return seconds, trainer.performance_tracker.events("template")


def templates(repeats: int) -> tuple[list[list[str]], dict[str, Any]]:
    epoch(True), epoch(False)  # warm-up
    on_s, off_s, on_ev, off_ev = [], [], [], []
    for _ in range(repeats):
        s, ev = epoch(True)
        on_s.append(s)
        on_ev.append(ev)
        s, ev = epoch(False)
        off_s.append(s)
        off_ev.append(ev)
    on, off = on_ev[-1], off_ev[-1]
    hits = sum(e["hit"] for e in on) / len(on)
    build_ms = 1000 * statistics.median(e["build_seconds"] for ev in off_ev for e in ev)
    bind_ms = 1000 * statistics.median(e["bind_seconds"] for ev in on_ev for e in ev)
    rows = [["template lookups per epoch", str(len(on)), str(len(off))],
            ["template hit rate", f"{hits:.1%}", f"{sum(e['hit'] for e in off) / len(off):.0%}"],
            ["median build time (ms)", "-", f"{build_ms:.3f}"],
            ["median bind time (ms)", f"{bind_ms:.3f}", "-"],
            ["build / bind", f"{build_ms / bind_ms:.1f}x", ""],
            ["epoch wall time (s)", spread(on_s), spread(off_s)],
            ["epoch time without / with",
             f"{statistics.median(off_s) / statistics.median(on_s):.2f}x", ""]]
    data_out = {"epoch_seconds_cache_on": on_s, "epoch_seconds_cache_off": off_s,
                "template_lookups": len(on), "template_hit_rate": hits,
                "build_ms_median": build_ms, "bind_ms_median": bind_ms}
    return rows, data_out


# -- level 2 --------------------------------------------------------------------------------------
def validation(make_backend: Any, n_val: int, repeats: int) -> dict[str, Any]:
    """Two passes with the smart cache and one without, alternating, ``repeats`` times."""
    val, other = data(n_val, SEED + 1), data(10, SEED + 2)
    out: dict[str, Any] = {"first": [], "second": [], "plain": [], "hit_rate": [],
                           "identical": True, "circuits": 0, "jobs": (0, 0)}
    for _ in range(repeats):
        results = {}
        for caching in (True, False):
            trainer = QuantumTrainer(TrainingConfig(seed=SEED, batch_size=20,
                                                    enable_smart_caching=caching))
            m = model(make_backend())
            asyncio.run(trainer.evaluate(m, other))  # warm-up: engine, connections
            passes = []
            for _ in range(2 if caching else 1):
                t0 = time.perf_counter()
                passes.append((asyncio.run(trainer.evaluate(m, val)),
                               time.perf_counter() - t0))
            events = trainer.performance_tracker.events("circuits")  # type: ignore[union-attr]
            results[caching] = passes
            if caching:
                calls = -(-n_val // 20)  # batches of 20 per pass
                first, last = events[-2 * calls:-calls], events[-calls:]
                out["hit_rate"].append(sum(e["cache_hits"] for e in last)
                                       / sum(e["requested"] for e in last))
                out["circuits"] = sum(e["requested"] for e in last)
                out["jobs"] = (sum(e["jobs"] for e in first), sum(e["jobs"] for e in last))
            trainer.close()
        (a, ta), (b, tb) = results[True]
        (c, tc), = results[False]
        out["identical"] &= a == b == c
        out["first"].append(ta)
        out["second"].append(tb)
        out["plain"].append(tc)
    return out


def results(args: argparse.Namespace) -> tuple[list[list[str]], dict[str, Any]]:
    rows, raw = [], {}
    scale = args.ionq_time_scale
    latency = LatencyModel(time_scale=scale, **V34)
    with IonQEmulator(api_key=KEY, latency=latency) as emu:
        targets = [
            ("local exact simulator", lambda: None, N_VAL),
            ("mock_noisy (density matrix)", NoisySimulatorBackend, args.noisy_val),
            (f"local IonQ server, v3.4 latency x {scale:g}",
             lambda: IonQBackend(KEY, base_url=emu.root_url, poll_min=0.25 * scale,
                                 poll_max=10 * scale), args.ionq_val),
        ]
        for name, make, n_val in targets:
            r = validation(make, n_val, args.repeats)
            raw[name] = r
            plain, second = statistics.median(r["plain"]), statistics.median(r["second"])
            rows.append([name, str(n_val), str(r["circuits"]),
                         "{} / {}".format(*r["jobs"]), spread(r["first"]),
                         spread(r["second"]), spread(r["plain"]),
                         f"{plain / second:.0f}x", f"{statistics.median(r['hit_rate']):.0%}",
                         "yes" if r["identical"] else "NO"])
    return rows, raw


def table(columns: list[str], rows: list[list[str]], left: int = 1) -> str:
    out = ["| " + " | ".join(columns) + " |",
           "| " + " | ".join(["---"] * left + ["---:"] * (len(columns) - left)) + " |"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def run(args: argparse.Namespace) -> dict[str, Any]:
    t_rows, t_data = templates(args.repeats)
    r_rows, r_data = results(args)
    md = "\n".join([
        "### Templates (level 1): one training epoch on the local simulator", "",
        table(["", "template cache on", "off (build every call)"], t_rows), "",
        "### Results (level 2): validation twice with unchanged weights", "",
        table(["target", "samples", "circuits", "jobs, pass 1 / 2", "pass 1 (s)", "pass 2 (s)",
               "uncached pass (s)", "uncached / pass 2", "hit rate, pass 2",
               "identical to uncached"], r_rows), "",
        f"Medians (min-max) of {args.repeats} runs. 6 qubits, 6 features, 2 layers; epoch: "
        f"{N_TRAIN} samples, batch 10, adjoint gradients. Validation batches of 20. "
        "\"circuits\": circuits (local: state-vector rows) asked for by one pass. IonQ times "
        "are wall seconds at the stated latency scale.",
    ])
    return {"title": "Caching", "markdown": md,
            "data": {"repeats": args.repeats, "templates": t_data, "results": r_data}}
