"""What the live dashboard costs the training loop.

What is measured
----------------
The training of ``bench_run_store.py`` (scikit-learn digits 0-3, amplitude encoding on 6
qubits, one hardware-efficient layer of depth 2, exact adjoint gradients, Adam, batch 8,
``--epochs`` (10) epochs of 36 steps of a few milliseconds each: events as fast as this
simulator makes them, the worst case for a subscriber) run three ways, interleaved,
``--repeats`` times each:

* ``plain``: ``QuantumTrainer.fit`` (performance tracking on, no dashboard);
* ``dashboard``: ``enable_dashboard=True``: the event hub subscribed to the tracker and the
  uvicorn server idle in its thread (no page open);
* ``dashboard+client``: the same with a client in another process (as a browser would be)
  streaming the run's server-sent events from the moment it starts, so the server thread
  encodes and sends every event while training runs.

The server is started before the clock starts (its start time is reported apart). Reported:
median and spread (min-max) of the training time, ratio of medians to ``plain`` and the median
of each repeat's own ratio to its ``plain`` run (paired: a repeat's modes run back to back, so
slow changes of the machine's load cancel), the process's CPU time over ``fit`` (all threads,
the server's included) and its ratio, the server thread's own CPU time during ``fit``, the
time the training thread spends in the hub's subscriber per event (measured by wrapping it),
and, for the client, the events it received (checked equal to the run's, in order). Final
weights must be identical in every run (the dashboard only reads).

Usage::

    python benchmarks/bench_dashboard.py [--repeats 9] [--epochs 10] [--out PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchenv import environment, load_average, text_table
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.layers import HardwareEfficientQuantumLayer

MODES = ("plain", "dashboard", "dashboard+client")


def _data():
    x, y = load_digits(return_X_y=True)
    keep = y < 4
    return x[keep][:288], y[keep][:288]


def _thread_cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


# The browser's part, in its own process (only httpx imported): wait for a run that has not
# been streamed yet, stream its events, report "run ID EVENTS IN_ORDER", repeat; exit when the
# server is gone. One connection pool, as a browser keeps.
CLIENT = """
import json, sys, time
import httpx
url, http, done = sys.argv[1], httpx.Client(timeout=60), set()
print("ready", flush=True)
while True:
    try:
        runs = http.get(url + "api/runs").json()["runs"]
    except httpx.HTTPError:
        break
    todo = [r for r in runs if r["id"] not in done]
    if not todo:
        time.sleep(0.05)
        continue
    run, ids, kind = todo[0], [], None
    with http.stream("GET", url + "api/runs/" + run["id"] + "/stream") as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "events":
                ids += [e["_id"] for e in json.loads(line[6:])]
    ordered = all(a < b for a, b in zip(ids, ids[1:]))
    print("run", run["id"], len(ids), ordered, flush=True)
    done.add(run["id"])
