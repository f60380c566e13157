"""The v3.5 features, each run for real on local backends: the local simulator and local
IonQ-compatible servers this script starts (nothing leaves this machine).

1. Feature sets and migration: what ``enable_all_v35_features`` switches on, and
   ``use_batch_api``'s deprecation in favour of ``use_concurrent_submission``.
2. MultiBackendOrchestrator: training spread over two IonQ-compatible servers (with the v3.4
   document's latencies, scaled down) and the local simulator; one server fails a job, its
   circuits run elsewhere. The losses equal those of training on one backend.
3. Adaptive circuit depth and circuit optimisation: a model growing from depth 2 to 4 on an
   IonQ-compatible server, with and without ``enable_circuit_optimization``: fewer gates sent,
   the same losses.
4. Adaptive shot allocation: each step's shots chosen in [min_shots, max_shots] from the
   gradient's measured shot noise, against a fixed 1000 shots.
5. Natural gradient: one step checked against the Fubini-Study metric computed independently
   from the model's state vectors, then training against Adam.
6. The complete configuration: all of it at once on three backends, with the live dashboard
   (on a free local port, read while the script runs, stopped at the end), then
   ``trainer.print_performance_report()`` and ``trainer.print_backend_stats()``.

Usage::

    python examples/examples_v3_5.py [--section N ...] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import numpy as np

from q_store import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.backends import IonQEmulator, LatencyModel
from q_store.data import DataLoader
from q_store.ml.config import V34_FEATURES, V35_FEATURES
from q_store.sim import StatevectorSimulator

Summary = dict[str, Any]
KEYS = ("local-key-1", "local-key-2")  # the local servers' keys (any strings)
# the v3.4 document's latency breakdown, in seconds, scaled down by TIME_SCALE
V34_LATENCY = {"request_overhead": 0.5, "queue_wait": 1.3, "seconds_per_circuit": 0.575}
TIME_SCALE = 0.002
POLL = {"poll_min": 0.002, "poll_max": 0.02}


@contextmanager
def ionq_servers(n: int, latency: LatencyModel) -> Iterator[list[IonQEmulator]]:
    """``n`` local IonQ-compatible servers, stopped on exit."""
    with ExitStack() as stack:
        yield [stack.enter_context(IonQEmulator(api_key=KEYS[i], latency=latency, seed=i))
               for i in range(n)]


def ionq_entry(i: int, server: IonQEmulator) -> dict[str, Any]:
    """A ``backend_configs`` entry for a local server (``base_url``; without it: IonQ's cloud)."""
    return {"provider": "ionq", "target": "simulator", "api_key": KEYS[i],
            "base_url": server.root_url, "name": f"ionq-{i + 1}", **POLL}


def classification_data(n: int, n_features: int = 4, seed: int = 0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in [-1, 1]^d; class 1 where ``x0 + x1 > 0``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, n_features))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def regression_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets <Z0>, <Z1> of a hidden 4-qubit model: a task the model can learn exactly."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, 4))
    return x, QuantumModel(4, 2, 2, seed=7).predict(x)


def events(trainer: QuantumTrainer, kind: str) -> list[dict[str, Any]]:
    assert trainer.performance_tracker is not None
    return trainer.performance_tracker.events(kind)


# -- 1. feature sets and migration ----------------------------------------------------------------
async def feature_sets(args: argparse.Namespace) -> Summary:
    config = TrainingConfig(use_concurrent_submission=True,  # renamed for clarity
                            enable_all_v35_features=True)    # includes v3.4 + new features
    on = sorted(config.switched_on_by_feature_sets)
    print(f"  enable_all_v35_features=True switched on: {', '.join(on)}")
    print(f"  (v3.4's set: {', '.join(V34_FEATURES)}; multi-backend needs your backend_configs,"
          " the dashboard opens a port, natural gradient is a gradient_method: your choice)")
    explicit = TrainingConfig(enable_all_v35_features=True, adaptive_circuit_depth=False)
    print(f"  an option you set wins: enable_all_v35_features with adaptive_circuit_depth=False"
          f" -> adaptive_circuit_depth={explicit.adaptive_circuit_depth}")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        TrainingConfig(use_batch_api=True, enable_all_v34_features=True)  # old v3.4 code
    deprecations = [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]
    for message in deprecations:
        print(f"  DeprecationWarning: {message[:100]}...")
    return {"switched_on": on, "v35_features": sorted(V35_FEATURES),
            "explicit_wins": explicit.adaptive_circuit_depth is False,
            "deprecations": len(deprecations)}


