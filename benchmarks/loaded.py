"""The simulator benchmark's ``--loaded`` mode: idle and loaded side by side.

What is measured
----------------
The spec workload of :mod:`bench_simulator` at 16 and 20 qubits (one sample: forward ``<Z0>``
and the adjoint gradient of it), the batched small-state path (8 qubits, batch 1000) and a short
training run (8 qubits, depth 2, 2000 samples in batches of 200, 2 epochs of Adam with adjoint
gradients: 20 steps through the batched kernels), each twice: on the machine as it is ("idle")
and while a busy process spins on one core ("loaded"). Systems: q_store with its default thread
count (the cap ``NUMBA_NUM_THREADS``, lowered per call to the cores other processes leave free),
q_store with ``threads=1`` and, at 16 and 20 qubits, PennyLane ``lightning.qubit`` (adjoint).

How
---
The busy process is a separate Python process pinned to the last CPU this process may use; it
spins until its time bound (``--busy-limit`` seconds) or until this process is gone (it checks
its parent every few milliseconds), whichever comes first, and is stopped at the end of every
loaded block, so it can never outlive the benchmark. Each cell is measured in ``BLOCKS`` blocks
that alternate idle and loaded, so that slow drifts of the machine's own load (other users) hit
both columns alike; within a block the systems take turns call by call, in a (seeded) random
order, each call after a pause of ``SETTLE_S``: lightning.qubit's OpenMP workers spin for a few
milliseconds after each of its calls and would slow whatever runs next. Every block starts with
one untimed call per system (the load estimate then covers the new condition); before any
block, q_store's calls run once on one thread and once on all, so that both the serial and the
parallel kernels are compiled or loaded from numba's cache. Cells report the median and the
range (min-max) of all repeats in milliseconds per call; "threads" is the mean thread count of
q_store's default calls, "other load" the mean busy CPU time of all other processes (the busy
one included) in cores, read from ``/proc/stat`` around each block. Values and gradients are
checked against lightning.qubit to 1e-8 before timing, and q_store's two thread settings
against each other.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

from benchenv import load_average
from q_store.circuit import Z
from q_store.data.loaders import DataLoader
from q_store.demo import hardware_efficient_circuit
from q_store.gradients import AdjointGradient
from q_store.ml.config import TrainingConfig
from q_store.ml.models import QuantumModel
from q_store.ml.trainer import QuantumTrainer
from q_store.sim import StatevectorSimulator
from q_store.sim import statevector as _sv
from q_store.sim.threads import busy_seconds, configure_threading

BLOCKS = 4
SETTLE_S = 0.03  # pause before every timed call (the previous call's spinning threads settle)
LAYERS = 2
TOLERANCE = 1e-8
DEFAULT, ONE, LIGHTNING = "q_store (default threads)", "q_store threads=1", "lightning.qubit"

_SPIN = """
import os, sys, time
cpu, limit, parent = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
try:
    os.sched_setaffinity(0, {cpu})
except (AttributeError, OSError):
    pass
end = time.monotonic() + limit
x = 0
while time.monotonic() < end and os.getppid() == parent:
    for _ in range(20000):
        x += 1
"""


@contextmanager
def busy_core(limit_s: float) -> Iterator[int]:
    """A process spinning on the last usable CPU for at most ``limit_s`` seconds (yields it)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    cpu = cpus[-1]
    proc = subprocess.Popen([sys.executable, "-c", _SPIN, str(cpu), str(limit_s),
                             str(os.getpid())])
    try:
        time.sleep(0.5)  # running, and visible to the load estimate
        yield cpu
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


class LoadMeter:
    """Average load of other processes (busy CPU time less ours, in cores) while it runs."""

    def __init__(self) -> None:
        self.cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        self.start = self._read()

    def _read(self) -> tuple[float, float | None, float]:
        try:
            busy = busy_seconds(Path("/proc/stat").read_text(), self.cpus,
                                os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError):
            busy = None
        return time.monotonic(), busy, time.process_time()

    def cores(self) -> float | None:
        end = self._read()
        if end[1] is None or self.start[1] is None or end[0] <= self.start[0]:
            return None
        own = end[2] - self.start[2]
        return max(0.0, (end[1] - self.start[1]) - own) / (end[0] - self.start[0])


