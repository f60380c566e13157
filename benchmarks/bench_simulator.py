"""Side-by-side benchmark of the q_store simulator against PennyLane on the spec workload.

What is measured
----------------
The "spec workload" on ``n`` qubits: an RX angle embedding of ``n`` features (``RX(x_q)`` on
qubit ``q``), then two layers of (``RY(w)`` and ``RZ(w)`` on every qubit, then a CNOT ring
``CNOT(q, (q + 1) % n)``), measuring ``<Z0>``; ``4n`` trainable weights.

For every case two quantities are timed:

* forward:  ``<Z0>`` for every sample of the batch;
* gradient: the gradient with respect to the weights of the SUM over the batch of ``<Z0>``
  (this includes computing the values).

Both are reported in milliseconds PER SAMPLE (time of the whole call divided by the batch).
Cases: ``8x10`` (8 qubits, batch 10), ``8x1000`` (8 qubits, batch 1000) and single samples
(batch 1) at 12, 16 and 20 qubits.

Systems
-------
* ours: ``StatevectorSimulator.expectation`` for the forward pass and
  ``AdjointGradient.vjp(..., cotangent=ones).weights.sum(0)`` for the gradient (the ``.sum(0)``
  is inside the timed region);
* PennyLane ``default.qubit``, ``diff_method="backprop"``, autograd interface
  (``pennylane.numpy``), the batch passed as a 2-D array so that the QNode broadcasts;
* the same with the torch interface, as a separate row, when ``torch`` is importable;
* PennyLane ``lightning.qubit``, ``diff_method="adjoint"``, the batch broadcast the same way.

For batch 1 the PennyLane QNodes get a 1-D input (no broadcasting).

How
---
All systems get the same seeded random inputs and weights. Before any timing, our values and
summed gradient are checked against ``lightning.qubit`` to 1e-8 for each case (the script aborts
otherwise), and so are the outputs of every PennyLane peer; that checked call is the warm-up
(for us it JIT-compiles the numba kernels, so we get one more untimed call). Each measurement is
then repeated and the median of the repeats is reported (the fastest repeat is in the JSON too);
the number of repeats adapts so that a cell takes about ``--target`` seconds when it is fast.
A run longer than ``--budget`` seconds is not repeated (that one run is reported, with a note),
and a peer cell predicted from the previous, smaller case to take longer than
``--max-predicted`` seconds, or excluded by ``--skip-slow``, is recorded as null with a reason.
The speed ratio is ``peer_time / our_time``: above 1 means we are faster.

Usage::

    python benchmarks/bench_simulator.py [--quick] [--skip-slow]
        [--cases 8x10,8x1000,12,16,20] [--out PATH]
    python benchmarks/bench_simulator.py --loaded [--cases 16,20,8x1000] [--busy-limit S]
    python benchmarks/bench_simulator.py --peers [--cases 8x1000,16,20,24]

The table is printed as plain text and as Markdown; the rows plus the environment go to
``benchmarks/results/simulator.json`` (or ``--out``) and the Markdown table next to it
(``simulator.md``).

``--peers`` puts q_store (complex128 and complex64) next to qsim, qulacs, Qiskit Aer and
PennyLane (the ``bench`` extra), one thread each, calls interleaved round by round (see
``peers.py``); it writes ``simulator_peers.json`` and ``simulator_peers.md``.

``--loaded`` compares, side by side, the machine as it is and the machine with one core kept
busy by a bounded spinning process: q_store's default thread count, q_store ``threads=1`` and
lightning.qubit, plus the batched path and a short training run (see ``loaded.py``). It writes
``simulator_loaded.json`` and ``simulator_loaded.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

from benchenv import cpu_model, package_version
from q_store.circuit import Z
from q_store.demo import hardware_efficient_circuit
from q_store.gradients import AdjointGradient
from q_store.sim import StatevectorSimulator

LAYERS = 2
SEED = 1234
TOLERANCE = 1e-8
DEFAULT_CASES = "8x10,8x1000,12,16,20"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "simulator.json"
LOADED_OUT = DEFAULT_OUT.with_name("simulator_loaded.json")
PEERS_OUT = DEFAULT_OUT.with_name("simulator_peers.json")
LOADED_CASES = "16,20,8x1000"
LOADED_REPEATS = {8: 20, 16: 40, 20: 8}  # per condition
TRAINING_REPEATS = 8
SLOW_SYSTEMS = ("default.qubit",)  # skipped at SLOW_QUBITS and above under --skip-slow
SLOW_QUBITS = 20

OURS = "q_store"


# -- cases and data -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    n_qubits: int
    batch: int

    @property
    def label(self) -> str:
        return f"n={self.n_qubits}, B={self.batch}"

    @property
    def n_weights(self) -> int:
        return 2 * LAYERS * self.n_qubits


def parse_cases(spec: str) -> list[Case]:
    """``"8x10,8x1000,12"`` -> cases; a bare number is a single sample (batch 1)."""
    cases = []
    for item in spec.split(","):
        item = item.strip().lower()
        if not item:
            continue
        n, _, b = item.partition("x")
        case = Case(int(n), int(b) if b else 1)
        if case.n_qubits < 2 or case.batch < 1:
            raise argparse.ArgumentTypeError(f"bad case {item!r}")
        cases.append(case)
    if not cases:
        raise argparse.ArgumentTypeError("no cases given")
    return cases


@dataclass(frozen=True)
class Data:
    inputs: np.ndarray  # (B, n)
    weights: np.ndarray  # (4n,)


def make_data(case: Case) -> Data:
    rng = np.random.default_rng(SEED + 1000 * case.n_qubits + case.batch)
    inputs = rng.uniform(0.0, np.pi, size=(case.batch, case.n_qubits))
    weights = rng.uniform(0.0, 2.0 * np.pi, size=case.n_weights)
    return Data(inputs, weights)


# -- the systems --------------------------------------------------------------------------------
@dataclass
class Runner:
    """One system on one case: zero-argument callables that return numpy results."""

    system: str
    method: str
    forward: Callable[[], np.ndarray]  # values, shape (B,)
    gradient: Callable[[], np.ndarray]  # gradient of the batch sum, shape (n_w,)
    jit: bool = False  # the first call compiles: it is never used as a timing sample


def build_ours(case: Case, data: Data) -> Runner:
    circuit = hardware_efficient_circuit(case.n_qubits, LAYERS)
    sim = StatevectorSimulator()
    adjoint = AdjointGradient(sim)
    obs = Z(0)
    inputs, weights = data.inputs, data.weights
    cotangent = np.ones((case.batch, 1))

    def forward() -> np.ndarray:
        return sim.expectation(circuit, obs, weights, inputs)

    def gradient() -> np.ndarray:
        return adjoint.vjp(circuit, obs, weights, inputs, cotangent).weights.sum(0)

    return Runner(OURS, "adjoint (numba)", forward, gradient, jit=True)


def _pl_template(qml: Any, n: int) -> Callable[[Any, Any], Any]:
    """The spec circuit as a PennyLane quantum function; ``inputs`` is (n,) or (B, n)."""

    def circuit(inputs: Any, weights: Any) -> Any:
        for q in range(n):
            qml.RX(inputs[..., q], wires=q)
        k = 0
        for _ in range(LAYERS):
            for q in range(n):
                qml.RY(weights[k], wires=q)
                qml.RZ(weights[k + 1], wires=q)
                k += 2
            for q in range(n):
                qml.CNOT(wires=[q, (q + 1) % n])
        return qml.expval(qml.PauliZ(0))

    return circuit


def _pl_inputs(case: Case, data: Data) -> np.ndarray:
    """2-D for a batch (the QNode broadcasts), 1-D for a single sample."""
    return data.inputs if case.batch > 1 else data.inputs[0]


def build_pennylane_autograd(case: Case, data: Data, device: str, diff_method: str) -> Runner:
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device(device, wires=case.n_qubits)
    qnode = qml.QNode(_pl_template(qml, case.n_qubits), dev, interface="autograd",
                      diff_method=diff_method)
    inputs = pnp.array(_pl_inputs(case, data), requires_grad=False)
    weights = pnp.array(data.weights, requires_grad=True)
    grad_fn = qml.grad(lambda w: pnp.sum(qnode(inputs, w)))

    def forward() -> np.ndarray:
        return np.atleast_1d(np.asarray(qnode(inputs, weights)))

    def gradient() -> np.ndarray:
        return np.asarray(grad_fn(weights))

    return Runner(device, f"{diff_method} (autograd)", forward, gradient)


def build_pennylane_torch(case: Case, data: Data) -> Runner:
    import pennylane as qml
    import torch

    dev = qml.device("default.qubit", wires=case.n_qubits)
    qnode = qml.QNode(_pl_template(qml, case.n_qubits), dev, interface="torch",
                      diff_method="backprop")
    inputs = torch.tensor(_pl_inputs(case, data), dtype=torch.float64)
    weights0 = torch.tensor(data.weights, dtype=torch.float64)

    def forward() -> np.ndarray:
        with torch.no_grad():
            out = qnode(inputs, weights0)
        return np.atleast_1d(out.numpy())

    def gradient() -> np.ndarray:
        w = weights0.detach().clone().requires_grad_(True)
        qnode(inputs, w).sum().backward()
        return w.grad.numpy()

    return Runner("default.qubit", "backprop (torch)", forward, gradient)


def torch_available() -> bool:
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def build_peers(case: Case, data: Data, with_torch: bool) -> list[Runner]:
    peers = [build_pennylane_autograd(case, data, "default.qubit", "backprop")]
    if with_torch:
        peers.append(build_pennylane_torch(case, data))
    peers.append(build_pennylane_autograd(case, data, "lightning.qubit", "adjoint"))
    return peers


# -- timing -------------------------------------------------------------------------------------
@dataclass
class Settings:
    target_s: float = 1.5  # wanted wall time of one cell when calls are fast
    min_repeats: int = 3
    max_repeats: int = 50
    budget_s: float = 30.0  # one run longer than this: no further repeats
    max_predicted_s: float = 300.0  # skip a cell predicted to take longer than this
    skip_slow: bool = False


@dataclass
class Timing:
    seconds: float | None  # median of the repeats, whole call
    repeats: int = 0
    note: str | None = None
    min_seconds: float | None = None  # fastest repeat (less sensitive to a busy machine)


def time_call(fn: Callable[[], object], settings: Settings,
              warmup: float | None = None) -> Timing:
    """Median wall time of ``fn`` after one warm-up call (or a given warm-up duration)."""
    if warmup is None:
        t0 = time.perf_counter()
        fn()
        warmup = time.perf_counter() - t0
    if warmup > settings.budget_s:
        return Timing(warmup, 1, f"single run (>{settings.budget_s:g} s budget)", warmup)
    samples: list[float] = []
    wanted = settings.min_repeats
    while len(samples) < wanted:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if samples[-1] > settings.budget_s:
            break
        if len(samples) == 1:
            fit = math.ceil(settings.target_s / max(samples[0], 1e-9))
            wanted = max(settings.min_repeats, min(settings.max_repeats, fit))
    note = None
    if len(samples) < settings.min_repeats:
        note = f"{len(samples)} repeat(s): one exceeded the {settings.budget_s:g} s budget"
    return Timing(statistics.median(samples), len(samples), note, min(samples))


def timed_once(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return np.asarray(out, dtype=float), time.perf_counter() - t0


# -- correctness --------------------------------------------------------------------------------
class MismatchError(RuntimeError):
    pass


def check_close(what: str, got: np.ndarray, ref: np.ndarray) -> float:
    got, ref = np.ravel(got), np.ravel(ref)
    if got.shape != ref.shape:
        raise MismatchError(f"{what}: shape {got.shape} != reference {ref.shape}")
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    if not err <= TOLERANCE:
        raise MismatchError(f"{what}: max |diff| {err:.3e} > {TOLERANCE:g} vs lightning.qubit")
    return err


# -- one case -----------------------------------------------------------------------------------
@dataclass
class Row:
    case: str
    n_qubits: int
    batch: int
    system: str
    method: str
    forward_ms_per_sample: float | None
    gradient_ms_per_sample: float | None
    forward_ratio: float | None  # peer_time / our_time; None for our own row
    gradient_ratio: float | None
    forward_repeats: int = 0
    gradient_repeats: int = 0
    forward_min_ms_per_sample: float | None = None
    gradient_min_ms_per_sample: float | None = None
    max_abs_err_values: float | None = None  # vs lightning.qubit
    max_abs_err_gradient: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Cell:
    """Measured or skipped forward/gradient of one system on one case."""

    forward: Timing
    gradient: Timing
    err_values: float | None = None
    err_gradient: float | None = None


def skipped(reason: str) -> Cell:
    return Cell(Timing(None, note=reason), Timing(None, note=reason))


def skip_reason(runner: Runner, case: Case, settings: Settings,
                history: dict[str, tuple[int, float]]) -> str | None:
    """Why a peer cell is not run at all, or None."""
    if settings.skip_slow and runner.system in SLOW_SYSTEMS and case.n_qubits >= SLOW_QUBITS:
        return f"skipped (--skip-slow / --quick: {runner.system} at >= {SLOW_QUBITS} qubits)"
    key = f"{runner.system}/{runner.method}/B={case.batch}"
    if key in history:
        prev_n, prev_s = history[key]
        predicted = prev_s * 2.0 ** (case.n_qubits - prev_n)
        if predicted > settings.max_predicted_s:
            return (f"skipped: predicted {predicted:.3g} s per gradient from n={prev_n} "
                    f"(> {settings.max_predicted_s:g} s)")
    return None


def measure(runner: Runner, settings: Settings, ref: tuple[np.ndarray, np.ndarray]) -> Cell:
    """Warm up (checking the outputs against the reference), then time forward and gradient."""
    values, t_fwd = timed_once(runner.forward)
    err_v = check_close(f"{runner.system} {runner.method} values", values, ref[0])
    forward = time_call(runner.forward, settings, warmup=None if runner.jit else t_fwd)
    grad, t_grad = timed_once(runner.gradient)
    err_g = check_close(f"{runner.system} {runner.method} gradient", grad, ref[1])
    gradient = time_call(runner.gradient, settings, warmup=None if runner.jit else t_grad)
    return Cell(forward, gradient, err_v, err_g)


def _ms(seconds: float | None, batch: int) -> float | None:
    return None if seconds is None else 1e3 * seconds / batch


def _ratio(peer: Timing, ours: Timing) -> float | None:
    if peer.seconds is None or not ours.seconds:
        return None
    return peer.seconds / ours.seconds


def make_row(case: Case, runner: Runner, cell: Cell, ours: Cell | None) -> Row:
    notes = list(dict.fromkeys(n for n in (cell.forward.note, cell.gradient.note) if n))
    return Row(
        case=case.label, n_qubits=case.n_qubits, batch=case.batch,
        system=runner.system, method=runner.method,
        forward_ms_per_sample=_ms(cell.forward.seconds, case.batch),
        gradient_ms_per_sample=_ms(cell.gradient.seconds, case.batch),
        forward_ratio=None if ours is None else _ratio(cell.forward, ours.forward),
        gradient_ratio=None if ours is None else _ratio(cell.gradient, ours.gradient),
        forward_repeats=cell.forward.repeats, gradient_repeats=cell.gradient.repeats,
        forward_min_ms_per_sample=_ms(cell.forward.min_seconds, case.batch),
        gradient_min_ms_per_sample=_ms(cell.gradient.min_seconds, case.batch),
        max_abs_err_values=cell.err_values, max_abs_err_gradient=cell.err_gradient,
        notes=notes,
    )


def run_case(case: Case, settings: Settings, with_torch: bool,
             history: dict[str, tuple[int, float]]) -> list[Row]:
    data = make_data(case)
    ours = build_ours(case, data)
    peers = build_peers(case, data, with_torch)
    lightning = peers[-1]
    # correctness first: our values and summed gradient against lightning's
    ref = (np.ravel(lightning.forward()), np.ravel(lightning.gradient()))
    our_cell = measure(ours, settings, ref)
    rows = [make_row(case, ours, our_cell, None)]
    for peer in peers:
        reason = skip_reason(peer, case, settings, history)
        cell = skipped(reason) if reason else measure(peer, settings, ref)
        if cell.gradient.seconds is not None:
            history[f"{peer.system}/{peer.method}/B={case.batch}"] = (case.n_qubits,
                                                                       cell.gradient.seconds)
        rows.append(make_row(case, peer, cell, our_cell))
    return rows


# -- environment and output -----------------------------------------------------------------------




def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def environment(with_torch: bool) -> dict[str, Any]:
    env: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_at_start": _load_average(),
        "versions": {d: package_version(d)
                     for d in ("q-store", "numpy", "scipy", "numba", "pennylane",
                               "pennylane_lightning", "autograd", "torch")},
    }
    if with_torch:
        import torch

        env["torch_num_threads"] = torch.get_num_threads()
    return env


COLUMNS = ("case", "system", "method", "fwd ms/sample", "grad ms/sample",
           "fwd ratio", "grad ratio")


def _fmt_ms(v: float | None) -> str:
    if v is None:
        return "skipped"
    return f"{v:.4f}" if v < 0.1 else f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _fmt_ratio(v: float | None, ours: bool) -> str:
    if ours:
        return "(ref)"
    return "—" if v is None else f"{v:.2f}x"


def table_cells(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        mine = r.system == OURS
        out.append([r.case, r.system, r.method, _fmt_ms(r.forward_ms_per_sample),
                    _fmt_ms(r.gradient_ms_per_sample), _fmt_ratio(r.forward_ratio, mine),
                    _fmt_ratio(r.gradient_ratio, mine)])
    return out


def text_table(rows: list[Row]) -> str:
    cells = table_cells(rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(COLUMNS)]
    right = {3, 4, 5, 6}

    def line(vals: list[str] | tuple[str, ...]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(vals, widths, strict=True)))

    out = [line(COLUMNS), line(["-" * w for w in widths])]
    prev = None
    for r, c in zip(rows, cells, strict=True):
        if prev is not None and r.case != prev:
            out.append("")
        prev = r.case
        out.append(line(c))
    return "\n".join(out)


def footnotes(rows: list[Row], general: list[str]) -> list[str]:
    notes = list(general)
    for r in rows:
        notes.extend(f"{r.case}, {r.system} {r.method}: {n}" for n in r.notes)
    return notes


def _first(v: list[float] | None) -> str:
    return "n/a" if not v else f"{v[0]:.2f}"


def markdown_table(rows: list[Row], env: dict[str, Any], general: list[str]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |",
           "| " + " | ".join(["---"] * 3 + ["---:"] * 4) + " |"]
    out += ["| " + " | ".join(c) + " |" for c in table_cells(rows)]
    v = env["versions"]
    out += ["", f"Ratios are peer time / our time (> 1: q_store faster). Median of repeats, "
                f"{env['cpu_count']} CPUs ({env['cpu_model']}), numba threads "
                f"{env['numba_num_threads']}, OMP_NUM_THREADS={env['omp_num_threads']}; "
                f"q-store {v['q-store']}, PennyLane {v['pennylane']}, lightning "
                f"{v['pennylane_lightning']}, numpy {v['numpy']}, numba {v['numba']}, "
                f"Python {env['python']}, {env['timestamp']}; 1-min load average "
                f"{_first(env.get('load_average_at_start'))} at start, "
                f"{_first(env.get('load_average_at_end'))} at end."]
    notes = footnotes(rows, general)
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def write_outputs(path: Path, rows: list[Row], env: dict[str, Any], settings: Settings,
                  general: list[str], markdown: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "spec workload: RX embedding, 2 x (RY, RZ, CNOT ring), <Z0>",
        "units": "milliseconds per sample; ratio = peer_time / our_time",
        "tolerance_vs_lightning": TOLERANCE,
        "environment": env,
        "settings": dataclasses.asdict(settings),
        "notes": general,
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path = path.with_suffix(".md")
    md_path.write_text(markdown)
    return md_path


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="short timings (fewer repeats) and --skip-slow")
    p.add_argument("--skip-slow", action="store_true",
                   help=f"skip {', '.join(SLOW_SYSTEMS)} at >= {SLOW_QUBITS} qubits")
    p.add_argument("--cases", type=parse_cases, default=None,
                   help=f"comma-separated NxB or N (batch 1); default {DEFAULT_CASES} "
                        f"({LOADED_CASES} with --loaded)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"JSON output path; the Markdown table goes next to it (.md); default "
                        f"{DEFAULT_OUT.name} ({LOADED_OUT.name} with --loaded)")
    p.add_argument("--loaded", action="store_true",
                   help="idle vs one busy core, side by side (q_store default, threads=1, "
                        "lightning.qubit; batched path; short training)")
    p.add_argument("--peers", action="store_true",
                   help="q_store next to qsim, qulacs, Qiskit Aer and PennyLane, one thread "
                        "each, interleaved (bench extra)")
    p.add_argument("--busy-limit", type=float, default=600.0,
                   help="seconds after which a busy process stops by itself (--loaded)")
    p.add_argument("--no-training", action="store_true",
                   help="--loaded without the training run")
    p.add_argument("--budget", type=float, default=30.0,
                   help="seconds; a run longer than this is not repeated")
    p.add_argument("--target", type=float, default=1.5,
                   help="seconds of repeats wanted per fast measurement")
    p.add_argument("--max-predicted", type=float, default=300.0,
                   help="skip a peer cell predicted (from the smaller case) to take longer")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = Settings(target_s=args.target, budget_s=args.budget,
                 max_predicted_s=args.max_predicted, skip_slow=args.skip_slow or args.quick)
    if args.quick:
        s.target_s, s.min_repeats, s.max_repeats = min(s.target_s, 0.3), 2, 10
    return s


def main_loaded(args: argparse.Namespace) -> int:
    """``--loaded``: idle and loaded rows side by side (see ``loaded.py``)."""
    from benchenv import text_table
    from loaded import LOADED_COLUMNS, loaded_cells, loaded_markdown, run_loaded

    cases = args.cases or parse_cases(LOADED_CASES)
    out = args.out or LOADED_OUT
    env = environment(with_torch=False)
    t_start = time.perf_counter()
    rows, facts = run_loaded([(c.n_qubits, c.batch) for c in cases], LOADED_REPEATS,
                             0 if args.no_training else TRAINING_REPEATS, args.busy_limit,
                             _pl_template)
    env["loaded"] = facts
    env["benchmark_wall_s"] = round(time.perf_counter() - t_start, 1)
    markdown = loaded_markdown(rows, env)
    print(text_table(LOADED_COLUMNS, loaded_cells(rows), left=3))
    print()
    print(markdown)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "idle vs one busy core: spec workload, batched path, short training",
        "units": "milliseconds per call; median, min, max over repeats",
        "environment": env,
        "rows": [dataclasses.asdict(r) for r in rows],
    }, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return 0


def main_peers(args: argparse.Namespace) -> int:
    """``--peers``: interleaved one-thread comparison with the other simulators."""
    from peers import PEER_CASES, peers_markdown, run_peers

    cases = args.cases or parse_cases(PEER_CASES)
    out = args.out or PEERS_OUT
    env = environment(with_torch=False)
    env["versions"].update({d: package_version(d) for d in
                            ("qsimcirq", "qulacs", "qiskit-aer", "cirq-core")})
    t_start = time.perf_counter()
    rows, notes = run_peers([(c.n_qubits, c.batch) for c in cases], _pl_template,
                            target_s=args.target if args.target != 1.5 else 20.0)
    env["load_average_at_end"] = _load_average()
    env["benchmark_wall_s"] = round(time.perf_counter() - t_start, 1)
    markdown = peers_markdown(rows, notes, env)
    print(markdown)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "spec workload, one thread each, interleaved",
                               "units": "milliseconds per sample", "environment": env,
                               "notes": notes, "rows": rows}, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.peers:
        return main_peers(args)
    if args.loaded:
        return main_loaded(args)
    args.cases = args.cases or parse_cases(DEFAULT_CASES)
    args.out = args.out or DEFAULT_OUT
    settings = settings_from(args)
    with_torch = torch_available()
    general = [] if with_torch else [
        "torch is not installed: the default.qubit torch-interface row was skipped"]
    env = environment(with_torch)
    t_start = time.perf_counter()
    rows: list[Row] = []
    history: dict[str, tuple[int, float]] = {}
    for case in args.cases:
        print(f"[bench] {case.label} ...", file=sys.stderr, flush=True)
        try:
            rows += run_case(case, settings, with_torch, history)
        except MismatchError as e:
            print(f"error: results disagree, benchmark aborted: {e}", file=sys.stderr)
            return 2
    env["load_average_at_end"] = _load_average()
    env["benchmark_wall_s"] = round(time.perf_counter() - t_start, 1)
    markdown = markdown_table(rows, env, general)
    print(text_table(rows))
    for n in footnotes(rows, general):
        print(f"note: {n}")
    print()
    print(markdown)
    md_path = write_outputs(args.out, rows, env, settings, general, markdown)
    print(f"wrote {args.out} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
