"""Compile the simulators' kernels before the first run, into numba's on-disk cache.

Why: numba compiles a kernel the first time it is called with a new combination of argument
types and keeps the machine code in ``__pycache__`` beside the source (``cache=True``). A fresh
install starts with that folder empty, so the first ``q-store demo`` spent ~12 s compiling.
Building the wheel runs :func:`warm` on the built package (``setup.py``), so the cache ships
inside the wheel: since numba 0.68 a cache entry is stamped with a hash of its source file, not
the file's modification time, so the entries stay valid after ``pip`` unpacks the files. An
entry is used only with the numba version, Python version and CPU (name and features) it was
compiled for, and only where the package folder is writable (numba otherwise switches to a
per-user cache, as it does when ``NUMBA_CACHE_DIR`` is set); anywhere else numba compiles on
first use as before, and ``python -m q_store.warmup`` fills the cache numba uses there in one
go.

What is compiled is not a list of kernels, which would fall behind as kernels are added: small
real workloads go through the public simulator and gradient API on every execution path the
simulators choose between (one thread and several, one state and a batch, from ``|0...0>`` and
from a given state, values, states, probabilities, samples, adjoint Jacobians and
vector-Jacobian products, the metric tensor, a circuit with every gate kind; optionally a state
large enough for the cache-blocked kernels), so whatever kernels those paths reach are compiled.
Thread counts are fixed for the duration (not read from the machine's load), so every path is
reached on a busy machine too.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from q_store.circuit import Circuit
    from q_store.sim import StatevectorSimulator

__all__ = ["WarmupReport", "warm"]


@dataclass
class WarmupReport:
    """What :func:`warm` did: compilations (specialisations not found in the cache, numba's
    helpers included), kernels loaded from the cache, workloads run, thread counts used,
    seconds, and paths it could not reach (with the reason)."""

    compiled: int = 0
    loaded: int = 0
    workloads: int = 0
    threads: tuple[int, ...] = ()
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{self.workloads} workloads with threads {self.threads}: {self.compiled} "
                f"compilations, {self.loaded} loaded from the cache, "
                f"{self.seconds:.1f} s")
        return text + "".join(f"; skipped: {s}" for s in self.skipped)


def _dispatchers() -> list[object]:
    """The numba dispatchers of every imported q_store module."""
    import sys

    from numba.core.dispatcher import Dispatcher

    return [obj for name, mod in list(sys.modules.items())
            if name.split(".")[0] == "q_store" and mod is not None
            for obj in vars(mod).values() if isinstance(obj, Dispatcher)]


def _cache_hits() -> int:
    return sum(sum(d._cache_hits.values()) for d in _dispatchers())


@contextmanager
def count_compilations() -> Iterator[dict[str, int]]:
    """Count numba's compilations (``compiled``: not found in the cache, numba's own helpers
    included) and the q_store kernels loaded from the cache (``loaded``) inside the block."""
    from numba.core import event

    counts = {"compiled": 0, "loaded": 0}

    class _Listener(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            pass

        def on_end(self, ev: event.Event) -> None:
            counts["compiled"] += 1

    listener = _Listener()
    hits = _cache_hits()
    event.register("numba:compile", listener)
    try:
        yield counts
    finally:
        event.unregister("numba:compile", listener)
        counts["loaded"] = _cache_hits() - hits


@contextmanager
def _fixed_thread_counts() -> Iterator[None]:
    """Let every call use the threads it asks for, whatever the machine's load, so that the
    threaded paths are reached on a busy machine too."""
    from q_store.sim import threads

    saved = threads._DEFAULT
    threads._DEFAULT = threads.FreeCores(read_stat=lambda: None)
    try:
        yield
    finally:
        threads._DEFAULT = saved


def _all_gates_circuit(n_qubits: int = 3) -> Circuit:
    """Every gate of the gate table once, parameters as weights: reaches every block kind."""
    from q_store.circuit import Circuit, theta
    from q_store.circuit.gates import GATES

    b = Circuit.builder(n_qubits)
    k = 0
    for name, spec in GATES.items():
        if spec.num_wires > n_qubits:
            continue
        wires = [(i + k) % n_qubits for i in range(spec.num_wires)]
        params = [theta[k + j] for j in range(spec.num_params)]
        b.append(name, wires, *params)
        k += spec.num_params
    return b.build()


Workload = Callable[["StatevectorSimulator"], None]


def _workloads(large: bool) -> list[tuple[str, Workload]]:
    """(name, run(simulator)) pairs; each runs real simulations on one simulator."""
    from q_store.circuit import Z
    from q_store.demo import hardware_efficient_circuit
    from q_store.gradients import AdjointGradient, ParameterShiftGradient, metric_tensor

    rng = np.random.default_rng(0)

    def circuit_calls(circuit: Circuit, rows: int) -> Workload:
        n = circuit.n_qubits
        w = rng.normal(size=(rows, circuit.n_weights)) if rows > 1 else rng.normal(
            size=circuit.n_weights)
        x_shape = (rows, circuit.n_inputs) if rows > 1 else (circuit.n_inputs,)
        x = rng.uniform(-np.pi, np.pi, size=x_shape) if circuit.n_inputs else None
        obs = [Z(q) for q in range(min(n, 3))]
        psi0 = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
        psi0 /= np.linalg.norm(psi0)

        def run(sim: StatevectorSimulator) -> None:
            grad = AdjointGradient(sim)
            sim.expectation(circuit, obs, w, x)
            sim.state(circuit, w, x, initial_state=psi0)
            sim.probabilities(circuit, w, x)
            sim.sample_expectation(circuit, obs[0], 16, w, x, seed=0)
            cot = np.ones((rows, 1)) if rows > 1 else np.ones(1)
            grad.vjp(circuit, [obs[0]], w, x, cot)
            grad.jacobian(circuit, obs, w, x)
            grad.jacobian(circuit, [obs[0]], w, x, initial_state=psi0)
            if n <= 8:
                metric_tensor(circuit, w, x, simulator=sim)
                ParameterShiftGradient(sim).jacobian(circuit, [obs[0]], w, x)
            if rows == 1 and n <= 8:
                sim.unitary(circuit, w, x)
        return run

    demo = hardware_efficient_circuit(8, 2)
    gates = _all_gates_circuit()
    work = [("demo circuit, one sample", circuit_calls(demo, 1)),
            ("demo circuit, batch of 64", circuit_calls(demo, 64)),
            ("every gate kind, one sample", circuit_calls(gates, 1)),
            ("every gate kind, batch of 64", circuit_calls(gates, 64))]
    if large:
        from q_store.sim.statevector import _SINGLE_STATE_QUBITS

        big = hardware_efficient_circuit(_SINGLE_STATE_QUBITS, 1)
        work.append(("cache-blocked large state", circuit_calls(big, 1)))
    return work


def warm(*, large: bool = True, threads: tuple[int, ...] | None = None,
         log: Callable[[str], None] | None = None) -> WarmupReport:
    """Run the warm-up workloads (see the module docstring) and report what was compiled.

    ``threads``: the thread counts to run every workload with (default: 1 and numba's thread
    count, so both the one-thread and the threaded kernels are compiled); ``large``: also a
    state large enough for the cache-blocked kernels.
    """
    import numba

    from q_store.sim import DensityMatrixSimulator, StatevectorSimulator, depolarizing
    from q_store.sim.noise import NoiseModel

    available = numba.config.NUMBA_NUM_THREADS
    report = WarmupReport()
    if threads is None:
        threads = (1, available) if available > 1 else (1,)
        if available == 1:
            report.skipped.append("threaded kernels: numba has one thread (NUMBA_NUM_THREADS)")
    report.threads = tuple(threads)
    start = time.perf_counter()
    with count_compilations() as counts, _fixed_thread_counts():
        for t in report.threads:
            sim = StatevectorSimulator(threads=t)
            for name, run in _workloads(large):
                if log:
                    log(f"threads={t}: {name}")
                run(sim)
                report.workloads += 1
        noise = NoiseModel()
        noise.add_gate_error(depolarizing(0.01))
        dm = DensityMatrixSimulator(noise)
        circuit = _all_gates_circuit()
        dm.expectation(circuit, "Z0", np.zeros(circuit.n_weights))
        report.workloads += 1
    report.compiled, report.loaded = counts["compiled"], counts["loaded"]
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m q_store.warmup``: compile the kernels of this installation into its cache."""
    parser = argparse.ArgumentParser(prog="python -m q_store.warmup", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--no-large", action="store_true",
                        help="skip the cache-blocked kernels for states of 14+ qubits")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    report = warm(large=not args.no_large, log=None if args.quiet else print)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
