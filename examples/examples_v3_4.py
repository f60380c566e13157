"""The v3.4 components against the local IonQ-compatible server this script starts.

The server speaks IonQ's HTTP API over loopback and models the v3.4 document's latencies
(0.5 s per request, 1.3 s queue wait per job, 0.575 s per circuit), here scaled down by
``--time-scale`` (0.05: a 13.3 s schedule takes 0.67 s); every time printed is unscaled
(wall / time scale), so it reads like the document's seconds. Fixed real costs (HTTP, JSON,
simulating the circuits) are not scaled, so they weigh 1 / time-scale times more than in real
time.

1. IonQBatchClient: 20 circuits as one multi-circuit job, against one job per circuit.
2. IonQNativeGateCompiler: GPI/GPI2/MS gates, checked unitary for unitary.
3. SmartCircuitCache: a circuit's structure built once and bound for every sample.
4. CircuitBatchManagerV34: all of it in one manager; a repeated batch comes from its cache.
5. AdaptiveQueueManager: jobs of 20, 10 or 5 circuits as the measured queue wait grows
   (on the server's fake clock, so the waits are exact and cost no real time).
6. The configuration switches, and training through them on the server.

Usage::

    python examples/examples_v3_4.py [--section N ...] [--quick] [--json] [--time-scale S]
    IONQ_API_KEY=... python examples/examples_v3_4.py --ionq-cloud --section 1 --section 4

``--ionq-cloud`` sends sections 1, 2, 4 and 6 to IonQ's cloud simulator (free of charge, with
its real queue) using ``IONQ_API_KEY``; nothing reaches IonQ without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from q_store.backends import IonQBackend, IonQBatchClient, IonQEmulator, LatencyModel
from q_store.backends.ionq.emulator import ManualClock
from q_store.circuit import Circuit, Z, x
from q_store.compile import IonQNativeGateCompiler
from q_store.core import CircuitBatchManager
from q_store.data import DataLoader
from q_store.execution.cache import SmartCircuitCache
from q_store.ml import (
    AdaptiveQueueManager,
    CircuitBatchManagerV34,
    HardwareEfficientQuantumLayer,
    QuantumModel,
    QuantumTrainer,
    TrainingConfig,
)
from q_store.ml.config import V34_FEATURES
from q_store.sim import StatevectorSimulator

Summary = dict[str, Any]
KEY = "local-example-key"  # the local server's key (any string; nothing leaves this machine)
# the v3.4 document's latency breakdown, in seconds
REQUEST_OVERHEAD, QUEUE_WAIT, SECONDS_PER_CIRCUIT = 0.5, 1.3, 0.575
N_CIRCUITS, N_QUBITS, DEPTH, SHOTS = 20, 8, 2, 1000
SIM = StatevectorSimulator()


@dataclass
class Target:
    """Where IonQ requests go: the local server (``server``) or IonQ's cloud."""

    api_key: str
    base_url: str | None  # None: https://api.ionq.co
    server: IonQEmulator | None
    scale: float  # the server's time scale (1 in the cloud)

    def backend(self, **options: Any) -> IonQBackend:
        """An IonQ simulator backend whose polling follows the time scale."""
        options.setdefault("poll_min", 0.25 * self.scale)
        options.setdefault("poll_max", 10.0 * self.scale)
        return IonQBackend(self.api_key, base_url=self.base_url, **options)

    def jobs(self) -> list[Any]:
        """The server's top-level jobs (empty in the cloud, where we cannot see them)."""
        if self.server is None:
            return []
        return [j for j in self.server.jobs.values() if j.parent_id is None]


@contextmanager
def ionq_target(cloud: bool, scale: float, latency: LatencyModel | None = None
                ) -> Iterator[Target]:
    if cloud:
        key = os.environ.get("IONQ_API_KEY")
        if not key:
            raise SystemExit("--ionq-cloud needs IONQ_API_KEY in the environment")
        yield Target(key, None, None, 1.0)
        return
    if latency is None:
        latency = LatencyModel(request_overhead=REQUEST_OVERHEAD, queue_wait=QUEUE_WAIT,
                               seconds_per_circuit=SECONDS_PER_CIRCUIT, time_scale=scale)
    with IonQEmulator(api_key=KEY, latency=latency, seed=0) as server:
        yield Target(KEY, server.root_url, server, scale or 1.0)


