"""``bench_engine.py --section optimization``: circuit optimisation and adaptive circuit depth.

What is measured
----------------
1. **Gates sent** for one parameter-shift training step of the spec's v3.3 example
   (``QuantumModel(input_dim=8, n_qubits=8, output_dim=2, hardware_efficient=True)``: an RX
   angle embedding, two hardware-efficient layers of RY and RZ on every qubit and a CNOT ring,
   readout ``<Z0>, <Z1>``; a batch of 10 samples), through ``engine_from_config`` exactly as the
   trainer runs it, with ``enable_circuit_optimization`` off and on: our gate count, the gates
   IonQ bills for QIS circuits (U3 counts as three), the native gates after IonQ's Aria compiler
   (``use_native_gates``), and IonQ Aria's price and gate-time lower bound at 1000 shots. Also
   with ``entanglement='linear'``, where the light cone of the two read wires is smaller.
2. **Execution time at equal accuracy**: the same step on Qiskit Aer (exact probabilities)
   and the predictions of the batch on our noisy density-matrix backend (IonQ Aria noise
   preset), off and on, repeats interleaved (median, min-max). Accuracy: the largest
   difference between the two runs' expectations and gradients (exact backend), and the mean
   distance of the noisy expectations from the exact ones.
3. **Adaptive depth vs fixed depth**: 8 qubits, RX embedding, hardware-efficient layers,
   readout ``<Z0>``, 100 training and 50 validation samples, batch 10, Adam (0.05), 15 epochs;
   fixed depth 2, fixed depth 4, and ``adaptive_circuit_depth`` from 2 to 4 (exponential
   schedule), on two tasks (targets are ``<Z0>`` of a hidden teacher circuit): a depth-4
   hardware-efficient teacher (small weights), which needs depth, and a depth-3 RX-RY-RZ
   teacher with all-to-all CNOTs, which depth 2 already fits. Training runs on the exact local
   simulator (adjoint gradients; the trajectory parameter shift would follow), and each epoch
   is charged what a backend would run: parameter-shift circuits per sample (``len(plan)``)
   times the gates of the circuit trained that epoch, plus one circuit per validation sample
   (at the active depth: circuit optimisation strips the zero blocks of the full-depth model).
   Reported: final validation loss, total gate-weighted circuits, and the cost until the
   validation loss first comes within 5 % of fixed depth 4's final value (``-``: never).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from benchenv import text_table
from q_store.backends.cost import CostBudget, count_billed_gates
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.noisy import NoisySimulatorBackend
from q_store.backends.qiskit import QiskitAerBackend
from q_store.circuit import Circuit, Z
from q_store.compile import AdaptiveCircuitOptimizer, IonQNativeGateCompiler
from q_store.errors import ConfigWarning
from q_store.execution.backend_executor import BackendExecutor
from q_store.execution.engine import ExecutionEngine, values_request
from q_store.execution.factory import engine_from_config
from q_store.gradients import ParameterShiftGradient
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.layers import QuantumLayer
from q_store.sim import StatevectorSimulator

SEED = 7
BATCH = 10
SHOTS = 1000
EPOCHS, LR = 15, 0.05
N_TRAIN, N_VAL = 100, 50


def _recording(cls: type) -> type:
    class Recording(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, compiler: Any = None, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.sent: list[Circuit] = []
            self.compiler = compiler

        def _execute(self, circuits: list[Circuit], shots: int | None, rng: Any) -> Any:
            self.sent += circuits
            return super()._execute(circuits, shots, rng)

    return Recording


RecordingAer = _recording(QiskitAerBackend)


def spec_model(entanglement: str = "circular") -> QuantumModel:
    return QuantumModel(8, 2, 2, hardware_efficient=True, entanglement=entanglement, seed=SEED)


def batch(seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (BATCH, 8))


def engine(backend: Any, optimize: bool) -> ExecutionEngine:
    cfg = TrainingConfig(gradient_method="parameter_shift", enable_circuit_optimization=optimize)
    return engine_from_config(cfg, simulator=StatevectorSimulator(), backend=backend,
                              rng=np.random.default_rng(0), budget=CostBudget(None))


def step_plan(model: QuantumModel, x: np.ndarray) -> Any:
    inputs, _ = model.encode(x)
    return ParameterShiftGradient().plan(model.circuit, model.observables, model.weights, inputs)


# -- 1. gate counts -------------------------------------------------------------------------------

def gate_counts() -> tuple[str, dict[str, Any]]:
    compiler = IonQNativeGateCompiler("aria")
    qis = IonQBackend(api_key="benchmark-only", backend="qpu.aria-1")
    native = IonQBackend(api_key="benchmark-only", backend="qpu.aria-1", native_gates=True)
    rows, data = [], {}
    for ent in ("circular", "linear"):
        model = spec_model(ent)
        plan = step_plan(model, batch())
        for target, ionq in (("QIS", qis), ("Aria native", native)):
            for optimize in (False, True):
                # a backend with a native compiler makes the factory keep final Z rotations
                backend = RecordingAer(compiler=compiler if ionq is native else None)
                asyncio.run(engine(backend, optimize).execute(plan))
                sent = (backend.sent if ionq is qis
                        else [compiler.compile(c).circuit for c in backend.sent])
                billed = [count_billed_gates(c) for c in sent]
                est = ionq.estimate_cost(backend.sent, SHOTS)
                row = {"circuits": len(sent), "gates": sum(len(c) for c in sent),
                       "two_qubit": sum(c.num_two_qubit_gates for c in sent),
                       "billed_1q": sum(b[0] for b in billed),
                       "billed_2q": sum(b[1] for b in billed), "usd": est.usd,
                       "gate_seconds": est.seconds}
                data[f"{ent}, {target}, {'on' if optimize else 'off'}"] = row
                rows.append([ent, target, "on" if optimize else "off", str(row["circuits"]),
                             str(row["gates"]), str(row["two_qubit"]),
                             f"{row['billed_1q']}/{row['billed_2q']}", f"{est.usd:,.0f}",
                             f"{est.seconds:,.0f}"])
    table = text_table(("entanglement", "gates sent as", "optimisation", "circuits", "gates",
                        "2q gates", "billed 1q/2q", "Aria USD", "Aria gate-time s"), rows,
                       left=3)
    return table, data


# -- 2. execution time ---------------------------------------------------------------------------

def _interleaved(runs: dict[str, Callable[[], Any]], repeats: int
                 ) -> tuple[dict[str, list[float]], dict[str, Any]]:
    times: dict[str, list[float]] = {k: [] for k in runs}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            out[k] = fn()
            times[k].append(time.perf_counter() - t0)
    return times, out


def _fmt(ts: list[float]) -> str:
    return f"{statistics.median(ts):.3f} ({min(ts):.3f}-{max(ts):.3f})"


def _runner(engine_: ExecutionEngine, work: Callable[[ExecutionEngine], Any]
            ) -> Callable[[], Any]:
    return lambda: work(engine_)


def execution_time(repeats: int) -> tuple[str, dict[str, Any]]:
    model, x = spec_model(), batch()
    plan_runs = {k: _runner(engine(QiskitAerBackend(), k == "on"),
                            lambda e: asyncio.run(e.execute(step_plan(model, x))))
                 for k in ("off", "on")}
    plan_runs["off"](), plan_runs["on"]()  # warm-up
    t_aer, res = _interleaved(plan_runs, repeats + 2)
    exact = StatevectorSimulator().expectation(model.circuit, model.observables, model.weights,
                                               model.encode(x)[0])
    grad_diff = float(np.max(np.abs(res["on"].weights - res["off"].weights)))
    val_diff = float(np.max(np.abs(res["on"].values - res["off"].values)))
    inputs, _ = model.encode(x)
    request = values_request(model.circuit, model.observables, model.weights, inputs)
    noisy_runs = {k: _runner(engine(NoisySimulatorBackend(), k == "on"),
                             lambda e: asyncio.run(e.run([request]))[0])
                  for k in ("off", "on")}
    noisy_runs["off"](), noisy_runs["on"]()  # warm-up (kernel compilation)
    t_noisy, noisy = _interleaved(noisy_runs, repeats)
    bound = BackendExecutor(QiskitAerBackend()).circuits_for(
        model.circuit, step_plan(model, x).requests[0].angles, model.observables)[0]
    t0 = time.perf_counter()
    for c in bound:
        AdaptiveCircuitOptimizer()(c)
    per_circuit_ms = 1000 * (time.perf_counter() - t0) / len(bound)
    err = {k: float(np.mean(np.abs(v - exact))) for k, v in noisy.items()}
    n_plan = len(step_plan(model, x))
    def ratio(t: dict[str, list[float]]) -> str:
        return f"{statistics.median(t['off']) / statistics.median(t['on']):.2f}"

    rows = [
        ["Qiskit Aer, exact", f"gradient step ({n_plan} circuits)", _fmt(t_aer["off"]),
         _fmt(t_aer["on"]), ratio(t_aer), f"max |diff| {max(grad_diff, val_diff):.1e}"],
        ["density matrix, Aria noise", f"predictions ({BATCH} circuits)", _fmt(t_noisy["off"]),
         _fmt(t_noisy["on"]), ratio(t_noisy),
         f"error vs exact {err['off']:.4f} -> {err['on']:.4f}"],
    ]
    table = text_table(("backend", "work", "off s, median (range)", "on s, median (range)",
                        "off/on", "accuracy"), rows, left=2)
    table += (f"\noptimiser alone: {per_circuit_ms:.2f} ms per circuit of the example "
              f"({len(bound)} bound circuits, measured in the same run)")
    return table, {"aer_seconds": t_aer, "noisy_seconds": t_noisy, "max_diff_exact":
                   max(grad_diff, val_diff), "noisy_error": err, "plan_circuits": n_plan,
                   "optimizer_ms_per_circuit": per_circuit_ms}


# -- 3. adaptive depth ---------------------------------------------------------------------------

def task(name: str, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1000 + seed)
    x = rng.uniform(-np.pi, np.pi, (N_TRAIN + N_VAL, 8))
    if name == "HEA depth-4 teacher":
        teacher = QuantumModel(8, 1, 4, hardware_efficient=True)
        w = rng.normal(scale=0.3, size=teacher.n_parameters)
    else:
        teacher = QuantumModel(8, 1, 3, layer_class=QuantumLayer, entanglement="full")
        w = rng.normal(scale=0.4, size=teacher.n_parameters)
    y = StatevectorSimulator().expectation(teacher.circuit, Z(0), w, x).ravel()
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


CONFIGS: dict[str, dict[str, Any]] = {
    "fixed depth 2": {"circuit_depth": 2},
    "fixed depth 4": {"circuit_depth": 4},
    "adaptive 2->4": {"adaptive_circuit_depth": True, "min_circuit_depth": 2,
                      "max_circuit_depth": 4, "circuit_depth_schedule": "exponential"},
}


def train_one(name: str, kw: dict[str, Any], data: tuple[np.ndarray, ...], seed: int,
              epochs: int) -> dict[str, Any]:
    x, y, xv, yv = data
    cfg = TrainingConfig(n_qubits=8, epochs=epochs, batch_size=BATCH, learning_rate=LR,
                         seed=seed, **kw)
    model = QuantumModel.from_config(cfg, 8, 1)
    trainer = QuantumTrainer(cfg)
    per_epoch: list[tuple[int, int]] = []  # (parameter-shift circuits per sample, gates)

    def charge(_: Any = None) -> None:
        plan = ParameterShiftGradient().plan(model.training_circuit, model.observables,
                                             model.weights, model.encode(x[:1])[0])
        per_epoch.append((len(plan), len(model.training_circuit)))

    if trainer.performance_tracker is not None and cfg.adaptive_circuit_depth:
        trainer.performance_tracker.subscribe(
            lambda e: charge() if e["event"] == "depth" else None)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        history = trainer.fit(model, (x, y), (xv, yv))
    seconds = time.perf_counter() - t0
    if not per_epoch:
        charge()
        per_epoch *= epochs
    cost = np.cumsum([(N_TRAIN * n + N_VAL) * g for n, g in per_epoch])
    return {"val_losses": [float(v) for v in history["val_losses"]],
            "cost": [float(c) for c in cost], "depth_gates": per_epoch, "seconds": seconds}


def adaptive_depth(seeds: int, epochs: int) -> tuple[str, dict[str, Any]]:
    rows, data = [], {}
    for name in ("HEA depth-4 teacher", "RX-RY-RZ depth-3 teacher"):
        runs = {(c, s): train_one(name, kw, task(name, s), s, epochs)
                for s in range(seeds) for c, kw in CONFIGS.items()}
        data[name] = {f"{c} / seed {s}": r for (c, s), r in runs.items()}
        for c in CONFIGS:
            finals, totals, to_target = [], [], []
            for s in range(seeds):
                r = runs[(c, s)]
                target = 1.05 * runs[("fixed depth 4", s)]["val_losses"][-1]
                hit = next((i for i, v in enumerate(r["val_losses"]) if v <= target), None)
                finals.append(r["val_losses"][-1])
                totals.append(r["cost"][-1])
                to_target.append(None if hit is None else r["cost"][hit])
            reached = [t for t in to_target if t is not None]
            rows.append([name, c, " ".join(f"{v:.4f}" for v in finals),
                         f"{statistics.mean(totals) / 1e6:.1f}",
                         " ".join("-" if t is None else f"{t / 1e6:.1f}" for t in to_target),
                         f"{len(reached)}/{seeds}"])
    table = text_table(("task", "model", "final val loss per seed", "cost, M gate-circuits",
                        "cost to fixed-4 final +5 %, M per seed", "reached"), rows, left=2)
    return table, data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run to check that the section works")


def run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    seeds = 1 if args.quick else args.seeds
    epochs = 4 if args.quick else EPOCHS
    t_gates, d_gates = gate_counts()
    t_time, d_time = execution_time(1 if args.quick else args.repeats)
    t_depth, d_depth = adaptive_depth(seeds, epochs)
    md = "\n\n".join([
        "## Circuit optimisation and adaptive depth",
        "### Gates one parameter-shift training step sends (spec v3.3 example, batch of 10)",
        "```\n" + t_gates + "\n```",
        "### Execution time at equal accuracy (seconds, same machine, interleaved repeats)",
        "```\n" + t_time + "\n```",
        f"### Adaptive depth vs fixed depth ({epochs} epochs, {seeds} seeds; cost = "
        "parameter-shift circuits x gates per circuit, training and validation)",
        "```\n" + t_depth + "\n```",
    ])
    return md, {"gate_counts": d_gates, "execution_time": d_time, "adaptive_depth": d_depth}
