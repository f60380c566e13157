"""The exact Fubini-Study metric / quantum Fisher information."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, theta, x
from q_store.gradients import metric_tensor, quantum_fisher_information
from q_store.sim import StatevectorSimulator
from tests.reference import random_circuit


def test_single_qubit_analytic():
    a, b = 0.7, -0.3
    g = metric_tensor(Circuit(1).rx(0, theta[0]).ry(0, theta[1]), [a, b])
    np.testing.assert_allclose(g, [[0.25, 0.0], [0.0, np.cos(a) ** 2 / 4]], atol=1e-12)


def test_two_qubit_analytic():
    # RY(a) on q0, CNOT, RY(b) on q1: g_aa = 1/4; b acts on the mixed reduced state of q1,
    # where <Y> = 0, so g_bb = 1/4; the cross term vanishes.
    c = Circuit(2).ry(0, theta[0]).cnot(0, 1).ry(1, theta[1])
    g = metric_tensor(c, [0.9, 0.4])
    np.testing.assert_allclose(g, np.diag([0.25, 0.25]), atol=1e-12)


def _fd_metric(c, w, eps=1e-5):
    sim = StatevectorSimulator()
    psi = sim.state(c, w)
    d = []
    for i in range(len(w)):
        wp, wm = w.copy(), w.copy()
        wp[i] += eps
        wm[i] -= eps
        d.append((sim.state(c, wp) - sim.state(c, wm)) / (2 * eps))
    d = np.array(d)
    ov = d.conj() @ psi
    return (d.conj() @ d.T - np.outer(ov, ov.conj())).real


@pytest.mark.parametrize("seed", range(3))
def test_matches_finite_differences_of_states(seed):
    rng = np.random.default_rng(seed)
    c = random_circuit(3, 18, rng, symbolic=True)
    w = rng.normal(size=c.n_weights)
    np.testing.assert_allclose(metric_tensor(c, w), _fd_metric(c, w), atol=1e-8)


def test_shared_weights_batches_and_qfi_scaling():
    c = Circuit(2).rx(0, x[0]).ry(0, theta[0]).ry(1, 2 * theta[0]).cnot(0, 1).rz(1, theta[1])
    xs = np.array([[0.1], [1.2]])
    w = np.array([0.3, 0.8])
    g = metric_tensor(c, w, xs)
    assert g.shape == (2, 2, 2)
    for b in range(2):
        sym = Circuit(2).rx(0, float(xs[b, 0])).ry(0, theta[0]).ry(1, 2 * theta[0]).cnot(0, 1)
        sym = sym.rz(1, theta[1])
        np.testing.assert_allclose(g[b], _fd_metric(sym, w), atol=1e-8)
    np.testing.assert_allclose(quantum_fisher_information(c, w, xs), 4 * g)
    assert np.allclose(g, np.swapaxes(g, 1, 2))
    assert np.all(np.linalg.eigvalsh(g) > -1e-12)
