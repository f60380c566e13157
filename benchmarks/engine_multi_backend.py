"""Multi-backend section of bench_engine: circuits per second with three IonQ servers vs one.

What is measured
----------------
The wall time of one pipeline call (``CircuitPipeline.run``: the engine's real path, as a
training step uses it) that runs N bound circuits of the spec's 8-qubit workload (RX embedding
and 2 hardware-efficient layers, ``q_store.demo.hardware_efficient_circuit(8, 2)``, seeded random
weights and inputs; 1000 shots on the ideal simulator) on local IonQ-compatible servers
(:class:`IonQEmulator`) with the spec's v3.4 latency model: 0.5 s on EVERY request (submit,
status polls, result fetch), 1.3 s queue wait per job, 0.575 s per circuit, one device per server
running circuits one after another. Two modes on the same circuits:

* ``one``: :class:`SingleBackend` on one server (all circuits in one multi-circuit job);
* ``three``: :class:`MultiBackendOrchestrator` over three servers (one job each, split by
  measured throughput; equal weights before anything is measured).

Circuits per second = N / wall time; the ratio is three's over one's. Both modes use the IonQ
client's default polling (pauses of 2 % of the time waited, within 0.25 s and 10 s), scaled.

The best any client can do is ``0.5 + 1.3 + k * 0.575 + 0.5`` s for a job of k circuits (submit,
queue, run, one more request for the results), so the ratio is bounded by
``(2.3 + N * 0.575) / (2.3 + ceil(N / 3) * 0.575)``: 2.67x at N = 60, approaching 3 as N grows.
The fixed 2.3 s per job is not divided by adding servers.

How
---
Every modelled delay is multiplied by the time scale (default 0.25; the last row by default runs
in real time) and every reported time is unscaled (wall / time_scale), comparable with the
spec's seconds; the client's polling constants are scaled the same way. Real costs (HTTP,
JSON, simulation, Python) are not scaled, so they weigh 1/time_scale times more in the
unscaled numbers than in real time. Per repeat: fresh
servers and clients; one untimed zero-latency call per mode (code paths and connection pools
warm), then ``--mb-calls`` timed calls per mode, alternating one/three. The orchestrator keeps what
it learned across a repeat's calls (the first call uses the prior split). Every result is checked
against ``StatevectorSimulator`` (1e-9) and the two modes' results against each other (bit for
bit). Median and spread (min-max) over all repeats x calls.

Usage::

    python benchmarks/bench_engine.py --section multi_backend [--repeats 5]
        [--mb-sizes 60,180,60@1] [--mb-time-scale 0.25] [--mb-calls 1]

``--mb-sizes`` lists circuits per call, each optionally with its own time scale (``60@1``: 60
circuits in real time).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from contextlib import ExitStack
from typing import Any

import numpy as np

from q_store.backends.base import CircuitResult
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.circuit.ir import Circuit
from q_store.demo import hardware_efficient_circuit
from q_store.execution.orchestrator import MultiBackendOrchestrator
from q_store.execution.pipeline import CircuitPipeline, SingleBackend
from q_store.execution.tracker import PerformanceTracker
from q_store.sim import StatevectorSimulator

N_QUBITS, DEPTH, SHOTS, SEED = 8, 2, 1000, 2024
REQUEST, QUEUE, PER_CIRCUIT = 0.5, 1.3, 0.575
POLL_MIN, POLL_MAX = 0.25, 10.0  # the IonQ client's defaults (unscaled)
TARGET = 2.7
KEY = "bench-key"
TOLERANCE = 1e-9


def workload(n: int) -> list[Circuit]:
    template = hardware_efficient_circuit(N_QUBITS, DEPTH)
    rng = np.random.default_rng(SEED)
    return [template.bind(rng.uniform(0, 2 * np.pi, template.n_weights),
                          rng.uniform(0, np.pi, template.n_inputs)) for _ in range(n)]


def bound_seconds(k: int) -> float:
    """The least time a job of ``k`` circuits can take, results fetched."""
    return REQUEST + QUEUE + k * PER_CIRCUIT + REQUEST


def client(emu: IonQEmulator, scale: float) -> IonQBackend:
    return IonQBackend(KEY, base_url=emu.root_url, poll_min=POLL_MIN * scale,
                       poll_max=POLL_MAX * scale)


def check(results: list[CircuitResult], reference: list[np.ndarray], what: str) -> None:
    err = max(float(np.max(np.abs(r.probabilities - p)))
              for r, p in zip(results, reference, strict=True))
    if not err <= TOLERANCE:
        raise RuntimeError(f"{what}: max |diff| {err:.3e} vs StatevectorSimulator")


def one_repeat(circuits: list[Circuit], reference: list[np.ndarray], scale: float, calls: int
               ) -> dict[str, list[Any]]:
    latency = LatencyModel(request_overhead=REQUEST, queue_wait=QUEUE,
                           seconds_per_circuit=PER_CIRCUIT, time_scale=scale)
    zero = LatencyModel(seconds_per_circuit=0.0)
    with ExitStack() as stack:
        emus = [stack.enter_context(IonQEmulator(api_key=KEY, latency=zero)) for _ in range(4)]
        tracker = PerformanceTracker()
        orch = MultiBackendOrchestrator([client(e, scale) for e in emus[1:]], shots=SHOTS,
                                        names=["s1", "s2", "s3"], tracker=tracker)
        modes = {"one": SingleBackend(client(emus[0], scale)), "three": orch}
        out: dict[str, list[Any]] = {"one": [], "three": [], "splits": []}

        async def go() -> None:
            pipelines = {m: CircuitPipeline(s, shots=SHOTS, seed=SEED) for m, s in modes.items()}
            warm = {m: await p.run(circuits) for m, p in pipelines.items()}  # untimed
            for (m, r) in warm.items():
                check(r, reference, f"warm-up {m}")
            for s in orch.slots:  # forget the zero-latency measurements: start from the prior
                s.rate = s.latency = None
            for e in emus:
                e.latency = latency
            for _ in range(calls):
                got = {}
                for m, p in pipelines.items():
                    t0 = time.perf_counter()
                    got[m] = await p.run(circuits)
                    out[m].append((time.perf_counter() - t0) / scale)
                    check(got[m], reference, m)
                if not all(np.array_equal(a.probabilities, b.probabilities)
                           for a, b in zip(got["one"], got["three"], strict=True)):
                    raise RuntimeError("one and three servers gave different results")
                out["splits"].append(tracker.events("backend_stats")[-1]["split"])
            for p in pipelines.values():
                await p.close()

        asyncio.run(go())
    return out


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("multi_backend")
    g.add_argument("--mb-sizes", default="60,180,60@1",
                   help="circuits per call, N or N@time_scale (default 60,180,60@1: the last "
                        "in real time)")
    g.add_argument("--mb-time-scale", type=float, default=0.25,
                   help="multiplies the v3.4 latencies where a size names none")
    g.add_argument("--mb-calls", type=int, default=1, help="timed calls per repeat and mode")


def run(args: argparse.Namespace) -> dict[str, Any]:
    sim = StatevectorSimulator()
    rows, data_rows = [], []
    for item in args.mb_sizes.split(","):
        n = int(item.split("@")[0])
        scale = float(item.split("@")[1]) if "@" in item else args.mb_time_scale
        circuits = workload(n)
        reference = [sim.probabilities(c) for c in circuits]
        runs = [one_repeat(circuits, reference, scale, args.mb_calls)
                for _ in range(args.repeats)]
        one = [t for r in runs for t in r["one"]]
        three = [t for r in runs for t in r["three"]]
        ratios = [a / b for r in runs for a, b in zip(r["one"], r["three"], strict=True)]
        bound = bound_seconds(n) / bound_seconds(math.ceil(n / 3))
        splits = [r["splits"] for r in runs]
        ratio = statistics.median(ratios)
        over = (statistics.median(one) / bound_seconds(n),
                statistics.median(three) / bound_seconds(math.ceil(n / 3)))
        rows.append([str(n), f"{scale:g}", spread(one), spread(three),
                     f"{n / statistics.median(one):.2f}", f"{n / statistics.median(three):.2f}",
                     f"{over[0]:.3f} / {over[1]:.3f}",
                     f"{ratio:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})", f"{bound:.2f}x",
                     "met" if ratio >= TARGET else "missed",
                     " ".join("/".join(str(v) for v in s.values()) for r in splits for s in r)])
        data_rows.append({"circuits": n, "time_scale": scale, "one_s": one, "three_s": three,
                          "ratios": ratios, "median_ratio": ratio, "bound_ratio": bound,
                          "target_met": ratio >= TARGET, "splits": splits})
    columns = ("circuits", "time scale", "one server s", "three servers s", "one c/s",
               "three c/s", "time / least (one / three)", "ratio", "bound", f"target {TARGET}x",
               "split per call")
    md = ["| " + " | ".join(columns) + " |",
          "| " + " | ".join(["---:"] * (len(columns) - 1) + ["---"]) + " |"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "Unscaled seconds per call (wall / time_scale): "
               f"median (min-max) over {args.repeats} repeats x {args.mb_calls} calls; ratio = "
               "one's time / three's time per call pair. "
               f"{N_QUBITS} qubits, depth {DEPTH}, {SHOTS} shots, ideal simulator; latency "
               f"{REQUEST:g} s per request, {QUEUE:g} s queue wait, {PER_CIRCUIT:g} s per "
               "circuit.",
           "",
           "- bound: (0.5 + 1.3 + N x 0.575 + 0.5) / (0.5 + 1.3 + ceil(N/3) x 0.575 + 0.5), "
           "the best ratio any split can reach (the fixed part of a job is not divided)",
           "- time / least: median time over the least a job of N (one server) or N/3 (three) "
           "circuits can take; the excess is polling lag (each status poll costs 0.5 s) and "
           "real costs (HTTP, JSON, simulation, thread scheduling: the emulated device waits "
           "each circuit's time after the previous one, so scheduling delays add up), "
           "magnified 1/time_scale times",
           "- every result equals StatevectorSimulator's to 1e-9, and the two modes' results "
           "are identical",
           "- split: circuits per server (s1/s2/s3) in each timed call, repeat after repeat; "
           "the first call of a repeat uses the prior (equal weights), later calls the "
           "measured throughput"]
    data = {"latency": {"request_overhead_s": REQUEST, "queue_wait_s": QUEUE,
                        "seconds_per_circuit": PER_CIRCUIT},
            "target_ratio": TARGET, "rows": data_rows}
    return {"title": "Multi-backend: three IonQ servers vs one", "markdown": "\n".join(md),
            "data": data}
