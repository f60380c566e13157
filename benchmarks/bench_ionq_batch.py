"""IonQ batch submission against the spec's v3.4 latency breakdown, on the local IonQ server.

What is measured
----------------
The wall time to get the results of a batch of 20 circuits of the spec's workload (8 qubits, an
RX embedding and 2 hardware-efficient layers, ``q_store.demo.hardware_efficient_circuit`` bound
to seeded random weights and inputs; 1000 shots on the ideal simulator) from the local
IonQ-compatible server (:class:`IonQEmulator`) with the spec's v3.4 latency breakdown: 0.5 s of
overhead on EVERY request (status polls and result fetches included), a 1.3 s queue wait per job,
and 0.575 s of execution per circuit, circuits run one after another on one device. The real
client path runs over loopback HTTP:

* (a) ``multi-circuit``: one multi-circuit job, ``IonQBatchClient.submit_batch`` then
  ``get_results_parallel``;
* (b) ``job per circuit, concurrent``: the same calls with ``circuits_per_job=1`` (20 jobs
  submitted concurrently over the client's connection pool of 5);
* (c) ``job per circuit, sequential``: ``IonQBackend.submit_job_async`` then
  ``get_job_result`` for one circuit after the other (the naive v3.3.1-style client).

The physical limit is one request + one queue wait + the sum of executions:
``0.5 + 1.3 + 20 * 0.575 = 13.3 s``; a client that must also fetch the results in a second
request cannot beat ``13.3 + 0.5 = 13.8 s`` (1.038 x). Target: (a) within 1.1 x the limit. The
spec reports 35 s for its v3.3.1 client and 18 s for v3.5 on this batch.

How
---
Every delay is multiplied by ``--time-scale`` (default 0.1: a 13.3 s schedule takes 1.33 s) and
every reported time is UNscaled (wall / time_scale), so it compares with the spec's seconds. The
client's own time constants (``poll_min``/``poll_max``) are scaled the same way, so it behaves as
it would in real time. Fixed real costs (JSON, circuit parsing, Python) are NOT scaled: at 0.1
they weigh 10 times more in the unscaled numbers than they would in real time; ``--time-scale 1``
runs in real time. Each polling setting is run for each mode: ``defaults`` (the client's
``poll_min=0.25, poll_max=10``: each pause is 2 % of the time waited so far, within those
bounds) and ``fixed`` (``poll_min=poll_max=0.25``: a poll every 0.25 s, for comparison).

Each run uses a fresh server and a fresh client whose connection pool is opened (one untimed
``GET /backends``) before the clock starts; requests are counted from then on. The numba kernels
are compiled before anything is timed (the reference probabilities), and one untimed run of
each mode with zero latency warms the remaining code paths. Every run's probabilities must equal
``StatevectorSimulator``'s to 1e-9 (the script aborts otherwise). Each (setting, mode) is
repeated ``--repeats`` times; min and median are reported. "device done" is when the server's
device finished the batch, "lag" the time from then until the client had every result.

Usage::

    python benchmarks/bench_ionq_batch.py [--time-scale 0.1[,1.0]] [--repeats 3]
        [--modes multi,concurrent,sequential] [--polling defaults,fixed] [--out PATH]

Writes ``benchmarks/results/bench_ionq_batch.json`` (or ``--out``) and the Markdown table next
to it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchenv import environment as machine_environment
from benchenv import load_average, text_table
from q_store.backends.base import CircuitResult
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.batch import IonQBatchClient
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.circuit.ir import Circuit
from q_store.demo import hardware_efficient_circuit
from q_store.sim import StatevectorSimulator

N_CIRCUITS, N_QUBITS, DEPTH, SHOTS = 20, 8, 2, 1000
REQUEST_OVERHEAD, QUEUE_WAIT, SECONDS_PER_CIRCUIT = 0.5, 1.3, 0.575
LIMIT_S = REQUEST_OVERHEAD + QUEUE_WAIT + N_CIRCUITS * SECONDS_PER_CIRCUIT  # 13.3
FLOOR_S = LIMIT_S + REQUEST_OVERHEAD  # the results need a second request
TARGET_RATIO = 1.1
SPEC_V331_S, SPEC_V35_S = 35.0, 18.0
TOLERANCE = 1e-9
SEED = 2024
API_KEY = "bench-key"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_ionq_batch.json"

MODES = {
    "multi": "(a) one multi-circuit job",
    "concurrent": "(b) job per circuit, concurrent",
    "sequential": "(c) job per circuit, sequential",
}
POLLING = {  # unscaled seconds: (poll_min, poll_max)
    "defaults": (0.25, 10.0),
    "fixed": (0.25, 0.25),
}


class MismatchError(RuntimeError):
    pass


# -- workload -------------------------------------------------------------------------------------
def make_circuits() -> list[Circuit]:
    """20 bound circuits of the spec's workload (seeded random weights and inputs)."""
    template = hardware_efficient_circuit(N_QUBITS, DEPTH)
    rng = np.random.default_rng(SEED)
    return [template.bind(rng.uniform(0.0, 2.0 * np.pi, template.n_weights),
                          rng.uniform(0.0, np.pi, template.n_inputs))
            for _ in range(N_CIRCUITS)]