def workload_template() -> Circuit:
    """The documents' workload: RX embedding, hardware-efficient layers (RY, RZ, CNOT ring)."""
    b = Circuit.builder(N_QUBITS)
    for q in range(N_QUBITS):
        b.rx(q, x[q])
    HardwareEfficientQuantumLayer(N_QUBITS, DEPTH).append_to(b, range(N_QUBITS), 0)
    return b.build()


def make_circuits(n: int = N_CIRCUITS, seed: int = 0) -> list[Circuit]:
    t = workload_template()
    rng = np.random.default_rng(seed)
    return [t.bind(rng.uniform(-np.pi, np.pi, t.n_weights), rng.uniform(-1, 1, t.n_inputs))
            for _ in range(n)]


def max_error(results: list[Any], circuits: list[Circuit]) -> float:
    """Largest |probability - exact| over all results (the ideal simulator is exact)."""
    return max(float(np.max(np.abs(r.probabilities - SIM.probabilities(c))))
               for r, c in zip(results, circuits, strict=True))


# -- 1. IonQBatchClient ---------------------------------------------------------------------------
async def batch_client(args: argparse.Namespace) -> Summary:
    circuits = make_circuits()
    limit = REQUEST_OVERHEAD + QUEUE_WAIT + N_CIRCUITS * SECONDS_PER_CIRCUIT
    out: Summary = {"physical_limit_s": limit}
    with ionq_target(args.ionq_cloud, args.time_scale) as target:
        for mode in ("one multi-circuit job", "one job per circuit, one after another"):
            backend = target.backend()
            await backend.client.get_backends()  # open the connection pool first
            first_request = len(target.server.requests) if target.server else 0
            jobs_before = len(target.jobs())
            start = time.perf_counter()
            if mode.startswith("one multi"):
                async with IonQBatchClient(backend=backend) as client:
                    job_ids = await client.submit_batch(circuits, shots=SHOTS)
                    results = [c for r in await client.get_results_parallel(job_ids)
                               for c in r.circuits]
            else:  # what a v3.3.1-style client did
                results = []
                for circuit in circuits:
                    job_id = await backend.submit_job_async(circuit, SHOTS)
                    results += (await backend.get_job_result(job_id)).circuits
                await backend.close()
            seconds = (time.perf_counter() - start) / target.scale
            jobs = len(target.jobs()) - jobs_before if target.server else None
            requests = (len(target.server.requests) - first_request) if target.server else None
            error = max_error(results, circuits)
            out[mode] = {"seconds": seconds, "jobs": jobs, "requests": requests,
                         "max_error": error}
            print(f"  {mode}: {seconds:.2f} s ({seconds / limit:.2f}x the physical limit "
                  f"{limit:.1f} s), {jobs} job(s), {requests} requests, results within "
                  f"{error:.0e} of exact")
    return out


# -- 2. native gates ------------------------------------------------------------------------------
async def native_gates(args: argparse.Namespace) -> Summary:
    circuit = make_circuits(1)[0]
    compiler = IonQNativeGateCompiler("aria")
    compiled = compiler.compile(circuit)
    u_in = SIM.unitary(circuit)
    u_out = SIM.unitary(compiled.circuit_with_final_z())
    overlap = np.trace(u_out.conj().T @ u_in)
    phase = overlap / abs(overlap)
    unitary_error = float(np.max(np.abs(u_in - phase * u_out)))
    p_native = compiled.restore_probabilities(SIM.probabilities(compiled.circuit))
    prob_error = float(np.max(np.abs(p_native - SIM.probabilities(circuit))))
    print(f"  {compiled.report()}")
    print(f"  native gates used: {dict(sorted(compiled.gate_counts_after.items()))}")
    print(f"  max |U - e^(i phi) U_native| = {unitary_error:.1e}; probabilities differ by at "
          f"most {prob_error:.1e}")
    with ionq_target(args.ionq_cloud, 0.0, LatencyModel(time_scale=0)) as target:
        async with IonQBatchClient(backend=target.backend(native_gates=True)) as client:
            results = await client.execute_batch([circuit], shots=SHOTS)
        sent = target.jobs()[0].gate_counts if target.server else None
    server_error = max_error(results, [circuit])
    print(f"  sent as native gates (1q, 2q gates {sent}); the result is within "
          f"{server_error:.0e} of the exact probabilities")
    return {**compiled.stats, "unitary_error": unitary_error, "probability_error": prob_error,
            "native_gates": sorted(compiled.gate_counts_after), "server_error": server_error,
            "sent_gate_counts": list(sent) if sent else None}


