"""Scale-out benchmark: circuits, training steps and hyperparameter trials on 1 and 2 Dask
workers, against the in-process engine.

What is measured (all in one run, repeats interleaved so that load from other processes falls
on every system alike; the median and the spread (min-max) over repeats are reported, and the
1-minute load average before each section)
-------------------------------------------------------------------------------------------
* circuit batches: one ExpectationRequest of ``--rows`` rows of the v3.3 circuit (8 qubits,
  RX embedding, 2 hardware-efficient layers, ``<Z0>``): circuits per second in process (numba
  threads 1 and 2) and on LocalClusters of 1 and 2 worker processes (one thread each);
* per-task overhead: ``engine.run`` of a 1-row request (one task: the round-trip latency) and
  of 64 one-row tasks (the marginal cost of a task), in milliseconds; with the in-process time
  per row this says from which rows per task distribution pays;
* data-parallel training steps: adjoint training steps per second on the v3.3 example (batch
  10) and on a larger one (12 qubits, batch 200), in process (numba's threads, and 1 thread)
  and on 1 and 2 workers; the
  weights after each run must equal the in-process run's to 1e-12;
* hyperparameter search: 20 Optuna trials on the v3.3 example (100 samples, 8 features,
  8 qubits, depth 2, 5 epochs, batch 10; learning rate on a log range, batch size from
  [5, 10, 20]), in process and as Dask tasks on 1 and 2 workers, after an untimed 2-trial
  search on each (worker imports, kernels): wall time and best validation loss.

The machine has 2 cores, so 2x is the ceiling of any ratio here. Writes
``benchmarks/results/scale.json`` (or ``--out``) and the Markdown table next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchenv import environment, load_average, text_table
from q_store.circuit import Z
from q_store.demo import hardware_efficient_circuit
from q_store.execution.dask_cluster import close_all
from q_store.execution.dask_engine import DaskEngine
from q_store.execution.engine import ExecutionEngine, values_request
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scale.json"


def spread(ts: list[float]) -> dict[str, float]:
    return {"median": float(np.median(ts)), "min": float(min(ts)), "max": float(max(ts))}


def circuit_batches(clients: dict[int, Any], rows: int, repeats: int) -> dict[str, Any]:
    c = hardware_efficient_circuit(8, 2)
    rng = np.random.default_rng(0)
    req = values_request(c, (Z(0),), rng.normal(size=c.n_weights),
                         rng.uniform(-np.pi, np.pi, size=(rows, 8)))
    engines: dict[str, Any] = {
        "in process, 1 thread": ExecutionEngine(StatevectorSimulator(threads=1)),
        "in process, 2 threads": ExecutionEngine(StatevectorSimulator(threads=2))}
    for n, client in clients.items():
        engines[f"dask, {n} worker(s)"] = DaskEngine(StatevectorSimulator(), client=client)
    ref = asyncio.run(engines["in process, 1 thread"].run([req]))[0]
    times: dict[str, list[float]] = {k: [] for k in engines}
    for e in engines.values():  # warm-up: numba kernels, templates on the workers
        assert np.array_equal(asyncio.run(e.run([req]))[0], ref)
    for _ in range(repeats):
        for name, e in engines.items():
            t0 = time.perf_counter()
            asyncio.run(e.run([req]))
            times[name].append(time.perf_counter() - t0)
    return {k: {**spread(v), "circuits_per_s": rows / float(np.median(v))}
            for k, v in times.items()}


def task_overhead(clients: dict[int, Any], repeats: int) -> dict[str, Any]:
    c = hardware_efficient_circuit(8, 2)
    rng = np.random.default_rng(1)
    w = rng.normal(size=c.n_weights)
    one = values_request(c, (Z(0),), w, rng.uniform(-1, 1, size=(1, 8)))
    many = values_request(c, (Z(0),), w, rng.uniform(-1, 1, size=(64, 8)))
    local = ExecutionEngine(StatevectorSimulator(threads=1))
    out: dict[str, Any] = {}
    t_row: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        asyncio.run(local.run([many]))
        t_row.append((time.perf_counter() - t0) / 64)
    out["in process: per row (1 thread)"] = spread(t_row)
    for n, client in clients.items():
        e1 = DaskEngine(StatevectorSimulator(), client=client)
        e64 = DaskEngine(StatevectorSimulator(), client=client, chunk_rows=1)
        asyncio.run(e1.run([one]))
        asyncio.run(e64.run([many]))
        rt, per = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            asyncio.run(e1.run([one]))
            rt.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            asyncio.run(e64.run([many]))
            per.append((time.perf_counter() - t0) / 64 * n)  # worker-seconds per task
        out[f"{n} worker(s): 1-task round trip"] = spread(rt)
        out[f"{n} worker(s): per task (64 tasks)"] = spread(per)
    return out


def training_steps(addresses: dict[int, str], repeats: int) -> dict[str, Any]:
    cases = {"v3.3 example (8 qubits, batch 10)": (8, 100, 10),
             "large batch (12 qubits, batch 200)": (12, 400, 200)}
    out: dict[str, Any] = {}
    for label, (q, n, batch) in cases.items():
        rng = np.random.default_rng(2)
        xs = rng.uniform(-np.pi, np.pi, size=(n, q))
        ys = np.cos(xs[:, 0]) * 0.5
        systems: dict[str, dict[str, Any]] = {"in process": {}, "in process, 1 thread": {}}
        for k, addr in addresses.items():
            systems[f"dask, {k} worker(s)"] = {"executor": "dask", "dask_scheduler": addr}
        times: dict[str, list[float]] = {k: [] for k in systems}
        weights: dict[str, np.ndarray] = {}
        for rep in range(repeats + 1):  # the first is the warm-up
            for name, opts in systems.items():
                cfg = TrainingConfig(n_qubits=q, circuit_depth=2, batch_size=batch, epochs=1,
                                     learning_rate=0.05, seed=0, **opts)
                model = QuantumModel.from_config(cfg, q, 1, hardware_efficient=True)
                trainer = QuantumTrainer(cfg)
                if name.endswith("1 thread"):
                    trainer.simulator.threads = 1  # like one worker
                t0 = time.perf_counter()
                trainer.fit(model, (xs, ys))
                if rep:
                    times[name].append((time.perf_counter() - t0) / (n // batch))
                weights[name] = model.weights
        ref = weights["in process"]
        out[label] = {k: {**spread(v), "steps_per_s": 1 / float(np.median(v)),
                          "max_weight_diff": float(np.max(np.abs(weights[k] - ref)))}
                      for k, v in times.items()}
    return out


def search(addresses: dict[int, str], repeats: int, trials: int) -> dict[str, Any]:
    from q_store.cli_tune import spec_example

    space = {"learning_rate": {"low": 0.005, "high": 0.3, "log": True},
             "batch_size": [5, 10, 20]}
    systems = {"in process": {}}
    for k, addr in addresses.items():
        systems[f"dask, {k} worker(s)"] = {"executor": "dask", "dask_scheduler": addr}
    res: dict[str, dict[str, list[float]]] = {k: {"t": [], "best": []} for k in systems}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(-1, repeats):  # -1: warm-up (imports, kernels, storage on workers)
            for name, opts in systems.items():
                cfg = TrainingConfig(n_qubits=8, circuit_depth=2, epochs=5, batch_size=10,
                                     learning_rate=0.05, seed=0, hardware_efficient_ansatz=True,
                                     enable_performance_tracking=False, **opts)
                xt, yt, xv, yv = spec_example(cfg, 100, 0)
                model = QuantumModel.from_config(cfg, 8, 1)
                trainer = QuantumTrainer(cfg)
                url = f"sqlite:///{tmp}/{rep}-{name.replace(' ', '_').replace(',', '')}.db"
                t0 = time.perf_counter()
                asyncio.run(trainer.optimize_hyperparameters(
                    space, trials if rep >= 0 else 2, model=model, train_loader=(xt, yt),
                    val_loader=(xv, yv), storage=url))
                if rep >= 0:
                    res[name]["t"].append(time.perf_counter() - t0)
                    res[name]["best"].append(float(trainer.study.best_value))
    return {k: {**spread(v["t"]), "best_losses": v["best"]} for k, v in res.items()}


def render(r: dict[str, Any]) -> str:
    def ms(s: dict[str, float], scale: float = 1e3) -> str:
        return f"{s['median'] * scale:.2f} ({s['min'] * scale:.2f}-{s['max'] * scale:.2f})"

    parts = [f"load average: {r['load']}"]
    cb = r["circuit_batches"]
    base = cb["in process, 1 thread"]["circuits_per_s"]
    parts.append(f"\ncircuit batches ({r['rows']} rows of 8 qubits), ms per batch:\n" + text_table(
        ("system", "ms median (min-max)", "circuits/s", "vs 1 thread"),
        [[k, ms(v), f"{v['circuits_per_s']:.0f}", f"{v['circuits_per_s'] / base:.2f}x"]
         for k, v in cb.items()]))
    parts.append("\nper-task overhead, ms:\n" + text_table(
        ("what", "ms median (min-max)"), [[k, ms(v)] for k, v in r["overhead"].items()]))
    for label, sys_ in r["training"].items():
        b = sys_["in process"]["steps_per_s"]
        parts.append(f"\ntraining steps, {label}:\n" + text_table(
            ("system", "ms/step median (min-max)", "steps/s", "vs in process", "max |dw|"),
            [[k, ms(v), f"{v['steps_per_s']:.1f}", f"{v['steps_per_s'] / b:.2f}x",
              f"{v['max_weight_diff']:.1e}"] for k, v in sys_.items()]))
    s = r["search"]
    b = s["in process"]["median"]
    parts.append(f"\nhyperparameter search ({r['trials']} trials, v3.3 example):\n" + text_table(
        ("system", "s median (min-max)", "vs in process", "best val loss per repeat"),
        [[k, ms(v, 1.0), f"{b / v['median']:.2f}x",
          ", ".join(f"{x:.5f}" for x in v["best_losses"])] for k, v in s.items()]))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--search-repeats", type=int, default=3)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--search-only", action="store_true", help="only the search section")
    args = p.parse_args(argv)
    import distributed

    env = environment(("numpy", "numba", "dask", "distributed", "optuna"))
    clusters = {n: distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
                for n in (1, 2)}
    clients = {n: distributed.Client(c) for n, c in clusters.items()}
    addresses = {n: c.scheduler_address for n, c in clusters.items()}
    r: dict[str, Any] = {"rows": args.rows, "trials": args.trials, "load": {}}
    try:
        if args.search_only:
            return _search_only(r, addresses, args)
        r["load"]["circuits"] = load_average()
        r["circuit_batches"] = circuit_batches(clients, args.rows, args.repeats)
        r["load"]["overhead"] = load_average()
        r["overhead"] = task_overhead(clients, args.repeats)
        r["load"]["training"] = load_average()
        r["training"] = training_steps(addresses, max(2, args.repeats // 2))
        r["load"]["search"] = load_average()
        r["search"] = search(addresses, args.search_repeats, args.trials)
        r["load"]["end"] = load_average()
    finally:
        close_all()
        for client in clients.values():
            client.close()
        for cluster in clusters.values():
            cluster.close()
    md = render(r)
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": env, "results": r}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("```\n" + md + "\n```\n")
    return 0


def _search_only(r: dict[str, Any], addresses: dict[int, str], args: Any) -> int:
    r["load"]["search"] = load_average()
    s = search(addresses, args.search_repeats, args.trials)
    print(f"load average {r['load']['search']} -> {load_average()}")
    for k, v in s.items():
        print(f"{k}: {v['median']:.2f} s ({v['min']:.2f}-{v['max']:.2f}), best {v['best_losses']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
