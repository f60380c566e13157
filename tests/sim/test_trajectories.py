"""Monte-Carlo trajectories against exact density matrices (statistically) and analytic values."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, Projector, X, Y, Z, theta
from q_store.errors import ValidationError
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import NoiseModel, ReadoutError, amplitude_damping, depolarizing
from q_store.sim.trajectories import TrajectorySimulator, _program
from tests.reference import random_circuit
from tests.sim.test_density_kernels import _every_channel

OBS = [Z(0), X(1) @ Y(2), Z(0) @ Z(1) + 0.5 * X(3), Projector("10", (4, 5))]


def test_mean_within_four_standard_errors_of_the_density_matrix_at_8_qubits():
    nm = _every_channel(np.random.default_rng(1)).add_readout_error(ReadoutError(0.03, 0.01))
    rng = np.random.default_rng(2)
    c = random_circuit(8, 40, rng, symbolic=True)
    w = rng.normal(size=(2, c.n_weights))
    exact = DensityMatrixSimulator(nm).expectation(c, OBS, w)
    est = TrajectorySimulator(nm, trajectories=1500, seed=3).expectation(c, OBS, w)
    assert est.values.shape == est.stderr.shape == (2, len(OBS))
    assert np.all(est.stderr > 0)
    assert np.all(np.abs(est.values - exact) <= 4 * est.stderr), (est.values - exact) / est.stderr


def test_noiseless_trajectories_are_the_pure_state():
    rng = np.random.default_rng(4)
    c = random_circuit(5, 30, rng, symbolic=True)
    w = rng.normal(size=(3, c.n_weights))
    est = TrajectorySimulator(trajectories=4, seed=0).expectation(c, OBS[:3], w)
    np.testing.assert_allclose(est.values, StatevectorSimulator().expectation(c, OBS[:3], w),
                               atol=1e-12)
    np.testing.assert_allclose(est.stderr, 0.0, atol=1e-7)


def test_analytic_depolarized_rotations_at_14_qubits():
    """RX(a_q) then depolarizing p on each of 14 qubits, symmetric readout e:
    measured <Z_q> = (1 - 2e)(1 - p) cos a_q."""
    n, p, e = 14, 0.2, 0.05
    nm = (NoiseModel().add_gate_error(depolarizing(p), gates="RX")
          .add_readout_error(ReadoutError(e, e)))
    c = Circuit.builder(n)
    for q in range(n):
        c.rx(q, theta[q])
    circuit = c.build()
    a = np.linspace(0.1, 3.0, n)
    obs = [Z(q) for q in range(0, n, 3)]
    est = TrajectorySimulator(nm, trajectories=400, seed=5).expectation(circuit, obs, a)
    want = (1 - 2 * e) * (1 - p) * np.cos(a[::3])
    assert np.all(np.abs(est.values - want) <= 4 * est.stderr)


def test_reproducible_for_a_seed():
    nm = NoiseModel().add_gate_error(amplitude_damping(0.3)).add_gate_error(depolarizing(0.1, 2))
    c = Circuit(3).h(0).cnot(0, 1).ry(2, 0.4).cnot(1, 2)
    a = TrajectorySimulator(nm, trajectories=50, seed=9).expectation(c, Z(2))
    b = TrajectorySimulator(nm, trajectories=50, seed=9).expectation(c, Z(2))
    other = TrajectorySimulator(nm, trajectories=50, seed=10).expectation(c, Z(2))
    assert a.values == b.values and a.stderr == b.stderr
    assert a.values != other.values
    assert a.values.shape == () and a.trajectories == 50


def test_pauli_channels_draw_without_the_state():
    nm = (NoiseModel().add_gate_error(depolarizing(0.1)).add_gate_error(depolarizing(0.1, 2))
          .add_gate_error(amplitude_damping(0.2)))
    prog = _program(Circuit(2).h(0).cnot(0, 1), nm)
    assert list(prog.mixed) == [True, False, True]
    lo, hi = prog.ch_lo[0], prog.ch_hi[0]
    assert prog.probs[lo:hi].sum() == pytest.approx(1.0, abs=1e-15)
    assert prog.identity[lo] and not prog.identity[lo + 1:hi].any()


def test_validation():
    with pytest.raises(ValidationError, match="trajectories"):
        TrajectorySimulator(trajectories=1)
    with pytest.raises(ValidationError, match="NoiseModel"):
        TrajectorySimulator("aria")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="wire 3"):
        TrajectorySimulator().expectation(Circuit(2).h(0), Z(3))


def test_sample_counts_shots_of_the_measured_distribution():
    """Noiseless Bell pair: only 00 and 11, about half each; readout error 1 on wire 1 (read
    the flipped bit always) turns them into 01 and 10; bad shots are refused."""
    bell = Circuit(2).h(0).cnot(0, 1)
    counts = TrajectorySimulator().sample(bell, 4000, np.random.default_rng(0))
    assert counts.sum() == 4000 and counts[1] == counts[2] == 0
    assert abs(counts[0] - 2000) <= 5 * np.sqrt(1000)
    flip = NoiseModel().add_readout_error(ReadoutError(1.0, 1.0), qubits=[1])
    flipped = TrajectorySimulator(flip).sample(bell, 500, np.random.default_rng(0))
    assert flipped[0] == flipped[3] == 0 and flipped.sum() == 500
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValidationError, match="shots must be a positive integer"):
            TrajectorySimulator().sample(bell, bad)