# -- 3. template cache ----------------------------------------------------------------------------
async def smart_cache(args: argparse.Namespace) -> Summary:
    template = workload_template()
    rng = np.random.default_rng(3)
    n = 50 if args.quick else 200
    weights = rng.uniform(-np.pi, np.pi, (n, template.n_weights))
    inputs = rng.uniform(-1.0, 1.0, (n, template.n_inputs))
    out: Summary = {"samples": n}
    values = {}
    for name, size in (("rebuilt every time", 0), ("SmartCircuitCache", 1000)):
        cache = SmartCircuitCache(max_size=size)  # max_size=0 keeps nothing
        sim = StatevectorSimulator(cache=cache)
        values[name] = np.array([sim.expectation(template, Z(0), weights[i], inputs[i])
                                 for i in range(n)])
        stats = cache.get_stats()
        build_total = (stats["build_time_ms"] or 0.0) * stats["misses"]
        out[name] = {"builds": stats["misses"], "hits": stats["hits"],
                     "build_time_ms": stats["build_time_ms"],
                     "bind_time_ms": stats["bind_time_ms"], "build_total_ms": build_total}
        print(f"  {name}: {stats['misses']} builds ({stats['build_time_ms']:.3f} ms each, "
              f"{build_total:.1f} ms in all), {stats['hits']} hits, binding "
              f"{stats['bind_time_ms']:.3f} ms per sample")
    same = bool(np.array_equal(values["rebuilt every time"], values["SmartCircuitCache"]))
    print(f"  {n} samples, identical values either way: {same}")
    out["identical"] = same
    return out


# -- 4. CircuitBatchManagerV34 --------------------------------------------------------------------
async def manager_v34(args: argparse.Namespace) -> Summary:
    # one template and 20 rows of weights and inputs: the manager binds them through its
    # template cache (SmartCircuitCache) into 20 circuits
    template = workload_template()
    rng = np.random.default_rng(4)
    weights = rng.uniform(-np.pi, np.pi, (N_CIRCUITS, template.n_weights))
    inputs = rng.uniform(-1.0, 1.0, (N_CIRCUITS, template.n_inputs))
    circuits = [template.bind(w, v) for w, v in zip(weights, inputs, strict=True)]
    with ionq_target(args.ionq_cloud, args.time_scale) as target:
        async with CircuitBatchManagerV34(
            api_key=target.api_key, base_url=target.base_url,
            use_batch_api=True, use_native_gates=True,
            poll_min=0.25 * target.scale, poll_max=10.0 * target.scale,
        ) as manager:
            start = time.perf_counter()
            results = await manager.execute_batch([template], shots=SHOTS,
                                                  parameters=weights, inputs=inputs)
            seconds = (time.perf_counter() - start) / target.scale
            # the same batch again: the template is found, the results are in the cache
            again = await manager.execute_batch([template], shots=SHOTS, parameters=weights,
                                                inputs=inputs)
            # Get detailed statistics
            stats = manager.get_performance_stats()
            print(f"  Throughput: {stats['throughput_circuits_per_sec']:.2f} circuits/sec "
                  "(both calls, real time)")
            print(f"  Cache hit rate: {stats['circuit_cache']['template_hit_rate']:.1%} "
                  "(templates: built in the first call, found in the second)")
            # Or print comprehensive report
            manager.print_performance_report()
        jobs = len(target.jobs()) if target.server else None
    error = max_error(results, circuits)
    same = all(np.array_equal(a.probabilities, b.probabilities)
               for a, b in zip(results, again, strict=True))
    print(f"  first batch: {seconds:.2f} s (unscaled), {stats['jobs']} job(s) counted by the "
          f"manager, {jobs} by the server; repeat: {stats['cache_hits']} of {len(circuits)} "
          f"from the result cache, identical: {same}; results within {error:.0e} of exact")
    return {"jobs": stats["jobs"], "server_jobs": jobs, "cache_hits": stats["cache_hits"],
            "identical": same, "max_error": error, "seconds": seconds,
            "circuits_executed": stats["circuits_executed"],
            "template_hit_rate": stats["circuit_cache"]["template_hit_rate"]}


