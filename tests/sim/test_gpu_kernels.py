"""The GPU path's CUDA kernels (q_store.sim.gpu_kernels) against its array operations
(apply_matrices, undo_gate) and the compiled CPU simulator, to 1e-12: on a GPU with CuPy, and
everywhere else with the same CUDA source compiled as C++ for the CPU (tests.sim.cuda_emulation)."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import X, Y, Z
from q_store.errors import ValidationError
from q_store.gradients import AdjointGradient, metric_tensor
from q_store.sim import StatevectorSimulator, gpu_kernels, normalize_state
from q_store.sim import gpu as G
from tests.sim import cuda_emulation
from tests.sim.test_gpu import CUPY, _data, _symbolic

TOL = 1e-12


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    if cuda_emulation.compiler() is None:
        pytest.skip("no C++ compiler to emulate the CUDA kernels")
    return cuda_emulation.emulated_kernels(tmp_path_factory.mktemp("cuda"))


@pytest.fixture(params=["emulated", pytest.param(
    "cupy", marks=pytest.mark.skipif(CUPY is None, reason="no CuPy with a GPU"))])
def xp(request, monkeypatch):
    """The array module whose arrays the kernels run on (NumPy: the emulated kernels)."""
    if request.param == "cupy":
        return CUPY
    kernels = request.getfixturevalue("emulated")
    monkeypatch.setattr(gpu_kernels, "_kernels", lambda module: kernels)
    return np


def _host(xp, a):
    return a if xp is np else xp.asnumpy(a)


def _random(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


CASES = [((2,), 1), ((0,), 4), ((4, 1), 1), ((1, 4), 2), ((3, 0), 4), ((2, 4, 0), 1),
         ((4, 0, 2), 4)]


@pytest.mark.parametrize(("wires", "mrows"), CASES)
def test_a_gate_applied_in_place_equals_the_array_operations(xp, wires, mrows):
    rng = np.random.default_rng(len(wires) * 10 + mrows)
    n, rows, d = 5, 4, 2 ** len(wires)
    psi = normalize_state(_random(rng, rows, 2**n))
    mats = _random(rng, mrows, d, d)
    want = G.apply_matrices(np, psi, mats, wires, n)
    states = xp.asarray(psi)
    out = gpu_kernels.apply_gate(xp, states, xp.asarray(mats), wires, n)
    assert out is states  # in place
    np.testing.assert_allclose(_host(xp, states), want, atol=TOL, rtol=0)


@pytest.mark.parametrize(("wires", "mrows"), CASES)
@pytest.mark.parametrize("n_params", [0, 1, 3])
def test_the_fused_adjoint_step_equals_the_array_operations(xp, wires, mrows, n_params):
    rng = np.random.default_rng(n_params * 100 + len(wires) * 10 + mrows)
    n, rows, d = 5, 4, 2 ** len(wires)
    phi, lam = _random(rng, rows, 2**n), _random(rng, rows, 2**n)
    mats = _random(rng, mrows, d, d)
    derivs = [_random(rng, mrows, d, d) for _ in range(n_params)]
    want_phi, want_lam, want_parts = G.undo_gate(np, phi, lam, mats, derivs, wires, n)
    dphi, dlam = xp.asarray(phi), xp.asarray(lam)
    stacked = xp.asarray(np.stack(derivs) if derivs else np.empty((0, mrows, d, d), complex))
    parts = gpu_kernels.adjoint_step(xp, dphi, dlam, xp.asarray(mats), stacked, wires, n)
    np.testing.assert_allclose(_host(xp, dphi), want_phi, atol=TOL, rtol=0)
    np.testing.assert_allclose(_host(xp, dlam), want_lam, atol=TOL, rtol=0)
    assert parts.shape == (rows, n_params)
    np.testing.assert_allclose(_host(xp, parts), want_parts, atol=TOL, rtol=0)


def test_the_kernel_path_of_the_simulator_equals_the_cpu_simulator(xp):
    gpu = G.GPUStatevectorSimulator(array_module=xp)
    gpu._cuda = True  # NumPy arrays with the (emulated) kernels
    cpu = StatevectorSimulator(threads=1)
    from q_store.warmup import _all_gates_circuit

    every = _all_gates_circuit(3)
    w = np.random.default_rng(5).normal(size=every.n_weights)
    np.testing.assert_allclose(gpu.state(every, w), cpu.state(every, w), atol=TOL, rtol=0)
    c = _symbolic(5, 40, 3)
    w, xs = _data(c, 3, 3)
    obs = [Z(0), X(1) @ Y(2), 0.5 * Z(0) @ Z(3) - 1.5 * X(4)]
    np.testing.assert_allclose(gpu.expectation(c, obs, w, xs), cpu.expectation(c, obs, w, xs),
                               atol=TOL, rtol=0)
    got = AdjointGradient(gpu).jacobian(c, obs, w, xs, wrt=("weights", "inputs"))
    ref = AdjointGradient(cpu).jacobian(c, obs, w, xs, wrt=("weights", "inputs"))
    np.testing.assert_allclose(got.weights, ref.weights, atol=TOL, rtol=0)
    np.testing.assert_allclose(got.inputs, ref.inputs, atol=TOL, rtol=0)
    cot = np.random.default_rng(4).normal(size=(3, len(obs)))
    np.testing.assert_allclose(AdjointGradient(gpu).vjp(c, obs, w, xs, cot).weights,
                               AdjointGradient(cpu).vjp(c, obs, w, xs, cot).weights,
                               atol=TOL, rtol=0)
    small = _symbolic(4, 24, 6)
    ws, xss = _data(small, 2, 6)
    np.testing.assert_allclose(metric_tensor(small, ws, xss, simulator=gpu),
                               metric_tensor(small, ws, xss, simulator=cpu), atol=TOL, rtol=0)


def test_layouts_the_kernels_cannot_take_are_refused():
    psi = np.zeros((4, 8), complex)
    m = np.eye(2, dtype=complex)[None]
    with pytest.raises(ValidationError, match=r"1\.\.3"):
        gpu_kernels.apply_gate(np, psi, np.eye(16, dtype=complex)[None], (0, 1, 2, 0), 3)
    with pytest.raises(ValidationError, match="complex128"):
        gpu_kernels.apply_gate(np, psi.astype(np.complex64), m, (0,), 3)
    with pytest.raises(ValidationError, match="C-contiguous"):
        gpu_kernels.apply_gate(np, np.zeros((8, 4), complex).T, m, (0,), 3)
    with pytest.raises(ValidationError, match="do not repeat"):
        gpu_kernels.apply_gate(np, psi, np.stack([m[0]] * 3), (0,), 3)
    with pytest.raises(ValidationError, match="same shape"):
        gpu_kernels.adjoint_step(np, psi, np.zeros((4, 4), complex), m, m[None], (0,), 3)


@pytest.mark.parametrize("size", [2**4, 2**10, 2**14])
def test_row_sums_in_two_stages_equal_a_plain_sum(xp, size):
    a = _random(np.random.default_rng(size), 3, size)
    got = _host(xp, gpu_kernels.row_sums(xp, xp.asarray(a)))
    np.testing.assert_allclose(got, a.sum(axis=1), atol=1e-10, rtol=0)


def test_the_fused_adjoint_step_on_a_larger_state(xp):
    rng = np.random.default_rng(12)
    n, wires = 13, (7, 2)  # 2**11 groups per row: the two-stage row sums
    phi, lam = _random(rng, 2, 2**n), _random(rng, 2, 2**n)
    mats, derivs = _random(rng, 1, 4, 4), [_random(rng, 1, 4, 4)]
    want_phi, want_lam, want_parts = G.undo_gate(np, phi, lam, mats, derivs, wires, n)
    dphi, dlam = xp.asarray(phi), xp.asarray(lam)
    parts = gpu_kernels.adjoint_step(xp, dphi, dlam, xp.asarray(mats),
                                     xp.asarray(np.stack(derivs)), wires, n)
    np.testing.assert_allclose(_host(xp, dphi), want_phi, atol=TOL, rtol=0)
    np.testing.assert_allclose(_host(xp, dlam), want_lam, atol=TOL, rtol=0)
    np.testing.assert_allclose(_host(xp, parts), want_parts, atol=1e-10, rtol=0)
