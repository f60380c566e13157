"""The spec's ``SPSAGradientEstimator(backend)``: circuits run on that backend (the old estimator
constructed, then failed on first use with an AttributeError); what cannot run circuits is
refused at construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend
from q_store.backends.base import BackendCapabilities
from q_store.circuit import Circuit, X, Z, theta
from q_store.errors import ConfigError
from q_store.gradients import SPSAGradient, SPSAGradientEstimator

CIRCUIT = Circuit(3).ry(0, theta[0]).cnot(0, 1).rx(1, theta[1]).rzz(1, 2, theta[2]).ry(2, 0.4)
OBS = (Z(1), X(2) @ Z(0))
W = np.array([0.3, -0.7, 1.1])


class Counting(LocalSimulatorBackend):
    """The exact local backend, counting the circuits it runs; optionally sampling only."""

    def __init__(self, exact: bool = True) -> None:
        super().__init__("counting")
        self.exact, self.circuits = exact, 0

    @property
    def capabilities(self) -> BackendCapabilities:
        return replace(super().capabilities, exact_expectations=self.exact)

    def _execute(self, circuits, shots, rng):
        self.circuits += len(circuits)
        return super()._execute(circuits, shots, rng)


def test_spsa_runs_its_circuits_on_the_given_backend() -> None:
    backend = Counting()
    on_backend = SPSAGradientEstimator(backend, seed=4, n_samples=3)
    on_sim = SPSAGradient(seed=4, n_samples=3)
    try:
        got = on_backend.jacobian(CIRCUIT, OBS, W)
    finally:
        on_backend.close()
    want = on_sim.jacobian(CIRCUIT, OBS, W)
    # same perturbations, exact probabilities on both sides: the same estimate
    np.testing.assert_allclose(got.values, want.values, atol=1e-12)
    np.testing.assert_allclose(got.weights, want.weights, atol=1e-10)
    # 1 + 2 * n_samples angle rows, one measurement basis (Z on wires 0, 1 and X on wire 2
    # serve both observables); identical rows (repeated perturbations) run once
    plan = SPSAGradient(seed=4, n_samples=3).plan(CIRCUIT, OBS, W)
    assert len(plan) == 1 + 2 * 3
    assert backend.circuits == len(np.unique(plan.requests[0].angles, axis=0))
    assert on_backend.k == 1


def test_a_sampling_only_backend_needs_shots_and_then_samples() -> None:
    with pytest.raises(ConfigError, match="only samples; set shots"):
        SPSAGradientEstimator(Counting(exact=False))
    backend = Counting(exact=False)
    spsa = SPSAGradientEstimator(backend, shots=4000, seed=2)
    try:
        res = spsa.jacobian(CIRCUIT, Z(1), W)
    finally:
        spsa.close()
    assert backend.circuits == 3
    exact = SPSAGradient(seed=2).jacobian(CIRCUIT, Z(1), W).values
    assert abs(res.values[0, 0] - exact[0, 0]) < 5 / np.sqrt(4000)


@pytest.mark.parametrize("bad", [object(), "mock_ideal", 42])
def test_what_cannot_run_circuits_is_refused_at_construction(bad) -> None:
    with pytest.raises(ConfigError, match=r"SPSA needs a QuantumBackend .* got"):
        SPSAGradientEstimator(bad)


def test_shots_without_a_backend_are_refused() -> None:
    with pytest.raises(ConfigError, match="shots applies when SPSA runs on a QuantumBackend"):
        SPSAGradient(shots=100)