# -- 5. adaptive queue manager --------------------------------------------------------------------
async def queue_manager(args: argparse.Namespace) -> Summary:
    rule = AdaptiveQueueManager()
    sizes_by_rule = {}
    for wait in (0.4, 2.0, 5.0):  # seconds of queue wait the backend reported
        for _ in range(rule.window):  # the mean of the last `window` (5) jobs decides
            rule.record_job(wait, circuits=20)
        sizes_by_rule[wait] = rule.get_optimal_batch_size()
    print("  the rule: " + ", ".join(f"queue wait {w:g} s -> jobs of {s}"
                                     for w, s in sizes_by_rule.items()))
    out: Summary = {"rule": {str(k): v for k, v in sizes_by_rule.items()}}
    if args.ionq_cloud:
        print("  (the live part needs the local server's clock: skipped with --ionq-cloud)")
        return out
    # Live: the server's device runs on a fake clock that jumps to the end of every wait, so
    # the queue wait IonQ reports (started_at - submitted_at) is exactly the modelled one and
    # costs no real time. Execution time is left out (seconds_per_circuit=0) so that no job
    # also waits behind another. window=1: each decision follows the last job's wait.
    live: list[Summary] = []
    with IonQEmulator(api_key=KEY, clock=ManualClock(auto=True), seed=0,
                      latency=LatencyModel(seconds_per_circuit=0.0)) as server:
        backend = IonQBackend(KEY, base_url=server.root_url, poll_min=0.002, poll_max=0.02)
        policy = AdaptiveQueueManager(window=1)
        manager = CircuitBatchManager(backend, batching=policy, shots=SHOTS, seed=0)
        circuits = make_circuits(20, seed=5)
        for wait in (0.4, 2.0, 2.0, 5.0, 5.0):
            server.latency = LatencyModel(queue_wait=wait, seconds_per_circuit=0.0)
            last = policy.mean_queue_wait
            size = policy.get_optimal_batch_size()
            before = len(server.jobs)
            await manager.execute_batch(circuits, shots=SHOTS)
            new = [j for j in list(server.jobs.values())[before:] if j.parent_id is None]
            sizes = [j.circuits for j in new]
            waits = sorted({round(j.start - j.request, 6) for j in new})
            live.append({"queue_wait": wait, "decided_from": last, "chosen": size,
                         "job_sizes": sizes, "measured_waits": waits})
            seen = "nothing yet" if last is None else f"{last:g} s"
            print(f"  last wait seen: {seen:<11} -> jobs of {size:>2}: {len(sizes)} job(s) "
                  f"{sizes}; the server's queue wait now {wait:g} s, IonQ reported {waits} s")
        await manager.close()
    out["live"] = live
    return out