# -- the cells ----------------------------------------------------------------------------------
@dataclass
class Cell:
    """One quantity of one system: repeats per condition, and q_store's thread counts."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {"idle": [], "loaded": []})
    threads: dict[str, list[int]] = field(default_factory=lambda: {"idle": [], "loaded": []})

    def summary(self, cond: str) -> dict[str, float] | None:
        xs = self.samples[cond]
        if not xs:
            return None
        out = {"median_ms": statistics.median(xs), "min_ms": min(xs), "max_ms": max(xs),
               "repeats": len(xs)}
        if self.threads[cond]:
            out["threads"] = statistics.mean(self.threads[cond])
        return out


@dataclass(frozen=True)
class Task:
    """A named quantity: zero-argument callables per system, timed side by side."""

    case: str
    quantity: str
    calls: dict[str, Callable[[], Any]]
    repeats: int


def _spec(n: int, batch: int) -> tuple[Any, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234 + 1000 * n + batch)
    circuit = hardware_efficient_circuit(n, LAYERS)
    inputs = rng.uniform(0.0, np.pi, size=(batch, n))
    weights = rng.uniform(0.0, 2.0 * np.pi, size=circuit.n_weights)
    return circuit, inputs, weights


def _ours(circuit: Any, inputs: np.ndarray, weights: np.ndarray,
          threads: int | None) -> tuple[Callable[[], Any], Callable[[], Any]]:
    sim = StatevectorSimulator(threads=threads)
    adjoint = AdjointGradient(sim)
    cot = np.ones((inputs.shape[0], 1))

    def forward() -> np.ndarray:
        return np.ravel(sim.expectation(circuit, Z(0), weights, inputs))

    def gradient() -> np.ndarray:
        return adjoint.vjp(circuit, Z(0), weights, inputs, cot).weights.sum(0)

    return forward, gradient


PlTemplate = Callable[[Any, int], Callable[[Any, Any], Any]]


def _lightning(n: int, inputs: np.ndarray, weights: np.ndarray,
               template: PlTemplate) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device("lightning.qubit", wires=n)
    qnode = qml.QNode(template(qml, n), dev, interface="autograd", diff_method="adjoint")
    x = pnp.array(inputs[0], requires_grad=False)
    w = pnp.array(weights, requires_grad=True)
    grad_fn = qml.grad(lambda v: pnp.sum(qnode(x, v)))
    return (lambda: np.atleast_1d(np.asarray(qnode(x, w))),
            lambda: np.asarray(grad_fn(w)))


@contextmanager
def _pinned_threads(count: Callable[[int], int]) -> Iterator[None]:
    """Calls use ``count(cap)`` threads instead of the free-core estimate (warm-up only)."""
    chooser = _sv.threads_for
    _sv.threads_for = count
    try:
        yield
    finally:
        _sv.threads_for = chooser


def warm_up(calls: dict[str, Callable[[], Any]]) -> None:
    """Run q_store's calls once with one thread and once with the cap, so that both the serial
    and the parallel kernels are compiled (or loaded from numba's cache) before any timing,
    whichever the load estimate picks later."""
    for name, fn in calls.items():
        if name.startswith("q_store"):
            for count in (lambda cap: 1, lambda cap: cap):
                with _pinned_threads(count):
                    fn()


def _check(what: str, got: Any, ref: Any) -> None:
    err = float(np.max(np.abs(np.ravel(got) - np.ravel(ref))))
    if not err <= TOLERANCE:
        raise RuntimeError(f"{what}: max |diff| {err:.3e} > {TOLERANCE:g}")


def spec_tasks(n: int, batch: int, repeats: int, template: PlTemplate | None) -> list[Task]:
    """Forward and gradient of the spec workload; lightning.qubit too when ``template`` (the
    workload as a PennyLane quantum function) is given."""
    circuit, inputs, weights = _spec(n, batch)
    fwd_d, grad_d = _ours(circuit, inputs, weights, None)
    fwd_1, grad_1 = _ours(circuit, inputs, weights, 1)
    fwd = {DEFAULT: fwd_d, ONE: fwd_1}
    grad = {DEFAULT: grad_d, ONE: grad_1}
    ref = (fwd_1(), grad_1())
    if template is not None:
        fwd[LIGHTNING], grad[LIGHTNING] = _lightning(n, inputs, weights, template)
        ref = (fwd[LIGHTNING](), grad[LIGHTNING]())
    for name in fwd:  # correctness before timing
        _check(f"{name} values (n={n}, B={batch})", fwd[name](), ref[0])
        _check(f"{name} gradient (n={n}, B={batch})", grad[name](), ref[1])
    warm_up(fwd)
    warm_up(grad)
    case = f"n={n}, B={batch}"
    return [Task(case, "forward", fwd, repeats), Task(case, "gradient", grad, repeats)]


def training_task(repeats: int) -> Task:
    """A short training run through the batched kernels (20 Adam steps of batch 200)."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-np.pi, np.pi, size=(2000, 8))
    y = np.cos(x[:, 0]) * np.sin(x[:, 1])

    def train(threads: int | None) -> Callable[[], Any]:
        def run() -> np.ndarray:
            model = QuantumModel(8, 1, n_layers=2, encoding="angle", task="regression",
                                 hardware_efficient=True, entanglement="circular")
            model.weights = np.linspace(-1.0, 1.0, model.n_parameters)
            config = TrainingConfig(learning_rate=0.05, epochs=2, batch_size=200,
                                    optimizer="adam", gradient_method="adjoint", seed=7,
                                    n_qubits=8, circuit_depth=2)
            trainer = QuantumTrainer(config)
            if threads is not None:
                trainer.simulator.threads = threads  # the cap of the trainer's simulator
            trainer.fit(model, DataLoader(x, y, batch_size=200, shuffle=True, seed=7))
            return np.asarray(model.weights)

        return run

    calls = {DEFAULT: train(None), ONE: train(1)}
    _check("training: default vs threads=1 final weights", calls[DEFAULT](), calls[ONE]())
    warm_up(calls)
    return Task("training: 8 qubits, 20 steps of B=200", "training run", calls, repeats)


# -- running ------------------------------------------------------------------------------------
def _time_block(task: Task, cells: dict[str, Cell], cond: str, repeats: int) -> None:
    for fn in task.calls.values():  # untimed: the load estimate and caches see this condition
        fn()
    rng = random.Random(len(cells[DEFAULT].samples[cond]))
    names = list(task.calls)
    for _ in range(repeats):
        rng.shuffle(names)
        for name in names:
            fn = task.calls[name]
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fn()
            cells[name].samples[cond].append(1e3 * (time.perf_counter() - t0))
            if name == DEFAULT:
                cells[name].threads[cond].append(numba.get_num_threads())


def run_task(task: Task, busy_limit_s: float) -> tuple[dict[str, Cell], dict[str, float]]:
    """The cells of a task, and the mean load of other processes per condition (cores)."""
    cells = {name: Cell() for name in task.calls}
    per_block = max(1, -(-task.repeats // BLOCKS))
    loads: dict[str, list[float]] = {"idle": [], "loaded": []}
    for _ in range(BLOCKS):
        meter = LoadMeter()
        _time_block(task, cells, "idle", per_block)
        loads["idle"].append(meter.cores())
        with busy_core(busy_limit_s):
            meter = LoadMeter()
            _time_block(task, cells, "loaded", per_block)
            loads["loaded"].append(meter.cores())
    return cells, {c: statistics.mean(v) for c, v in loads.items() if None not in v}


@dataclass
class LoadedRow:
    case: str
    quantity: str
    system: str
    idle: dict[str, float] | None
    loaded: dict[str, float] | None
    other_load_cores: dict[str, float]  # mean load of other processes during the blocks


def run_loaded(cases: list[tuple[int, int]], repeats: dict[int, int], training_repeats: int,
               busy_limit_s: float,
               template: PlTemplate) -> tuple[list[LoadedRow], dict[str, Any]]:
    """All tasks, idle and loaded; returns the rows and facts for the environment record."""
    layer = configure_threading()
    facts: dict[str, Any] = {"threading_layer": layer.name, "threading_reason": layer.reason,
                             "busy_limit_s": busy_limit_s, "blocks": BLOCKS,
                             "load_average_at_start": load_average()}
    tasks: list[Task] = []
    for n, batch in cases:
        tasks += spec_tasks(n, batch, repeats.get(n, 5), template if batch == 1 else None)
    if training_repeats > 0:
        tasks.append(training_task(training_repeats))
    rows = []
    for task in tasks:
        print(f"[bench --loaded] {task.case}: {task.quantity} ...", file=sys.stderr, flush=True)
        cells, loads = run_task(task, busy_limit_s)
        rows += [LoadedRow(task.case, task.quantity, name, cell.summary("idle"),
                           cell.summary("loaded"), loads) for name, cell in cells.items()]
    facts["load_average_at_end"] = load_average()
    return rows, facts


# -- output -------------------------------------------------------------------------------------
def _fmt(s: dict[str, float] | None) -> str:
    if s is None:
        return "—"

    def ms(v: float) -> str:
        return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"

    return f"{ms(s['median_ms'])} ({ms(s['min_ms'])}-{ms(s['max_ms'])})"


def _threads(s: dict[str, float] | None) -> str:
    return "" if s is None or "threads" not in s else f"{s['threads']:.1f}"


LOADED_COLUMNS = ("case", "quantity", "system", "idle ms", "loaded ms", "loaded / idle",
                  "threads idle/loaded", "other load idle/loaded")


def loaded_cells(rows: list[LoadedRow]) -> list[list[str]]:
    out = []
    for r in rows:
        ratio = ("—" if r.idle is None or r.loaded is None
                 else f"{r.loaded['median_ms'] / r.idle['median_ms']:.2f}x")
        th = f"{_threads(r.idle)} / {_threads(r.loaded)}" if _threads(r.idle) else ""
        load = r.other_load_cores
        other = (f"{load['idle']:.1f} / {load['loaded']:.1f}"
                 if "idle" in load and "loaded" in load else "")
        out.append([r.case, r.quantity, r.system, _fmt(r.idle), _fmt(r.loaded), ratio, th,
                    other])
    return out


def loaded_markdown(rows: list[LoadedRow], env: dict[str, Any]) -> str:
    out = ["| " + " | ".join(LOADED_COLUMNS) + " |",
           "| " + " | ".join(["---"] * 3 + ["---:"] * 5) + " |"]
    out += ["| " + " | ".join(c) + " |" for c in loaded_cells(rows)]
    v, f = env["versions"], env["loaded"]
    out += ["", f"Milliseconds per call: median (min-max) of {BLOCKS} alternating idle/loaded "
                f"blocks; loaded = one busy process pinned to one core. {env['cpu_count']} CPUs "
                f"({env['cpu_model']}), numba threads {env['numba_num_threads']}, threading "
                f"layer {f['threading_layer']} ({f['threading_reason']}); q-store "
                f"{v['q-store']}, PennyLane {v['pennylane']}, lightning "
                f"{v['pennylane_lightning']}, numba {v['numba']}, Python {env['python']}, "
                f"{env['timestamp']}; 1-min load average {f['load_average_at_start']} at start, "
                f"{f['load_average_at_end']} at end. Idle means: no busy process of ours; the "
                "load of other processes (busy CPU time less the benchmark's, in cores, the "
                "busy process included) is in the last column. \"threads\": mean thread count "
                "of q_store's default calls."]
    return "\n".join(out) + "\n"