def check(results: list[CircuitResult], reference: list[np.ndarray], what: str) -> float:
    if len(results) != len(reference):
        raise MismatchError(f"{what}: {len(results)} results for {len(reference)} circuits")
    err = max(float(np.max(np.abs(r.probabilities - p)))
              for r, p in zip(results, reference, strict=True))
    if not err <= TOLERANCE:
        raise MismatchError(f"{what}: max |diff| {err:.3e} > {TOLERANCE:g} vs "
                            "StatevectorSimulator")
    return err


# -- the three clients ----------------------------------------------------------------------------
async def run_multi(backend: IonQBackend, circuits: list[Circuit]) -> list[CircuitResult]:
    batch = IonQBatchClient(backend=backend)
    jobs = await batch.submit_batch(circuits, SHOTS)
    return [c for r in await batch.get_results_parallel(jobs) for c in r.circuits]


async def run_concurrent(backend: IonQBackend, circuits: list[Circuit]) -> list[CircuitResult]:
    batch = IonQBatchClient(backend=backend)
    jobs = await batch.submit_batch(circuits, SHOTS, circuits_per_job=1)
    return [c for r in await batch.get_results_parallel(jobs) for c in r.circuits]


async def run_sequential(backend: IonQBackend, circuits: list[Circuit]) -> list[CircuitResult]:
    out: list[CircuitResult] = []
    for circuit in circuits:
        job = await backend.submit_job_async(circuit, SHOTS)
        out.extend((await backend.get_job_result(job)).circuits)
    return out


RUNNERS: dict[str, Callable[[IonQBackend, list[Circuit]], Awaitable[list[CircuitResult]]]] = {
    "multi": run_multi, "concurrent": run_concurrent, "sequential": run_sequential,
}


# -- one run --------------------------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float  # unscaled
    requests: int
    jobs: int
    device_done: float  # unscaled, from the start of the run
    by_kind: dict[str, int]
    max_abs_err: float


def _kind(method: str, path: str) -> str:
    if method == "POST":
        return "submit"
    return "results" if "/results" in path else "status" if "/jobs/" in path else "other"


async def _timed(emu: IonQEmulator, mode: str, circuits: list[Circuit], scale: float,
                 polling: tuple[float, float]) -> tuple[list[CircuitResult], float, float, int]:
    backend = IonQBackend(API_KEY, base_url=emu.root_url, poll_min=polling[0] * scale,
                          poll_max=polling[1] * scale)
    try:
        await backend.client.get_backends()  # open the pool (not timed, not counted)
        first = len(emu.requests)
        wall0, t0 = time.time(), time.perf_counter()
        results = await RUNNERS[mode](backend, circuits)
        return results, time.perf_counter() - t0, wall0, first
    finally:
        await backend.close()


def run_once(mode: str, circuits: list[Circuit], reference: list[np.ndarray], scale: float,
             polling: tuple[float, float]) -> Sample:
    latency = LatencyModel(request_overhead=REQUEST_OVERHEAD, queue_wait=QUEUE_WAIT,
                           seconds_per_circuit=SECONDS_PER_CIRCUIT, time_scale=scale)
    with IonQEmulator(api_key=API_KEY, latency=latency, seed=SEED) as emu:
        results, seconds, wall0, first = asyncio.run(
            _timed(emu, mode, circuits, scale, polling))
        requests = emu.requests[first:]
        jobs = [j for j in emu.jobs.values() if j.parent_id is None]
        done = max(j.response for j in jobs if j.response is not None)
        created = emu.created_jobs_count
    err = check(results, reference, f"{mode}, scale {scale:g}, polling {polling}")
    bad = [r for r in requests if r[2] >= 400 or r[2] == 0]
    if bad:
        raise MismatchError(f"{mode}: failed requests {bad}")
    return Sample(seconds / scale, len(requests), created, (done - wall0) / scale,
                  dict(Counter(_kind(m, p) for m, p, _ in requests)), err)


