"""Noisy adjoint gradients against parameter shift (exact under angle-independent noise) and
finite differences, on random circuits with every gate kind and every channel kind."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import PauliString, Projector, X, Y, Z
from q_store.circuit.params import parameter_map_for, resolve_batch
from q_store.demo import hardware_efficient_circuit
from q_store.errors import ValidationError
from q_store.gradients.finite_diff import FiniteDifferenceGradient
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.sim import noisy_adjoint
from q_store.sim.density import DensityMatrixSimulator, tape_for
from q_store.sim.density_measure import zero_state
from q_store.sim.noise import NoiseModel, ReadoutError, amplitude_damping
from q_store.sim.noisy_adjoint import noisy_adjoint_angles, observable_coefficients
from tests.reference import random_circuit
from tests.sim.test_density_kernels import _every_channel

TOL = 1e-10
OBS = (Z(0), X(1) @ Y(0), Z(0) @ Z(1) + 0.5 * X(0) - 0.2 * PauliString(()), Projector("10", (1, 0)))


def _noise(seed: int) -> NoiseModel:
    return _every_channel(np.random.default_rng(seed)).add_readout_error(
        ReadoutError(0.03, 0.01)).add_readout_error(ReadoutError(0.0, 0.08), qubits=1)


def _finite_difference(dm, circuit, obs, angles, eps=1e-6):
    out = np.zeros((angles.shape[0], len(obs), angles.shape[1]))
    for j in range(angles.shape[1]):
        up, down = angles.copy(), angles.copy()
        up[:, j] += eps
        down[:, j] -= eps
        out[:, :, j] = (dm.expectation_angles(circuit, up, obs)
                        - dm.expectation_angles(circuit, down, obs)) / (2 * eps)
    return out


@pytest.mark.parametrize("n", [2, 3])
def test_jacobian_matches_parameter_shift_and_finite_differences(n):
    rng = np.random.default_rng(20 + n)
    dm = DensityMatrixSimulator(_noise(n))
    c = random_circuit(n, 24, rng, symbolic=True)
    w = rng.normal(size=(2, c.n_weights))
    res = noisy_adjoint_angles(dm, c, OBS, w)
    np.testing.assert_allclose(res.values, dm.expectation(c, list(OBS), w), atol=1e-12)
    gw, _ = parameter_map_for(c).pullback(res.batch, res.d_angles)
    ps = ParameterShiftGradient(executor=dm).jacobian(c, list(OBS), w)
    np.testing.assert_allclose(gw, ps.weights, atol=TOL)
    angles = parameter_map_for(c).angles(resolve_batch(c, w, None))
    np.testing.assert_allclose(res.d_angles, _finite_difference(dm, c, OBS, angles), atol=1e-7)
    assert np.abs(res.d_angles).max() > 1e-2


def test_vjp_is_cotangent_times_jacobian_and_inputs_and_states():
    rng = np.random.default_rng(4)
    dm = DensityMatrixSimulator(_noise(4))
    c = hardware_efficient_circuit(3, 2).rxx(0, 2, 0.3).toffoli(0, 1, 2).ms(1, 2, 0.1, 0.2)
    w, xs = rng.normal(size=c.n_weights), rng.normal(size=(3, 3))
    jac = noisy_adjoint_angles(dm, c, OBS, w, xs)
    cot = rng.normal(size=(3, len(OBS)))
    vjp = noisy_adjoint_angles(dm, c, OBS, w, xs, cotangent=cot)
    np.testing.assert_allclose(vjp.values, jac.values, atol=1e-14)
    np.testing.assert_allclose(vjp.d_angles, np.einsum("bk,bkp->bp", cot, jac.d_angles),
                               atol=1e-12)
    psi = rng.normal(size=(3, 8)) + 1j * rng.normal(size=(3, 8))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    res = noisy_adjoint_angles(dm, c, OBS, w, xs, initial_state=psi)
    angles = parameter_map_for(c).angles(resolve_batch(c, w, xs))
    fd = np.zeros_like(res.d_angles)
    for j in range(angles.shape[1]):
        up, down = angles.copy(), angles.copy()
        up[:, j] += 1e-6
        down[:, j] -= 1e-6
        fd[:, :, j] = (dm.expectation_angles(c, up, OBS, initial_state=psi)
                       - dm.expectation_angles(c, down, OBS, initial_state=psi)) / 2e-6
    np.testing.assert_allclose(res.d_angles, fd, atol=1e-7)


def test_checkpointed_segments_give_the_same_gradient(monkeypatch):
    """States are recomputed from checkpoints when keeping them all would exceed the memory
    budget; the result must not change."""
    rng = np.random.default_rng(6)
    dm = DensityMatrixSimulator(_noise(6))
    c = random_circuit(3, 30, rng, symbolic=True)
    w = rng.normal(size=(2, c.n_weights))
    whole = noisy_adjoint_angles(dm, c, OBS, w)
    monkeypatch.setattr(noisy_adjoint, "_STORE_BYTES", 0)
    assert noisy_adjoint._segment(30, 3) < 30
    parts = noisy_adjoint_angles(dm, c, OBS, w)
    np.testing.assert_allclose(parts.d_angles, whole.d_angles, atol=1e-14)


def test_exact_through_a_non_invertible_channel():
    """Full amplitude damping after every gate cannot be undone, yet the sweep stays exact."""
    nm = NoiseModel().add_gate_error(amplitude_damping(1.0), gates=["CNOT"], qubits=1)
    dm = DensityMatrixSimulator(nm)
    c = hardware_efficient_circuit(2, 2)
    rng = np.random.default_rng(8)
    w, xs = rng.normal(size=c.n_weights), rng.normal(size=2)
    res = noisy_adjoint_angles(dm, c, (Z(0), X(0) @ X(1)), w, xs)
    gw, _ = parameter_map_for(c).pullback(res.batch, res.d_angles)
    ps = ParameterShiftGradient(executor=dm).jacobian(c, [Z(0), X(0) @ X(1)], w, xs)
    np.testing.assert_allclose(gw, np.reshape(ps.weights, gw.shape), atol=TOL)
    fd = FiniteDifferenceGradient(executor=dm).jacobian(c, [Z(0), X(0) @ X(1)], w, xs)
    np.testing.assert_allclose(gw, np.reshape(fd.weights, gw.shape), atol=1e-7)


def test_observable_coefficients_reproduce_measured_values():
    rng = np.random.default_rng(12)
    nm = _noise(12)
    dm = DensityMatrixSimulator(nm)
    c = random_circuit(3, 20, rng)
    o = observable_coefficients(OBS, 3, nm)
    tape = tape_for(c, nm)
    cs = zero_state(3)[None].copy()
    angles = parameter_map_for(c).angles(resolve_batch(c, None, None))
    dm.evolve_coefficients(tape, angles, np.zeros(1, dtype=np.int64), cs)
    np.testing.assert_allclose(o @ cs[0], dm.expectation(c, list(OBS)), atol=1e-12)


def test_validation():
    dm = DensityMatrixSimulator()
    c = hardware_efficient_circuit(2, 1)
    with pytest.raises(ValidationError, match="DensityMatrixSimulator"):
        noisy_adjoint_angles(object(), c, (Z(0),))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cotangent must have shape"):
        noisy_adjoint_angles(dm, c, (Z(0),), np.zeros(c.n_weights), np.zeros(2),
                             cotangent=np.zeros((2, 2)))
    with pytest.raises(ValidationError, match="wire 4"):
        noisy_adjoint_angles(dm, c, (Z(4),), np.zeros(c.n_weights), np.zeros(2))