# -- 2. multi-backend orchestration ---------------------------------------------------------------
async def multi_backend(args: argparse.Namespace) -> Summary:
    x, y = classification_data(16 if args.quick else 24, seed=2)
    loader = DataLoader(x, y, batch_size=8, seed=0)
    epochs = 2

    def config(**kw: Any) -> TrainingConfig:
        return TrainingConfig(gradient_method="parameter_shift", epochs=epochs, batch_size=8,
                              learning_rate=0.1, seed=0, **kw)

    # the same training on one backend (the local simulator answering parameter-shift circuits)
    reference = QuantumTrainer(config(enable_multi_backend=True, backend_configs=[
        {"provider": "local", "simulator": "mock_ideal", "name": "local"}]))
    ref_model = QuantumModel(4, 2, 1, task="classification", seed=3)
    expected = (await reference.train(ref_model, loader))["losses"]
    circuits_one = sum(s["circuits"] for s in reference.get_backend_stats().values())
    await reference.aclose()

    latency = LatencyModel(**V34_LATENCY, time_scale=TIME_SCALE)
    with ionq_servers(2, latency) as servers:
        trainer = QuantumTrainer(config(
            enable_multi_backend=True,
            backend_configs=[ionq_entry(0, servers[0]), ionq_entry(1, servers[1]),
                             {"provider": "local", "simulator": "mock_ideal", "name": "local"}]))
        done: list[dict[str, Any]] = []

        def fail_later(event: dict[str, Any]) -> None:  # server 2's 2nd job fails on the device
            if event["event"] == "job" and event["backend"] == "ionq-2":
                done.append(event)
                if len(done) == 1:
                    servers[1].faults.add("fail_job", times=1)

        assert trainer.performance_tracker is not None
        trainer.performance_tracker.subscribe(fail_later)
        model = QuantumModel(4, 2, 1, task="classification", seed=3)
        start = time.perf_counter()
        history = await trainer.train(model, loader)
        seconds = time.perf_counter() - start
        stats = trainer.get_backend_stats()
        calls = events(trainer, "backend_stats")
        failed = [e for e in events(trainer, "job") if e.get("status") != "completed"]
        server_circuits = [sum(j.circuits for j in s.jobs.values()
                               if j.parent_id is None and j.status == "completed")
                           for s in servers]
        trainer.print_backend_stats()
        await trainer.aclose()
    for i, call in enumerate(calls[:3]):
        print(f"  step {i + 1}: {call['circuits']} circuits split {call['split']}"
              + (f", {call['failovers']} failover(s) (a failed job's circuits count where they"
                 " were sent and again where they re-ran)" if call["failovers"] else ""))
    total = sum(s["circuits"] for s in stats.values())
    gap = float(np.max(np.abs(np.subtract(history["losses"], expected))))
    print(f"  failed jobs: {len(failed)} ({', '.join(sorted({e['backend'] for e in failed}))}); "
          f"failovers: {sum(c['failovers'] for c in calls)}")
    print(f"  circuits: {total} over 3 backends (the servers completed {server_circuits}), "
          f"{circuits_one} on one backend")
    print(f"  losses on 3 backends {[round(v, 6) for v in history['losses']]}, on one "
          f"{[round(v, 6) for v in expected]} (max difference {gap:.1e}); {seconds:.1f} s")
    return {"losses": history["losses"], "reference_losses": expected, "max_difference": gap,
            "backends": {k: {"circuits": v["circuits"], "jobs": v["jobs"],
                             "failures": v["failures"]} for k, v in stats.items()},
            "circuits": total, "reference_circuits": circuits_one,
            "server_circuits": server_circuits, "failed_jobs": len(failed),
            "failovers": sum(c["failovers"] for c in calls)}