# -- 6. configuration and training ----------------------------------------------------------------
async def configuration(args: argparse.Namespace) -> Summary:
    # Selective feature enablement (the document's block): use_batch_api is deprecated since
    # v3.5 (multi-circuit jobs are the default; use_concurrent_submission says what it did)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        TrainingConfig(use_batch_api=True, use_native_gates=True, enable_smart_caching=True,
                       adaptive_batch_sizing=False, connection_pool_size=5,
                       max_queue_wait_time=120.0, retry_failed_circuits=True)
    for w in seen:
        print(f"  {w.category.__name__}: {str(w.message)[:110]}...")

    rng = np.random.default_rng(6)
    xs = rng.uniform(-1.0, 1.0, size=(16, 4))
    ys = (xs[:, 0] + xs[:, 1] > 0).astype(int)
    # Training through the server without modelled latency (time_scale=0: the setting for
    # interactive development)
    with ionq_target(args.ionq_cloud, 0.0, LatencyModel(time_scale=0)) as target:
        config = TrainingConfig(
            quantum_sdk="ionq", quantum_api_key=target.api_key,
            ionq_base_url=target.base_url,
            enable_all_v34_features=True,  # single flag to enable all optimizations
            gradient_method="parameter_shift", epochs=1 if args.quick else 2, batch_size=8,
            learning_rate=0.1, seed=0)
        on = sorted(config.switched_on_by_feature_sets)
        print(f"  enable_all_v34_features=True switched on: {', '.join(on)}")
        trainer = QuantumTrainer(config)
        tracker = trainer.performance_tracker
        assert tracker is not None

        def counts() -> dict[str, float]:
            """Circuits asked for, run and served from the cache, and jobs, so far (the
            tracker's view), plus the server's own count of circuits and jobs."""
            st = tracker.get_statistics()
            return {"requested": st["circuits_requested"], "run": st["circuits_run"],
                    "jobs": st["jobs"], "server_circuits": sum(j.circuits
                                                                for j in target.jobs()),
                    "server_jobs": len(target.jobs())}

        def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: b[k] - a[k] for k in a}

        model = QuantumModel(4, 2, 2, task="classification", seed=0)
        loader = DataLoader(xs, ys, 8, seed=0)
        c0 = counts()
        initial, _ = await trainer.evaluate(model, loader)
        c1 = counts()
        history = await trainer.train(model, loader)
        c2 = counts()
        sizes = sorted({j.circuits for j in target.jobs()[int(c1["server_jobs"]):]})
        # the same validation twice at unchanged weights: the second costs no circuit
        first, _ = await trainer.evaluate(model, loader)
        c3 = counts()
        second, _ = await trainer.evaluate(model, loader)
        c4 = counts()
        stats = tracker.get_statistics()
        steps = trainer.step
        await trainer.aclose()
    train, val, again = delta(c1, c2), delta(c2, c3), delta(c3, c4)
    n = model.count_parameters()
    print(f"  trained {steps} steps of {config.batch_size} samples: {train['requested']:.0f} "
          f"circuits asked for ({config.batch_size} x (1 + 2 x {n}) per step), "
          f"{train['requested'] - train['run']:.0f} of them found in the cache (the first "
          f"step's unshifted circuits, run by the validation before training), "
          f"{train['run']:.0f} run in {train['jobs']:.0f} jobs of {sizes} circuits")
    print(f"  validation loss {initial:.4f} before training, {first:.4f} after "
          f"({val['run']:.0f} circuits); the same validation again: {again['run']:.0f} "
          f"circuits, loss {second:.4f}")
    print(f"  tracker: jobs {stats['jobs']:.0f}, api_calls_saved {stats['api_calls_saved']}, "
          f"cache_hit_rate {stats['cache_hit_rate']:.1%}, template_hit_rate "
          f"{stats['template_hit_rate']:.1%}")
    return {"switched_on": on, "v34_features": sorted(V34_FEATURES),
            "deprecations": [str(w.message) for w in seen
                             if issubclass(w.category, DeprecationWarning)],
            "losses": history["losses"], "validation_losses": [initial, first, second],
            "steps": steps, "batch_size": config.batch_size, "parameters": n,
            "training": train, "validation": val, "repeat_validation": again,
            "first_validation": delta(c0, c1), "job_sizes": sizes}


SECTIONS: dict[int, tuple[str, Callable[[argparse.Namespace], Awaitable[Summary]]]] = {
    1: ("IonQBatchClient: one job for 20 circuits", batch_client),
    2: ("IonQNativeGateCompiler", native_gates),
    3: ("SmartCircuitCache", smart_cache),
    4: ("CircuitBatchManagerV34", manager_v34),
    5: ("AdaptiveQueueManager", queue_manager),
    6: ("Configuration switches and training", configuration),
}


async def main(argv: list[str] | None = None) -> dict[str, Summary]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--section", type=int, action="append", choices=sorted(SECTIONS),
                   help="run only this section (repeatable); default: all")
    p.add_argument("--quick", action="store_true", help="smaller runs")
    p.add_argument("--json", action="store_true", help="print a JSON summary last")
    p.add_argument("--time-scale", type=float, default=None,
                   help="the server's time scale (default 0.05, 0.02 with --quick)")
    p.add_argument("--ionq-cloud", action="store_true",
                   help="use IonQ's cloud simulator with IONQ_API_KEY instead of the local "
                        "server (sections 1, 2, 4, 6)")
    args = p.parse_args(argv)
    if args.time_scale is None:
        args.time_scale = 0.02 if args.quick else 0.05
    if not args.time_scale > 0:
        p.error("--time-scale must be > 0")
    out: dict[str, Summary] = {}
    for number in args.section or sorted(SECTIONS):
        title, run = SECTIONS[number]
        print(f"\n== {number}. {title} ==", flush=True)
        start = time.perf_counter()
        out[str(number)] = await run(args)
        print(f"  ({time.perf_counter() - start:.1f} s)")
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    asyncio.run(main())
