"""The simulator benchmark's ``--peers`` mode: q_store next to qsim, qulacs, Qiskit Aer and
PennyLane on the spec workload, one thread each, calls interleaved.

What is measured
----------------
The spec workload of :mod:`bench_simulator` (RX embedding, 2 layers of RY/RZ + CNOT ring,
``<Z0>``) at 8 qubits with a batch of 1000 samples and single samples at 16, 20 and 24 qubits:
forward (``<Z0>``) and gradient (d sum_b <Z0>_b / d weights), milliseconds per sample.

Systems (each on one thread; peers that lack a gradient get "-"):

* q_store, complex128 and complex64 (``StatevectorSimulator(threads=1, dtype=...)``), the
  gradient by ``AdjointGradient.vjp``;
* qsim (``qsimcirq``, float32, its gate fusion; ``cpu_threads=1``), forward only; a batch is a
  loop over samples;
* qulacs (``ParametricQuantumCircuit``; ``backprop`` for the gradient); a batch is a loop;
* Qiskit Aer (``AerSimulator(method="statevector")`` with its fusion, one thread), forward only,
  single samples only (a batch of 1000 bound circuits is dominated by Python-side binding);
* PennyLane ``lightning.qubit`` (adjoint) and ``default.qubit`` (backprop, up to 16 qubits).

How
---
All systems get the same seeded data. Before timing, every system's values (and gradient, where
it has one) are checked against q_store complex128: 1e-8 in double precision, 1e-4 for the
float32 systems (qsim, q_store complex64). Then ``rounds`` rounds are timed, each round one call
of every system in turn (forward first, then gradient), so that all systems see the same
drifting load of a shared machine. Cells: median (min-max) over the rounds; ratio: the peer's
median over q_store complex128's median (> 1: q_store faster); for float32 systems the ratio is
also given against q_store complex64 (same precision). ``OMP_NUM_THREADS=1`` is set before any
library loads. The 1-minute load average is recorded at start and end.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # qulacs, lightning, Aer: one thread

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LAYERS = 2
SEED = 1234
F64_TOL, F32_TOL = 1e-8, 1e-4
PEER_CASES = "8x1000,16,20,24"


@dataclass
class System:
    name: str
    precision: str  # "f64" or "f32"
    forward: Callable[[], np.ndarray]
    gradient: Callable[[], np.ndarray] | None
    fwd_times: list[float] = field(default_factory=list)
    grad_times: list[float] = field(default_factory=list)
    err: tuple[float, float | None] = (0.0, None)


def spec_data(n: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 1000 * n + batch)
    return rng.uniform(0.0, np.pi, size=(batch, n)), rng.uniform(0.0, 2 * np.pi, 4 * n)


def ours(n: int, x: np.ndarray, w: np.ndarray, dtype: Any) -> System:
    from q_store.circuit import Z
    from q_store.demo import hardware_efficient_circuit
    from q_store.gradients import AdjointGradient
    from q_store.sim import StatevectorSimulator

    c = hardware_efficient_circuit(n, LAYERS)
    sim = StatevectorSimulator(threads=1, dtype=dtype)
    grad = AdjointGradient(sim)
    cot = np.ones((len(x), 1))
    xs = x if len(x) > 1 else x[0]

    def forward() -> np.ndarray:
        return np.atleast_1d(sim.expectation(c, Z(0), w, xs))

    def gradient() -> np.ndarray:
        return grad.vjp(c, Z(0), w, x, cot).weights.sum(0)

    name = "q_store" if dtype == np.complex128 else "q_store complex64"
    return System(name, "f64" if dtype == np.complex128 else "f32", forward, gradient)


def qsim(n: int, x: np.ndarray, w: np.ndarray) -> System:
    import cirq
    import qsimcirq

    q = cirq.LineQubit.range(n)
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=1))
    obs = [cirq.Z(q[0])]

    def circuit(xb: np.ndarray) -> Any:
        ops = [cirq.rx(xb[i])(q[i]) for i in range(n)]
        k = 0
        for _ in range(LAYERS):
            for i in range(n):
                ops += [cirq.ry(w[k])(q[i]), cirq.rz(w[k + 1])(q[i])]
                k += 2
            ops += [cirq.CNOT(q[i], q[(i + 1) % n]) for i in range(n)]
        return cirq.Circuit(ops)

    circuits = [circuit(xb) for xb in x]  # built once: the timing is the simulation

    def forward() -> np.ndarray:
        return np.array([sim.simulate_expectation_values(c, obs)[0].real for c in circuits])

    return System("qsim", "f32", forward, None)


def qulacs(n: int, x: np.ndarray, w: np.ndarray) -> System:
    from qulacs import Observable, ParametricQuantumCircuit, QuantumState

    # qulacs rotations are exp(+i a P / 2): angles enter negated (and so do the derivatives)
    circ = ParametricQuantumCircuit(n)
    qmap = [n - 1 - i for i in range(n)]  # qulacs qubit 0 is the least significant bit
    for i in range(n):
        circ.add_parametric_RX_gate(qmap[i], 0.0)
    k = 0
    for _ in range(LAYERS):
        for i in range(n):
            circ.add_parametric_RY_gate(qmap[i], -w[k])
            circ.add_parametric_RZ_gate(qmap[i], -w[k + 1])
            k += 2
        for i in range(n):
            circ.add_CNOT_gate(qmap[i], qmap[(i + 1) % n])
    obs = Observable(n)
    obs.add_operator(1.0, f"Z {qmap[0]}")
    state = QuantumState(n)
    weight_slots = np.arange(n, n + 4 * n)

    def bind(xb: np.ndarray) -> None:
        for i in range(n):
            circ.set_parameter(i, -xb[i])

    def forward() -> np.ndarray:
        out = np.empty(len(x))
        for b, xb in enumerate(x):
            bind(xb)
            state.set_zero_state()
            circ.update_quantum_state(state)
            out[b] = obs.get_expectation_value(state)
        return out

    def gradient() -> np.ndarray:
        total = np.zeros(4 * n)
        for xb in x:
            bind(xb)
            total -= np.asarray(circ.backprop(obs))[weight_slots]
        return total

    return System("qulacs", "f64", forward, gradient)


def aer(n: int, x: np.ndarray, w: np.ndarray) -> System:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer import AerSimulator

    backend = AerSimulator(method="statevector", max_parallel_threads=1)
    qc = QuantumCircuit(n)
    qi = [n - 1 - i for i in range(n)]  # our wire 0 is the most significant bit
    for i in range(n):
        qc.rx(float(x[0, i]), qi[i])
    k = 0
    for _ in range(LAYERS):
        for i in range(n):
            qc.ry(float(w[k]), qi[i])
            qc.rz(float(w[k + 1]), qi[i])
            k += 2
        for i in range(n):
            qc.cx(qi[i], qi[(i + 1) % n])
    qc.save_expectation_value(SparsePauliOp("Z"), [qi[0]])

    def forward() -> np.ndarray:
        res = backend.run(qc, shots=None).result()
        return np.array([float(res.data(0)["expectation_value"])])

    return System("Qiskit Aer", "f64", forward, None)


def pennylane(n: int, x: np.ndarray, w: np.ndarray, template: Any, device: str,
              diff: str) -> System:
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device(device, wires=n)
    qnode = qml.QNode(template(qml, n), dev, interface="autograd", diff_method=diff)
    inputs = pnp.array(x if len(x) > 1 else x[0], requires_grad=False)
    weights = pnp.array(w, requires_grad=True)
    grad_fn = qml.grad(lambda v: pnp.sum(qnode(inputs, v)))

    def forward() -> np.ndarray:
        return np.atleast_1d(np.asarray(qnode(inputs, weights)))

    def gradient() -> np.ndarray:
        return np.asarray(grad_fn(weights))

    return System(device, "f64", forward, gradient)


def systems_for(n: int, batch: int, template: Any) -> tuple[list[System], list[str]]:
    """All systems that are installed and apply to the case, plus notes on the others."""
    x, w = spec_data(n, batch)
    out = [ours(n, x, w, np.complex128), ours(n, x, w, np.complex64)]
    notes = []
    builders: list[tuple[str, Callable[[], System]]] = [
        ("qsim", lambda: qsim(n, x, w)),
        ("qulacs", lambda: qulacs(n, x, w)),
        ("lightning.qubit", lambda: pennylane(n, x, w, template, "lightning.qubit",
                                              "adjoint")),
    ]
    if batch == 1:
        builders.append(("Qiskit Aer", lambda: aer(n, x, w)))
    else:
        notes.append("Qiskit Aer: single samples only (1000 bound circuits are Python-bound)")
    if n <= 16:
        builders.append(("default.qubit", lambda: pennylane(n, x, w, template, "default.qubit",
                                                            "backprop")))
    else:
        notes.append("default.qubit: not run above 16 qubits (minutes per call)")
    for name, build in builders:
        try:
            out.append(build())
        except ImportError as e:
            notes.append(f"{name}: not installed ({e.name}); pip install 'q-store[bench]'")
    return out, notes


def check(systems: list[System]) -> None:
    """Warm up every system, checking its values and gradient against q_store complex128."""
    ref = systems[0]
    ref_v, ref_g = ref.forward(), ref.gradient()  # type: ignore[misc]
    ref.forward()
    for s in systems:
        tol = F64_TOL if s.precision == "f64" else F32_TOL
        v = np.ravel(s.forward())
        ev = float(np.max(np.abs(v - np.ravel(ref_v))))
        eg = None
        if s.gradient is not None:
            g = np.ravel(s.gradient())
            s.gradient()
            eg = float(np.max(np.abs(g - np.ravel(ref_g))))
        if ev > tol or (eg is not None and eg > tol):
            raise RuntimeError(f"{s.name}: values differ by {ev:.3g}, gradient by {eg} "
                               f"(tolerance {tol:g}) from q_store complex128")
        s.err = (ev, eg)


def rounds_for(systems: list[System], target_s: float, max_rounds: int) -> int:
    t0 = time.perf_counter()
    for s in systems:
        s.forward()
        if s.gradient is not None:
            s.gradient()
    return max(3, min(max_rounds, math.ceil(target_s / (time.perf_counter() - t0))))


def time_rounds(systems: list[System], rounds: int) -> None:
    for _ in range(rounds):
        for s in systems:
            t0 = time.perf_counter()
            s.forward()
            s.fwd_times.append(time.perf_counter() - t0)
        for s in systems:
            if s.gradient is not None:
                t0 = time.perf_counter()
                s.gradient()
                s.grad_times.append(time.perf_counter() - t0)


def stats(times: list[float], batch: int) -> dict[str, float] | None:
    if not times:
        return None
    ms = [1e3 * t / batch for t in times]
    return {"median": statistics.median(ms), "min": min(ms), "max": max(ms), "n": len(ms)}


def run_peers(cases: list[tuple[int, int]], template: Any, target_s: float = 20.0,
              max_rounds: int = 15) -> tuple[list[dict[str, Any]], list[str]]:
    rows, notes = [], []
    for n, batch in cases:
        systems, case_notes = systems_for(n, batch, template)
        notes += [f"n={n}, B={batch}: {m}" for m in case_notes]
        check(systems)
        time_rounds(systems, rounds_for(systems, target_s, max_rounds))
        base = {p: next(s for s in systems if s.name == nm)
                for p, nm in (("f64", "q_store"), ("f32", "q_store complex64"))}
        for s in systems:
            f, g = stats(s.fwd_times, batch), stats(s.grad_times, batch)
            row = {"case": f"n={n}, B={batch}", "system": s.name, "precision": s.precision,
                   "forward_ms": f, "gradient_ms": g, "err_values": s.err[0],
                   "err_gradient": s.err[1]}
            for p, ref in base.items():
                rf, rg = stats(ref.fwd_times, batch), stats(ref.grad_times, batch)
                row[f"fwd_ratio_{p}"] = f["median"] / rf["median"] if f and rf else None
                row[f"grad_ratio_{p}"] = g["median"] / rg["median"] if g and rg else None
            rows.append(row)
        print(f"[peers] {n}x{batch} done", flush=True)
    return rows, notes


def _cell(s: dict[str, float] | None) -> str:
    if s is None:
        return "-"

    def f(v: float) -> str:
        return f"{v:.3g}" if v < 100 else f"{v:.0f}"

    return f"{f(s['median'])} ({f(s['min'])}-{f(s['max'])})"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def peers_markdown(rows: list[dict[str, Any]], notes: list[str], env: dict[str, Any]) -> str:
    out = ["| case | system | precision | forward ms/sample | gradient ms/sample | "
           "fwd ratio | grad ratio | fwd ratio vs complex64 |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        mine = r["system"] == "q_store"
        f32 = r["precision"] == "f32"
        out.append(f"| {r['case']} | {r['system']} | {r['precision']} | "
                   f"{_cell(r['forward_ms'])} | {_cell(r['gradient_ms'])} | "
                   f"{'(ref)' if mine else _ratio(r['fwd_ratio_f64'])} | "
                   f"{'(ref)' if mine else _ratio(r['grad_ratio_f64'])} | "
                   f"{_ratio(r['fwd_ratio_f32']) if f32 else ''} |")
    out += ["", "Median (min-max) over interleaved rounds, one thread per system; ratio = peer "
                "median / q_store median (> 1: q_store faster); the last column compares "
                "float32 systems with q_store complex64. "
                f"{env['cpu_count']} CPUs ({env['cpu_model']}); load average "
                f"{env['load_average_at_start'][0]:.2f} at start, "
                f"{env['load_average_at_end'][0]:.2f} at end (a shared machine: other users' "
                "processes ran throughout)."]
    out += [f"- {m}" for m in notes]
    return "\n".join(out) + "\n"