"""


def run_once(mode: str, x, y, epochs: int) -> dict:
    dashboard = mode != "plain"
    cfg = TrainingConfig(epochs=epochs, batch_size=8, learning_rate=0.05, seed=1,
                         **({"enable_dashboard": True, "dashboard_port": 0} if dashboard
                            else {}))
    model = QuantumModel(64, 4, task="classification", encoding="amplitude", seed=1,
                         layers=[HardwareEfficientQuantumLayer(6, depth=2)])
    trainer = QuantumTrainer(cfg)
    out = {"start_s": None, "subscriber_s": 0.0, "server_cpu_s": None, "client_events": None}
    proc = None
    if dashboard:
        from q_store.dashboard import TrainerDashboard

        t = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            trainer.dashboard = TrainerDashboard(0)  # what the first train() starts
        out["start_s"] = time.perf_counter() - t
        hub, spent = trainer.dashboard.hub, out
        inner = hub.publish

        def timed(event, inner=inner):
            s = time.perf_counter()
            inner(event)
            spent["subscriber_s"] += time.perf_counter() - s

        hub.publish = timed  # subscribed in place of the method at train()
        if mode == "dashboard+client":
            proc = subprocess.Popen([sys.executable, "-c", CLIENT, trainer.dashboard.url],
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        server_thread = trainer.dashboard.server._thread
        cpu_server0 = _thread_cpu(server_thread)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(model, (x, y))
    out["fit_s"] = time.perf_counter() - t0
    out["cpu_s"] = time.process_time() - c0
    if dashboard:
        out["server_cpu_s"] = _thread_cpu(server_thread) - cpu_server0
        (run,) = trainer.dashboard.hub.runs()
        out["events"] = run["events"]
    if proc is not None:
        assert proc.stdout is not None
        _, run_id, n, ordered = proc.stdout.readline().split()
        assert run_id == run["id"] and ordered == "True", (run_id, ordered)
        out["client_events"] = int(n)
    trainer.close()
    if proc is not None:
        proc.wait(30)
    out["weights"] = model.weights.copy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "dashboard.json"))
    args = ap.parse_args()
    x, y = _data()
    load_start = load_average()
    for mode in MODES:  # untimed: numba kernels, imports, the web stack
        run_once(mode, x, y, args.epochs)
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(args.repeats):
        for mode in MODES:  # interleaved, so drifting load hits every mode alike
            runs[mode].append(run_once(mode, x, y, args.epochs))
    weights = [r["weights"] for m in MODES for r in runs[m]]
    same = all(np.array_equal(w, weights[0]) for w in weights)
    complete = all(r["client_events"] == r["events"] for r in runs["dashboard+client"])

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    rows, records = [], []
    for mode in MODES:
        fit = [r["fit_s"] for r in runs[mode]]
        dash = mode != "plain"
        per_event = (statistics.median(r["subscriber_s"] / r["events"] for r in runs[mode])
                     if dash else None)
        # each repeat's modes ran back to back: their ratio cancels slow drifts of the load
        paired = statistics.median(r["fit_s"] / p["fit_s"]
                                   for r, p in zip(runs[mode], runs["plain"], strict=True))
        rows.append([
            mode, f"{med(mode, 'fit_s'):.3f}", f"{min(fit):.3f}-{max(fit):.3f}",
            "(ref)" if not dash else f"{med(mode, 'fit_s') / med('plain', 'fit_s'):.3f}",
            "(ref)" if not dash else f"{paired:.3f}",
            f"{med(mode, 'cpu_s'):.3f}",
            "(ref)" if not dash else f"{med(mode, 'cpu_s') / med('plain', 'cpu_s'):.3f}",
            "-" if not dash else f"{1e3 * med(mode, 'server_cpu_s'):.1f}",
            "-" if not dash else f"{1e6 * per_event:.2f}",
            "-" if not dash else str(runs[mode][-1]["events"]),
            "-" if mode != "dashboard+client" else str(runs[mode][-1]["client_events"]),
            "-" if not dash else f"{1e3 * med(mode, 'start_s'):.0f}"])
        records.append({
            "mode": mode, "median_fit_s": med(mode, "fit_s"), "min_fit_s": min(fit),
            "max_fit_s": max(fit), "ratio": med(mode, "fit_s") / med("plain", "fit_s"),
            "paired_ratio_median": paired,
            "median_cpu_s": med(mode, "cpu_s"),
            "cpu_ratio": med(mode, "cpu_s") / med("plain", "cpu_s"),
            "server_cpu_ms": None if not dash else 1e3 * med(mode, "server_cpu_s"),
            "subscriber_us_per_event": None if per_event is None else 1e6 * per_event,
            "events": runs[mode][-1].get("events"),
            "client_events": runs[mode][-1]["client_events"],
            "server_start_ms": None if not dash else 1e3 * med(mode, "start_s"),
            "fit_times": fit})
    table = text_table(("mode", "fit median s", "fit spread s", "ratio", "paired ratio",
                        "CPU s", "CPU ratio",
                        "server CPU ms", "subscriber us/event", "events", "streamed",
                        "start ms"), rows)
    note = (f"final weights identical across all {len(weights)} runs: {same}; every client "
            f"received all events in order: {complete}; {args.repeats} interleaved repeats of "
            f"{args.epochs} epochs after one untimed run of each mode; 1-min load "
            f"{load_start} at start, {load_average()} at end")
    print(table)
    print("\n" + note)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": records, "identical_weights": same,
                               "client_complete": complete, "repeats": args.repeats,
                               "epochs": args.epochs, "load_start": load_start,
                               "load_end": load_average(),
                               "environment": environment(("numpy", "numba", "starlette",
                                                           "uvicorn"))}, indent=2))
    out.with_suffix(".md").write_text("```\n" + table + "\n```\n\n" + note[0].upper()
                                      + note[1:] + ".\n")
    if not (same and complete):
        raise SystemExit("the dashboard changed the training or lost events")


if __name__ == "__main__":
    main()
