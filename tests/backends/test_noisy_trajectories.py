"""``mock_noisy_trajectories``: shots sampled one Monte-Carlo trajectory each, which must follow
the density matrix's noisy distribution (within shot noise), reproducibly for a seed; exact
probabilities and oversized density matrices are refused naming the alternative; 14-qubit
training runs through the trainer; multi-backend entries name it."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import numpy as np
import pytest
from scipy import stats

from q_store.backends import BackendManager, NoisySimulatorBackend
from q_store.backends.configs import backends_from_config, check_backend_configs
from q_store.circuit import Circuit
from q_store.circuit.gates import GATES
from q_store.errors import BackendError, CircuitError, ConfigError
from q_store.execution.backend_executor import BackendExecutor
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import (
    NoiseModel,
    ReadoutError,
    amplitude_damping,
    depolarizing,
    depolarizing_from_fidelity,
    phase_damping,
)

SHOTS = 20_000
SIGMAS = 5.0
P_5SIGMA = 2 * stats.norm.sf(SIGMAS)  # two-sided 5-sigma tail probability
ONE_QUBIT_GATES = [name for name, spec in GATES.items() if spec.num_wires == 1]


def aria(readout: bool = True) -> NoiseModel:
    """IonQ Aria's preset, optionally without its readout errors."""
    if readout:
        return NoiseModel.ionq_aria()
    return (NoiseModel()
            .add_gate_error(depolarizing(depolarizing_from_fidelity(0.9995, 1)),
                            gates=ONE_QUBIT_GATES)
            .add_gate_error(depolarizing(depolarizing_from_fidelity(0.996, 2), 2)))


def light(wire_1: bool = True) -> NoiseModel:
    """Cheaper strong noise for 14 qubits: Pauli channels (drawn without looking at the
    state), amplitude damping after RX only, readout errors as :func:`strong`."""
    nm = (NoiseModel().add_gate_error(depolarizing(0.05), gates=ONE_QUBIT_GATES)
          .add_gate_error(depolarizing(0.1, 2))
          .add_gate_error(amplitude_damping(0.15), gates="RX")
          .add_readout_error(ReadoutError(0.08, 0.03)))
    return nm.add_readout_error(ReadoutError(0.2, 0.01), qubits=[1]) if wire_1 else nm


def strong(readout: bool = True, wire_1: bool = True) -> NoiseModel:
    """Strong noise: non-unitary Kraus channels (branches drawn from the state), 2-qubit
    depolarizing, asymmetric readout errors with one wire of its own."""
    nm = (NoiseModel().add_gate_error(amplitude_damping(0.12))
          .add_gate_error(phase_damping(0.1), gates=["RY", "H"])
          .add_gate_error(depolarizing(0.08, 2)))
    if readout:
        nm.add_readout_error(ReadoutError(0.08, 0.03))
        if wire_1:
            nm.add_readout_error(ReadoutError(0.2, 0.01), qubits=[1])
    return nm


# concentrated on two outcomes, so readout flips (0.39 % a bit) stand out from gate noise
ARIA_CIRCUIT = (Circuit(5).h(0).cnot(0, 1).cnot(1, 2).x(3).cnot(3, 4).rz(2, 0.3)
                .toffoli(0, 3, 4).rzz(1, 4, 0.8).ry(1, 0.3))
STRONG_CIRCUIT = (Circuit(4).h(0).ry(1, 0.7).cnot(0, 1).rx(2, 1.1).cnot(1, 2).ry(3, 0.4)
                  .cz(2, 3).toffoli(0, 1, 3).ry(0, 0.3).h(2))


def sample(backend: NoisySimulatorBackend, circuits: list[Circuit], shots: int | None,
           seed: object = None) -> list[np.ndarray]:
    async def go() -> list[np.ndarray]:
        async with backend:
            results = await backend.execute_batch(circuits, shots, seed=seed)  # type: ignore
        return [r.probabilities * r.shots for r in results]
    return asyncio.run(go())