def warm_up(circuits: list[Circuit], reference: list[np.ndarray], modes: list[str]) -> None:
    """One zero-latency run of each mode: every code path is loaded before timing."""
    with IonQEmulator(api_key=API_KEY, latency=LatencyModel(seconds_per_circuit=0.0)) as emu:
        for mode in modes:
            results, *_ = asyncio.run(_timed(emu, mode, circuits, 1.0, (0.001, 0.001)))
            check(results, reference, f"warm-up {mode}")


# -- rows -----------------------------------------------------------------------------------------
@dataclass
class Row:
    time_scale: float
    polling: str
    poll_min_s: float  # unscaled
    poll_max_s: float
    mode: str
    description: str
    min_s: float
    median_s: float
    min_ratio: float  # to LIMIT_S
    median_ratio: float
    requests: int  # of the median run
    requests_by_kind: dict[str, int]
    jobs: int
    device_done_s: float  # median
    lag_s: float  # median of (seconds - device_done)
    max_abs_err: float
    target_met: bool | None  # mode (a) only
    samples_s: list[float] = field(default_factory=list)
    requests_per_run: list[int] = field(default_factory=list)


def make_row(scale: float, polling: str, mode: str, samples: list[Sample]) -> Row:
    times = [s.seconds for s in samples]
    median = statistics.median(times)
    mid = min(samples, key=lambda s: abs(s.seconds - median))
    pmin, pmax = POLLING[polling]
    return Row(
        time_scale=scale, polling=polling, poll_min_s=pmin, poll_max_s=pmax, mode=mode,
        description=MODES[mode], min_s=min(times), median_s=median,
        min_ratio=min(times) / LIMIT_S, median_ratio=median / LIMIT_S,
        requests=mid.requests, requests_by_kind=mid.by_kind, jobs=mid.jobs,
        device_done_s=statistics.median(s.device_done for s in samples),
        lag_s=statistics.median(s.seconds - s.device_done for s in samples),
        max_abs_err=max(s.max_abs_err for s in samples),
        target_met=(median / LIMIT_S <= TARGET_RATIO) if mode == "multi" else None,
        samples_s=[round(t, 4) for t in times],
        requests_per_run=[s.requests for s in samples],
    )


COLUMNS = ("scale", "polling", "mode", "min s", "median s", "min/limit", "med/limit",
           "requests", "jobs", "device done s", "lag s", "target")