# -- 3. adaptive circuit depth and circuit optimisation -------------------------------------------
async def depth_and_optimization(args: argparse.Namespace) -> Summary:
    x, y = classification_data(4, seed=3)
    loader = DataLoader(x, y, batch_size=len(x), seed=0)
    out: Summary = {}
    with ionq_servers(1, LatencyModel(time_scale=0)) as (server,):
        for optimize in (False, True):
            config = TrainingConfig(
                quantum_sdk="ionq", quantum_api_key=KEYS[0], ionq_base_url=server.root_url,
                n_qubits=4, gradient_method="parameter_shift", epochs=4, batch_size=len(x),
                learning_rate=0.1, seed=0,
                # Enable adaptive circuit depth
                adaptive_circuit_depth=True, circuit_depth_schedule="exponential",
                min_circuit_depth=2, max_circuit_depth=4,
                # Enable circuit optimization (its passes, when on)
                enable_circuit_optimization=optimize,
                **({"gate_merging": True, "identity_removal": True,
                    "entanglement_pruning": True} if optimize else {}))
            trainer = QuantumTrainer(config)
            model = QuantumModel.from_config(config, 4, 2, task="classification")
            jobs_before = len(server.jobs)
            history = await trainer.train(model, loader, loader)
            sent = [j for j in list(server.jobs.values())[jobs_before:] if not j.children]
            gates = [sum(j.gate_counts) for j in sent]  # (1q, 2q) as the server counted them
            two_qubit = [j.gate_counts[1] for j in sent]
            depth = events(trainer, "depth")
            opt = events(trainer, "optimization")
            await trainer.aclose()
            name = "optimised" if optimize else "as built"
            out[name] = {"losses": history["losses"], "val_losses": history["val_losses"],
                         "depths": [e["depth"] for e in depth],
                         "training_gates": [e["gates"] for e in depth],
                         "circuits_sent": len(sent), "gates_sent": int(sum(gates)),
                         "two_qubit_sent": int(sum(two_qubit)),
                         "optimizer_before": sum(e["gates_before"] for e in opt),
                         "optimizer_after": sum(e["gates_after"] for e in opt)}
    for e in depth:
        print(f"  epoch {e['epoch']}: depth {e['depth']} of {e['max_depth']}, training "
              f"circuit {e['gates']} gates ({e['two_qubit_gates']} two-qubit), full-depth "
              f"model {e['full_gates']}, {e['trainable_parameters']} trainable parameters")
    plain, opt_run = out["as built"], out["optimised"]
    gap = float(np.max(np.abs(np.subtract(plain["losses"] + plain["val_losses"],
                                          opt_run["losses"] + opt_run["val_losses"]))))
    for name, r in out.items():
        print(f"  {name:<9}: {r['circuits_sent']} circuits, {r['gates_sent']} gates "
              f"({r['two_qubit_sent']} two-qubit) sent; losses "
              f"{[round(v, 6) for v in r['losses']]}")
    print(f"  the optimiser removed {opt_run['optimizer_before'] - opt_run['optimizer_after']} "
          f"of {opt_run['optimizer_before']} gates ("
          f"{1 - opt_run['gates_sent'] / plain['gates_sent']:.0%} fewer sent); max difference "
          f"in training and validation losses {gap:.1e}")
    out["max_difference"] = gap
    return out