def consistent(counts: np.ndarray, p: np.ndarray) -> bool:
    """Counts from ``p``: every outcome within 5 binomial sigmas (plus one count for outcomes
    of tiny probability), and the chi-square over outcomes expected >= 5 times (the rest
    pooled) below its 5-sigma quantile."""
    n = counts.sum()
    sd = np.sqrt(n * p * (1 - p))
    if np.any(np.abs(counts - n * p) > SIGMAS * sd + 1):
        return False
    big = n * p >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(n * p[big], n * p[~big].sum())
    keep = exp > 0
    chi2 = np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep])
    return bool(chi2 <= stats.chi2.isf(P_5SIGMA, keep.sum() - 1))


@pytest.mark.parametrize(("make", "circuit"), [(aria, ARIA_CIRCUIT), (strong, STRONG_CIRCUIT)],
                         ids=["aria", "strong"])
def test_histograms_follow_the_density_matrix(make: Any, circuit: Circuit) -> None:
    """Each shot is one trajectory measured once (readout errors per bit): the histogram is a
    sample of the density matrix's measured distribution. The same bound rejects the
    distribution without readout errors and the noiseless one, so it can see both."""
    backend = NoisySimulatorBackend(noise_model=make(), method="trajectories")
    (counts,) = sample(backend, [circuit], SHOTS, seed=11)
    assert counts.sum() == SHOTS
    p = DensityMatrixSimulator(make()).probabilities(circuit)
    assert consistent(counts, p)
    no_readout = DensityMatrixSimulator(make(readout=False)).probabilities(circuit)
    assert not consistent(counts, no_readout)
    assert not consistent(counts, DensityMatrixSimulator(NoiseModel()).probabilities(circuit))


def test_14_qubits_match_independent_two_qubit_density_matrices() -> None:
    """Seven disjoint entangled pairs on 14 qubits (beyond the density-matrix limit): each
    pair's sampled marginal follows the 2-qubit density matrix of that pair alone."""
    angles = np.linspace(0.3, 2.8, 14)
    b = Circuit.builder(14)
    for q in range(14):
        b.ry(q, float(angles[q]))
    for q in range(0, 14, 2):
        b.cnot(q, q + 1).rx(q + 1, 0.5)
    shots = 600
    (counts,) = sample(NoisySimulatorBackend(noise_model=light(), method="trajectories"),
                       [b.build()], shots, seed=3)
    outcomes = np.repeat(np.arange(2**14), counts.astype(np.int64))
    rejected = 0
    for q in range(0, 14, 2):
        pair = (outcomes >> (12 - q)) & 3  # bits of wires q, q + 1
        ref = (Circuit(2).ry(0, float(angles[q])).ry(1, float(angles[q + 1])).cnot(0, 1)
               .rx(1, 0.5))
        # wire 1's own readout error belongs to the pair (0, 1) only
        p = DensityMatrixSimulator(light(wire_1=q == 0)).probabilities(ref)
        hist = np.bincount(pair, minlength=4)
        assert consistent(hist, p), q
        rejected += not consistent(hist, DensityMatrixSimulator().probabilities(ref))
    assert rejected >= 4  # most noiseless pairs are told apart (5-7 over seeds)


