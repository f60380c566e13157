"""What a Dask worker runs: slices of execution requests on its own exact simulator.

Each worker process keeps one :class:`~q_store.sim.StatevectorSimulator` per strategy with its
own template cache, so a circuit template (shipped once per worker as a scattered, broadcast
value) is compiled once per worker and only angle rows travel with each task. Rows are
independent in the simulator, so a slice gives bit for bit the rows the whole request would.
Simulations in one worker process run one at a time (numba's default threading layer refuses
concurrent parallel regions); each uses the worker's threads.

Sampling for shots is split the same way: workers return the exact outcome probabilities that
:func:`q_store.sim.shots.estimate_expectations` would sample, and the client samples them in
request order with the engine's generator, so seeded shot results equal local ones whatever the
split.
"""

from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliSum, Projector
from q_store.sim.measure import marginal_probabilities, sample_counts
from q_store.sim.shots import _parity_signs, basis_rotation
from q_store.sim.statevector import StatevectorSimulator

__all__ = ["adjoint_rows", "expectation_rows", "measured_probabilities", "metric_rows",
           "probability_rows", "sample_measured", "values_rows"]

Template = tuple[Circuit, tuple[Observable, ...]]

_lock = threading.Lock()
_sims: dict[str, StatevectorSimulator] = {}


def _simulator(strategy: str) -> StatevectorSimulator:
    """This worker's simulator (threads: the worker's, else one)."""
    sim = _sims.get(strategy)
    if sim is None:
        from q_store.execution.cache import CircuitCache

        threads = 1
        try:
            from distributed import get_worker

            threads = int(get_worker().state.nthreads)
        except (ImportError, ValueError, AttributeError):
            pass
        threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
        sim = _sims[strategy] = StatevectorSimulator(threads=threads, strategy=strategy,
                                                     cache=CircuitCache(64))
    return sim


def expectation_rows(template: Template, angles: np.ndarray, initial_state: Any,
                     strategy: str) -> np.ndarray:
    """``<O_k>`` of rows of an ExpectationRequest: ``(rows, K)``."""
    circuit, observables = template
    with _lock:
        sim = _simulator(strategy)
        return sim.expectation_angles(circuit, angles, observables, initial_state=initial_state)


def probability_rows(template: Template, angles: np.ndarray, initial_state: Any,
                     strategy: str) -> list[np.ndarray]:
    """The outcome probabilities a shot estimate of these rows samples (see module doc)."""
    circuit, observables = template
    with _lock:
        sim = _simulator(strategy)
        numba.set_num_threads(sim.threads)
        compiled = sim.cache.get(circuit)
        tape = compiled.program.bind(angles, np.full(angles.shape[1], angles.shape[0] > 1))
        states, _ = sim._initial(circuit.n_qubits, angles.shape[0], initial_state)
        sim._run(circuit.n_qubits, states, tape, initial_state is None)
        return measured_probabilities(sim, states, observables, circuit.n_qubits)


def values_rows(template: Template, weights: np.ndarray, inputs: np.ndarray,
                initial_state: Any, strategy: str) -> np.ndarray:
    """Values ``(rows, K)`` of a slice of an AdjointRequest's batch (before its cotangent)."""
    circuit, observables = template
    with _lock:
        sim = _simulator(strategy)
        values = sim.expectation(circuit, observables, weights, inputs,
                                 initial_state=initial_state)
    return np.atleast_2d(values)


def adjoint_rows(template: Template, weights: np.ndarray, inputs: np.ndarray,
                 initial_state: Any, cotangent: np.ndarray | None, strategy: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Values and angle derivatives of a slice of an AdjointRequest's batch."""
    from q_store.sim.adjoint import adjoint_angles

    circuit, observables = template
    with _lock:
        res = adjoint_angles(_simulator(strategy), circuit, observables, weights, inputs,
                             cotangent=cotangent, initial_state=initial_state)
    return res.values, res.d_angles


def metric_rows(circuit: Circuit, weights: np.ndarray, inputs: np.ndarray, strategy: str
                ) -> np.ndarray:
    """Per-sample metrics ``(rows, n_w, n_w)`` of a slice of a MetricRequest's batch."""
    from q_store.sim.qfim import metric_tensor

    with _lock:
        g = metric_tensor(circuit, weights, inputs, simulator=_simulator(strategy))
    return g if g.ndim == 3 else g[None]


def measured_probabilities(sim: StatevectorSimulator, states: np.ndarray,
                           observables: tuple[Observable, ...], n: int) -> list[np.ndarray]:
    """Per measured term, in :func:`~q_store.sim.shots.estimate_expectations`' order, the
    ``(rows, 2**k)`` probabilities it samples."""
    out = []
    for obs in observables:
        if isinstance(obs, Projector):
            out.append(marginal_probabilities(states.real**2 + states.imag**2, n, obs.wires))
            continue
        for term in obs.terms if isinstance(obs, PauliSum) else (obs,):
            if term.paulis:
                rot = sim.state(basis_rotation(term, n), initial_state=states)
                rot = rot.reshape(states.shape)
                out.append(marginal_probabilities(rot.real**2 + rot.imag**2, n, term.wires))
    return out


def sample_measured(probabilities: list[np.ndarray], observables: tuple[Observable, ...],
                    shots: int, rng: np.random.Generator, rows: int) -> np.ndarray:
    """Shot estimates ``(rows, K)`` from :func:`measured_probabilities`, drawing from ``rng``
    exactly as :func:`~q_store.sim.shots.estimate_expectations` does."""
    out = np.zeros((rows, len(observables)))
    probs = iter(probabilities)
    for k, obs in enumerate(observables):
        if isinstance(obs, Projector):
            hits = sample_counts(next(probs), shots, rng)[:, int("".join(map(str, obs.bits)), 2)]
            out[:, k] = hits / shots
            continue
        for term in obs.terms if isinstance(obs, PauliSum) else (obs,):
            if not term.paulis:
                out[:, k] += term.coeff
                continue
            counts = sample_counts(next(probs), shots, rng)
            out[:, k] += term.coeff * (counts @ _parity_signs(len(term.wires))) / shots
    return out