# -- 4. adaptive shot allocation ------------------------------------------------------------------
async def adaptive_shots(args: argparse.Namespace) -> Summary:
    x, y = regression_data(40, seed=4)
    loader = DataLoader(x, y, batch_size=10, seed=0)
    epochs = 3 if args.quick else 5
    out: Summary = {}
    for adaptive in (False, True):
        config = TrainingConfig(
            shots=1000,  # sampled expectation values on the local simulator
            gradient_method="parameter_shift", epochs=epochs, batch_size=10,
            learning_rate=0.05, seed=0,
            # Enable adaptive shots
            adaptive_shot_allocation=adaptive,
            **({"min_shots": 500, "max_shots": 2000, "base_shots": 1000} if adaptive else {}))
        trainer = QuantumTrainer(config)
        model = QuantumModel(4, 2, 2, seed=0)
        history = await trainer.train(model, loader)
        steps = events(trainer, "step")
        per_step = [e["shots"] // e["circuits"] for e in steps]
        decisions = events(trainer, "shots")
        total = sum(e["shots"] for e in steps)
        exact = float(np.mean((model.predict(x) - y) ** 2))  # exact loss of the final model
        await trainer.aclose()
        name = "adaptive" if adaptive else "fixed 1000"
        out[name] = {"losses": history["losses"], "shots_per_step": per_step,
                     "total_shots": total, "circuits": sum(e["circuits"] for e in steps),
                     "final_exact_loss": exact,
                     "decisions": [{"shots": d["shots"], "next_shots": d["next_shots"]}
                                   for d in decisions]}
        print(f"  {name:<10}: shots per circuit by step {per_step}")
        print(f"  {'':<10}  {total:,} shots in all; loss {history['losses'][0]:.4f} -> "
              f"{history['losses'][-1]:.4f} (sampled), final model's exact loss {exact:.4f}")
    a, f = out["adaptive"], out["fixed 1000"]
    print(f"  adaptive used {a['total_shots'] / f['total_shots']:.2f}x the shots of a fixed 1000")
    return out


# -- 5. natural gradient --------------------------------------------------------------------------
def fubini_study_metric(model: QuantumModel, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """The batch mean of ``Re <d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi>`` from state
    vectors differentiated by central differences (independent of the library's metric)."""
    sim = StatevectorSimulator()
    inputs, _ = model.encode(x)
    w = model.weights.astype(float)

    def states(weights: np.ndarray) -> np.ndarray:
        return sim.evolve(model.training_circuit, weights, inputs)[0]

    psi = states(w)
    d = np.stack([(states(w + h * e) - states(w - h * e)) / (2 * h)
                  for e in np.eye(len(w))], axis=1)  # (batch, weights, amplitudes)
    overlap = np.einsum("bia,bja->bij", d.conj(), d)
    berry = np.einsum("bia,ba->bi", d.conj(), psi)
    return np.real(overlap - np.einsum("bi,bj->bij", berry, berry.conj())).mean(axis=0)


async def natural_gradient(args: argparse.Namespace) -> Summary:
    x, y = regression_data(20, seed=5)
    # One step of natural gradient with plain SGD: w1 = w0 - lr (g + eps I)^-1 grad
    config = TrainingConfig(gradient_method="natural_gradient",
                            natural_gradient_regularization=0.01, qfim_cache_size=100,
                            optimizer="sgd", learning_rate=0.1, epochs=1, batch_size=20,
                            shuffle=False, seed=0)
    model = QuantumModel(4, 2, 2, seed=1)
    w0 = model.weights.copy()
    metric = fubini_study_metric(model, x)
    trainer = QuantumTrainer(config)
    _, grad = await asyncio.to_thread(trainer.loss_and_gradient, model, x, y, "adjoint")
    await trainer.train(model, DataLoader(x, y, batch_size=20, shuffle=False))
    await trainer.aclose()
    expected = w0 - 0.1 * np.linalg.solve(metric + 0.01 * np.eye(len(w0)), grad)
    step_error = float(np.max(np.abs(model.weights - expected)))
    plain_error = float(np.max(np.abs(model.weights - (w0 - 0.1 * grad))))
    print(f"  one step, {len(w0)} weights: the trainer's step differs from "
          f"w - lr (g + 0.01 I)^-1 grad (g from finite-difference state vectors) by "
          f"{step_error:.1e}, from the plain gradient step by {plain_error:.1e}")
    print(f"  metric eigenvalues from {np.linalg.eigvalsh(metric)[0]:.2e} to "
          f"{np.linalg.eigvalsh(metric)[-1]:.2e}: directions the plain gradient under-steps")

    # Training: natural gradient against the plain gradient with the same optimiser and step
    # size (SGD, 0.1), and against Adam (at a step size that works for it)
    loader = DataLoader(x, y, batch_size=10, seed=0)
    epochs = 6 if args.quick else 10
    out: Summary = {"step_error": step_error, "plain_step_difference": plain_error,
                    "weights": len(w0)}
    for name, kw in (("natural gradient + SGD", {"gradient_method": "natural_gradient",
                                                  "optimizer": "sgd", "learning_rate": 0.1}),
                     ("plain gradient + SGD", {"gradient_method": "adjoint",
                                               "optimizer": "sgd", "learning_rate": 0.1}),
                     ("plain gradient + Adam", {"gradient_method": "adjoint",
                                                "optimizer": "adam", "learning_rate": 0.05})):
        trainer = QuantumTrainer(TrainingConfig(epochs=epochs, batch_size=10, seed=0, **kw))
        model = QuantumModel(4, 2, 2, seed=1)
        history = await trainer.train(model, loader)
        runs = sum(e["circuits"] for e in events(trainer, "step"))  # metric circuits included
        await trainer.aclose()
        out[name] = {"losses": history["losses"], "circuit_runs": runs}
        print(f"  {name:<22}: loss {' '.join(f'{v:.4f}' for v in history['losses'])} "
              f"({runs} circuit runs)")
    return out


# -- 6. the complete configuration ----------------------------------------------------------------
async def complete(args: argparse.Namespace) -> Summary:
    x, y = classification_data(16, seed=6)
    train_loader = DataLoader(x[:12], y[:12], batch_size=6, seed=0)
    val_loader = DataLoader(x[12:], y[12:], batch_size=4, shuffle=False)
    with ionq_servers(2, LatencyModel(time_scale=0)) as servers:
        config = TrainingConfig(
            # Backend configuration: the backends below (quantum_sdk does not apply with
            # enable_multi_backend=True); shots, so that there are shots to allocate
            shots=1000,
            # Model architecture (the document's 8 qubits, here 4 to keep it under a minute;
            # with adaptive_circuit_depth the depth runs from min_ to max_circuit_depth)
            n_qubits=4,
            # Training hyperparameters
            batch_size=6, epochs=2 if args.quick else 3, learning_rate=0.05, seed=0,
            # v3.5: Multi-backend orchestration (the document's third entry is Qiskit Aer on a
            # GPU; the local simulator stands in for it here)
            enable_multi_backend=True,
            backend_configs=[ionq_entry(0, servers[0]), ionq_entry(1, servers[1]),
                             {"provider": "local", "simulator": "mock_ideal",
                              "name": "local"}],
            # IonQ's ideal simulator returns exact probabilities whatever the shots, the local
            # simulator samples them: a gradient mixes both only when allowed
            allow_mixed_exactness=True,
            # v3.5: Adaptive optimizations
            adaptive_circuit_depth=True, circuit_depth_schedule="exponential",
            min_circuit_depth=2, max_circuit_depth=3,
            adaptive_shot_allocation=True, min_shots=500, max_shots=2000, base_shots=1000,
            # v3.5: Advanced gradient methods
            gradient_method="natural_gradient", natural_gradient_regularization=0.01,
            qfim_cache_size=100,
            # v3.5: Circuit optimization
            enable_circuit_optimization=True, gate_merging=True, identity_removal=True,
            entanglement_pruning=True,
            # v3.4 features (still supported)
            use_native_gates=True, enable_smart_caching=True, connection_pool_size=5,
            # Monitoring: the dashboard on a free port of 127.0.0.1 (the document's 8080 may
            # be taken), served until trainer.aclose()
            enable_performance_tracking=True, enable_dashboard=True, dashboard_port=0)
        model = QuantumModel.from_config(config, 4, 2, task="classification")
        # Create and train
        trainer = QuantumTrainer(config)
        history = await trainer.train(model, train_loader, val_loader)
        url = trainer.dashboard.url
        async with httpx.AsyncClient(base_url=url) as client:  # what the page reads
            page = await client.get("/")
            run_id = (await client.get("/api/runs")).json()["runs"][-1]["id"]
            served = (await client.get(f"/api/runs/{run_id}/events")).json()["events"]
        trainer.print_performance_report()
        trainer.print_backend_stats()
        stats = trainer.performance_tracker.get_statistics()  # type: ignore[union-attr]
        backends = trainer.get_backend_stats()
        await trainer.aclose()  # stops the dashboard
    kinds: dict[str, int] = {}
    for e in served:
        kinds[e["event"]] = kinds.get(e["event"], 0) + 1
    tracked = {k: len(events_of) for k, events_of in
               ((k, trainer.performance_tracker.events(k))  # type: ignore[union-attr]
                for k in ("step", "epoch", "shots", "depth", "optimization"))}
    print(f"  dashboard at {url}: page {page.status_code}, {len(served)} events served "
          f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()) if k in tracked)})")
    print(f"  losses {[round(v, 4) for v in history['losses']]}, validation accuracy "
          f"{[round(v, 4) for v in history['val_accuracy']]}")
    return {"losses": history["losses"], "val_accuracy": history["val_accuracy"],
            "page_status": page.status_code, "served_kinds": kinds, "tracked_kinds": tracked,
            "backend_circuits": {k: v["circuits"] for k, v in backends.items()},
            "circuits_run": stats["circuits_run"], "shots": stats["shots"]}


SECTIONS: dict[int, tuple[str, Callable[[argparse.Namespace], Awaitable[Summary]]]] = {
    1: ("Feature sets and migration from v3.4", feature_sets),
    2: ("Multi-backend orchestrator", multi_backend),
    3: ("Adaptive circuit depth and circuit optimisation", depth_and_optimization),
    4: ("Adaptive shot allocation", adaptive_shots),
    5: ("Natural gradient", natural_gradient),
    6: ("The complete configuration, dashboard and performance report", complete),
}


async def main(argv: list[str] | None = None) -> dict[str, Summary]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--section", type=int, action="append", choices=sorted(SECTIONS),
                   help="run only this section (repeatable); default: all")
    p.add_argument("--quick", action="store_true", help="smaller runs")
    p.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = p.parse_args(argv)
    out: dict[str, Summary] = {}
    for number in args.section or sorted(SECTIONS):
        title, run = SECTIONS[number]
        print(f"\n== {number}. {title} ==", flush=True)
        start = time.perf_counter()
        out[str(number)] = await run(args)
        print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    asyncio.run(main())