def cells(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        kinds = "/".join(str(r.requests_by_kind.get(k, 0)) for k in ("submit", "status",
                                                                   "results"))
        target = "—" if r.target_met is None else ("met" if r.target_met else "missed")
        out.append([f"{r.time_scale:g}", r.polling, r.description, f"{r.min_s:.2f}",
                    f"{r.median_s:.2f}", f"{r.min_ratio:.3f}x", f"{r.median_ratio:.3f}x",
                    f"{r.requests} ({kinds})", str(r.jobs), f"{r.device_done_s:.2f}",
                    f"{r.lag_s:.2f}", target])
    return out


def reference_lines() -> list[str]:
    return [
        f"physical limit: {REQUEST_OVERHEAD:g} + {QUEUE_WAIT:g} + {N_CIRCUITS} x "
        f"{SECONDS_PER_CIRCUIT:g} = {LIMIT_S:.1f} s; floor with the results fetched in a second "
        f"request: {FLOOR_S:.1f} s ({FLOOR_S / LIMIT_S:.3f}x); target (a) <= "
        f"{TARGET_RATIO:g}x = {TARGET_RATIO * LIMIT_S:.2f} s",
        f"spec: v3.3.1 client {SPEC_V331_S:g} s ({SPEC_V331_S / LIMIT_S:.2f}x), v3.5 "
        f"{SPEC_V35_S:g} s ({SPEC_V35_S / LIMIT_S:.2f}x)",
        "device done: when the server's device finished the batch (13.3 s if parsing and "
        "simulating took no real time: the excess is their real time divided by the time "
        "scale); lag: from then until the client held every result (at least 0.5 s, the "
        "results request)",
        "requests: total (submit/status/results); polling 'defaults': pauses of 2 % of the "
        "time waited, within poll_min 0.25 s and poll_max 10 s (the client's defaults); "
        "'fixed': poll_min = poll_max = 0.25 s; times unscaled (wall / time_scale)",
    ]


def environment() -> dict[str, Any]:
    return machine_environment(("q-store", "numpy", "numba", "httpx"))


def markdown(rows: list[Row], env: dict[str, Any], notes: list[str]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |",
           "| " + " | ".join(["---"] * 3 + ["---:"] * (len(COLUMNS) - 3)) + " |"]
    out += ["| " + " | ".join(c) + " |" for c in cells(rows)]
    v = env["versions"]
    out += ["", f"{N_CIRCUITS} circuits, {N_QUBITS} qubits, depth {DEPTH}, {SHOTS} shots, "
                f"ideal simulator; min and median of {len(rows[0].samples_s)} runs, unscaled "
                f"seconds. {env['cpu_count']} CPUs ({env['cpu_model']}); q-store "
                f"{v['q-store']}, httpx {v['httpx']}, numpy {v['numpy']}, numba {v['numba']}, "
                f"Python {env['python']}, {env['timestamp']}; 1-min load average "
                f"{env['load_average_at_start']} at start, {env['load_average_at_end']} at "
                "end.", ""]
    out += [f"- {n}" for n in reference_lines() + notes]
    return "\n".join(out) + "\n"


def write_outputs(path: Path, rows: list[Row], env: dict[str, Any], notes: list[str],
                  md: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    multi = [r for r in rows if r.mode == "multi"]
    payload = {
        "benchmark": "IonQ batch of 20 circuits (8 qubits, hardware-efficient depth 2, 1000 "
                     "shots, ideal simulator) on the local IonQ server with the spec's v3.4 "
                     "latencies",
        "units": "unscaled seconds (wall / time_scale); ratio = time / physical limit",
        "latency": {"request_overhead_s": REQUEST_OVERHEAD, "queue_wait_s": QUEUE_WAIT,
                    "seconds_per_circuit": SECONDS_PER_CIRCUIT},
        "physical_limit_s": LIMIT_S,
        "floor_with_results_request_s": FLOOR_S,
        "target_ratio": TARGET_RATIO,
        "target_met": {f"scale {r.time_scale:g}, polling {r.polling}": r.target_met
                       for r in multi},
        "spec_reported_s": {"v3.3.1": SPEC_V331_S, "v3.5": SPEC_V35_S},
        "tolerance_vs_statevector": TOLERANCE,
        "seed": SEED,
        "environment": env,
        "notes": reference_lines() + notes,
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path = path.with_suffix(".md")
    md_path.write_text(md)
    return md_path


# -- main -----------------------------------------------------------------------------------------
def _choices(allowed: dict[str, str] | dict[str, tuple[float, float]]
             ) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}; got {text!r}")
        return items
    return parse


def _scales(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"time scales must be numbers, got {text!r}") from None
    if not values or any(not 0 < v <= 10 for v in values):
        raise argparse.ArgumentTypeError(f"time scales must be in (0, 10], got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--time-scale", type=_scales, default=[0.1],
                   help="comma-separated delay multipliers (default 0.1; 1 is real time)")
    p.add_argument("--repeats", type=int, default=3, help="runs per (polling, mode)")
    p.add_argument("--modes", type=_choices(MODES), default=list(MODES),
                   help=f"comma-separated, from {', '.join(MODES)}")
    p.add_argument("--polling", type=_choices(POLLING), default=list(POLLING),
                   help=f"comma-separated, from {', '.join(POLLING)}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="JSON output path; the Markdown table goes next to it (.md)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    t_start = time.perf_counter()
    circuits = make_circuits()
    sim = StatevectorSimulator()
    reference = [sim.probabilities(c) for c in circuits]  # also compiles the numba kernels
    rows: list[Row] = []
    try:
        warm_up(circuits, reference, args.modes)
        for scale in args.time_scale:
            for polling in args.polling:
                for mode in args.modes:
                    print(f"[bench] scale {scale:g}, polling {polling}, {MODES[mode]} ...",
                          file=sys.stderr, flush=True)
                    samples = [run_once(mode, circuits, reference, scale, POLLING[polling])
                               for _ in range(args.repeats)]
                    rows.append(make_row(scale, polling, mode, samples))
    except MismatchError as e:
        print(f"error: results disagree, benchmark aborted: {e}", file=sys.stderr)
        return 2
    env["load_average_at_end"] = load_average()
    env["benchmark_wall_s"] = round(time.perf_counter() - t_start, 1)
    notes = [f"every run's probabilities equal StatevectorSimulator's to {TOLERANCE:g} "
             f"(largest difference {max(r.max_abs_err for r in rows):.1e})"]
    md = markdown(rows, env, notes)
    print(text_table(COLUMNS, cells(rows), left=3))
    for n in reference_lines() + notes:
        print(f"note: {n}")
    print()
    print(md)
    md_path = write_outputs(args.out, rows, env, notes, md)
    print(f"wrote {args.out} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