def test_a_seed_reproduces_the_counts() -> None:
    backend = NoisySimulatorBackend(noise_model=strong(), method="trajectories")
    a = sample(backend, [STRONG_CIRCUIT, ARIA_CIRCUIT], 500, seed=7)
    b = sample(backend, [STRONG_CIRCUIT, ARIA_CIRCUIT], 500, seed=7)
    c = sample(backend, [STRONG_CIRCUIT, ARIA_CIRCUIT], 500, seed=8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    # per-circuit seeds: a circuit's counts do not depend on its job
    alone = sample(backend, [ARIA_CIRCUIT], 500, seed=[5])
    paired = sample(backend, [STRONG_CIRCUIT, ARIA_CIRCUIT], 500, seed=[4, 5])
    np.testing.assert_array_equal(alone[0], paired[1])


def test_capabilities_say_it_samples() -> None:
    caps = NoisySimulatorBackend(method="trajectories").capabilities
    assert (caps.exact_expectations, caps.native_gradients, caps.noisy) == (False, (), True)
    assert caps.max_qubits == 26
    assert NoisySimulatorBackend().capabilities.max_qubits == 12
    with pytest.raises(ConfigError, match="density_matrix, trajectories"):
        NoisySimulatorBackend(method="mps")


def test_exact_probabilities_are_refused_naming_what_is_allowed() -> None:
    backend = NoisySimulatorBackend(method="trajectories")
    with pytest.raises(BackendError, match=r"pass shots.*'mock_noisy' \(density matrices"):
        sample(backend, [STRONG_CIRCUIT], None)
    with pytest.raises(ConfigError, match="only samples; set shots"):
        BackendExecutor(backend)
    with pytest.raises(ConfigError, match=r"set shots.*quantum_sdk='mock_noisy'"):
        TrainingConfig(quantum_sdk="mock_noisy_trajectories")


def test_density_matrices_beyond_12_qubits_name_the_trajectory_backend() -> None:
    c = Circuit(13).h(0)
    with pytest.raises(CircuitError, match="at most 12: use 'mock_noisy_trajectories'"):
        sample(NoisySimulatorBackend(), [c], 100)
    (counts,) = sample(NoisySimulatorBackend(method="trajectories"), [c], 100, seed=0)
    assert counts.sum() == 100


def test_the_manager_and_the_sdk_name_build_it() -> None:
    backend = BackendManager().get_backend("mock_noisy_trajectories")
    assert isinstance(backend, NoisySimulatorBackend) and backend.method == "trajectories"
    cfg = TrainingConfig(quantum_sdk="mock_noisy_trajectories", shots=10)
    assert BackendManager(cfg).get_backend().name == "mock_noisy_trajectories"


def test_training_14_qubits_through_the_trainer() -> None:
    """A short SPSA run at 14 qubits: finite losses, every circuit sampled on the trajectory
    backend with the configured shots, and the same seed gives the same losses."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2, 3))
    y = np.sin(x[:, :1])

    def run() -> tuple[list[float], QuantumTrainer]:
        cfg = TrainingConfig(quantum_sdk="mock_noisy_trajectories", shots=32, n_qubits=14,
                             circuit_depth=1, gradient_method="spsa", batch_size=2, epochs=1,
                             seed=0)
        trainer = QuantumTrainer(cfg)
        history = trainer.fit(QuantumModel.from_config(cfg, 3, 1), (x, y))
        return list(history["losses"]), trainer

    losses, trainer = run()
    assert len(losses) == 1 and np.all(np.isfinite(losses))
    assert trainer.backend.name == "mock_noisy_trajectories"
    events = trainer.performance_tracker.events("circuits")
    assert events and all(e["backend"] == "mock_noisy_trajectories" and e["shots"] == 32
                          for e in events)
    assert sum(e["run"] for e in events) == 6  # SPSA: value + two perturbations, 2 samples
    trainer.close()
    again, other = run()
    other.close()
    assert again == losses


def test_multi_backend_entries_name_the_trajectory_method() -> None:
    entries = [{"provider": "local", "simulator": "mock_noisy", "method": "trajectories"},
               {"provider": "local", "simulator": "mock_noisy_trajectories"},
               {"provider": "local", "simulator": "mock_noisy", "method": "density_matrix"}]
    check_backend_configs(entries)
    built = [s.backend for s in backends_from_config(types.SimpleNamespace(
        backend_configs=entries))]
    assert [b.method for b in built] == ["trajectories", "trajectories", "density_matrix"]
    assert not built[0].capabilities.exact_expectations
    TrainingConfig(enable_multi_backend=True, backend_configs=entries, shots=100)
    for bad, match in [({"simulator": "mock_noisy", "method": "mps"}, "must be one of "
                        "density_matrix, trajectories"),
                       ({"simulator": "mock_ideal", "method": "trajectories"},
                        "'mock_noisy'")]:
        with pytest.raises(ConfigError, match=match):
            check_backend_configs([{"provider": "local", **bad}])
