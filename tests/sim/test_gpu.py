"""The GPU state-vector path (q_store.sim.gpu) against the compiled CPU simulator, to 1e-12.

The GPU code is written against an array module; here it runs with NumPy (the same code path,
on the CPU) and, where CuPy and a CUDA GPU are present, with CuPy on the GPU."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from q_store.circuit import Circuit, PauliString, Projector, X, Y, Z, theta, x
from q_store.errors import ConfigError, NotSupportedError
from q_store.gradients import AdjointGradient, ParameterShiftGradient, metric_tensor
from q_store.sim import StatevectorSimulator, normalize_state
from q_store.sim import gpu as G
from tests.reference import random_circuit

TOL = 1e-12


def _cupy_or_none():
    try:
        return G.cupy_module()
    except NotSupportedError:
        return None


CUPY = _cupy_or_none()
MODULES = [pytest.param(np, id="numpy"),
           pytest.param(CUPY, id="cupy",
                        marks=pytest.mark.skipif(CUPY is None, reason="no CuPy with a GPU"))]


@pytest.fixture(params=MODULES)
def gpu(request):
    return G.GPUStatevectorSimulator(array_module=request.param)


@pytest.fixture
def cpu():
    return StatevectorSimulator(threads=1)


def _symbolic(n: int, n_ops: int, seed: int) -> Circuit:
    """A random circuit over the whole gate table with weight expressions, then an input
    embedding on every wire."""
    rng = np.random.default_rng(seed)
    body = random_circuit(n, n_ops, rng, symbolic=True)
    b = Circuit.builder(n)
    for q in range(n):
        b.rx(q, x[q])
    return b.build() + body


def _data(c: Circuit, rows: int, seed: int):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(rows, c.n_weights))
    xs = rng.uniform(-np.pi, np.pi, size=(rows, c.n_inputs))
    return w, xs


OBSERVABLES = (Z(0), X(1) @ Y(2), 0.5 * Z(0) @ Z(3) - 1.5 * X(0) + Y(3),
               Projector("10", [1, 3]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_states_and_expectations_equal_the_cpu_simulator(gpu, cpu, seed):
    c = _symbolic(5, 40, seed)
    w, xs = _data(c, 4, seed)
    np.testing.assert_allclose(gpu.state(c, w, xs), cpu.state(c, w, xs), atol=TOL, rtol=0)
    np.testing.assert_allclose(gpu.expectation(c, OBSERVABLES, w, xs),
                               cpu.expectation(c, OBSERVABLES, w, xs), atol=TOL, rtol=0)
    # one binding, one observable: the same shapes as the CPU simulator
    one = gpu.expectation(c, Z(2), w[0], xs[0])
    assert np.shape(one) == () and abs(one - cpu.expectation(c, Z(2), w[0], xs[0])) < TOL
    for wires in (None, (3, 0)):
        np.testing.assert_allclose(gpu.probabilities(c, w, xs, wires=wires),
                                   cpu.probabilities(c, w, xs, wires=wires), atol=TOL, rtol=0)


def test_initial_states_and_explicit_angles(gpu, cpu):
    c = _symbolic(4, 30, 7)
    w, xs = _data(c, 3, 7)
    rng = np.random.default_rng(7)
    psi0 = normalize_state(rng.normal(size=(3, 16)) + 1j * rng.normal(size=(3, 16)))
    np.testing.assert_allclose(gpu.state(c, w, xs, initial_state=psi0),
                               cpu.state(c, w, xs, initial_state=psi0), atol=TOL, rtol=0)
    angles = rng.uniform(-np.pi, np.pi, size=(5, c.num_gate_params))
    obs = (Z(0), X(1) @ X(2))
    np.testing.assert_allclose(gpu.expectation_angles(c, angles, obs),
                               cpu.expectation_angles(c, angles, obs), atol=TOL, rtol=0)
    one = _symbolic(3, 12, 8)
    wu, xu = _data(one, 1, 8)
    np.testing.assert_allclose(gpu.unitary(one, wu[0], xu[0]), cpu.unitary(one, wu[0], xu[0]),
                               atol=TOL, rtol=0)


@pytest.mark.parametrize("rows", [1, 3])
def test_adjoint_gradients_equal_the_cpu_simulator(gpu, cpu, rows):
    c = _symbolic(4, 36, 11 + rows)
    w, xs = _data(c, rows, rows)
    if rows == 1:
        w, xs = w[0], xs[0]
    obs = list(OBSERVABLES)
    g_gpu = AdjointGradient(gpu).jacobian(c, obs, w, xs, wrt=("weights", "inputs"))
    g_cpu = AdjointGradient(cpu).jacobian(c, obs, w, xs, wrt=("weights", "inputs"))
    np.testing.assert_allclose(g_gpu.values, g_cpu.values, atol=TOL, rtol=0)
    np.testing.assert_allclose(g_gpu.weights, g_cpu.weights, atol=TOL, rtol=0)
    np.testing.assert_allclose(g_gpu.inputs, g_cpu.inputs, atol=TOL, rtol=0)
    # vector-Jacobian products (one backward sweep carrying all outputs)
    cot = np.random.default_rng(rows).normal(size=np.shape(g_cpu.values))
    v_gpu = AdjointGradient(gpu).vjp(c, obs, w, xs, cot)
    v_cpu = AdjointGradient(cpu).vjp(c, obs, w, xs, cot)
    np.testing.assert_allclose(v_gpu.weights, v_cpu.weights, atol=TOL, rtol=0)


def test_adjoint_from_an_initial_state_and_against_parameter_shift(gpu, cpu):
    c = _symbolic(3, 20, 21)
    w, xs = _data(c, 1, 21)
    rng = np.random.default_rng(21)
    psi0 = normalize_state(rng.normal(size=8) + 1j * rng.normal(size=8))
    adj = AdjointGradient(gpu).jacobian(c, [Z(0), X(2)], w[0], xs[0], initial_state=psi0)
    ref = AdjointGradient(cpu).jacobian(c, [Z(0), X(2)], w[0], xs[0], initial_state=psi0)
    np.testing.assert_allclose(adj.weights, ref.weights, atol=TOL, rtol=0)
    shift = ParameterShiftGradient(gpu).jacobian(c, [Z(0), X(2)], w[0], xs[0],
                                                 initial_state=psi0)
    np.testing.assert_allclose(adj.weights, shift.weights, atol=1e-10, rtol=0)


def test_every_gate_kind_once(gpu, cpu):
    from q_store.warmup import _all_gates_circuit

    c = _all_gates_circuit(3)
    w = np.random.default_rng(5).normal(size=c.n_weights)
    np.testing.assert_allclose(gpu.state(c, w), cpu.state(c, w), atol=TOL, rtol=0)
    obs = [Z(0) @ X(1), Y(2)]
    np.testing.assert_allclose(AdjointGradient(gpu).jacobian(c, obs, w).weights,
                               AdjointGradient(cpu).jacobian(c, obs, w).weights, atol=TOL, rtol=0)


def test_shots_are_sampled_from_the_gpu_states(gpu, cpu):
    c = _symbolic(3, 15, 31)
    w, xs = _data(c, 2, 31)
    exact = cpu.expectation(c, [Z(0), X(1)], w, xs)
    a = gpu.sample_expectation(c, [Z(0), X(1)], 4000, w, xs, seed=3)
    b = gpu.sample_expectation(c, [Z(0), X(1)], 4000, w, xs, seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a - exact) < 5 * np.sqrt(1.0 / 4000))  # 5 standard errors at most


@pytest.mark.parametrize("rows", [1, 3])
def test_the_metric_tensor_equals_the_cpu_simulator(gpu, cpu, rows):
    c = _symbolic(4, 30, 40 + rows)
    w, xs = _data(c, rows, 41)
    if rows == 1:
        w, xs = w[0], xs[0]
    np.testing.assert_allclose(metric_tensor(c, w, xs, simulator=gpu),
                               metric_tensor(c, w, xs, simulator=cpu), atol=TOL, rtol=0)
    fixed = Circuit.builder(2).h(0).cnot(0, 1).build()  # no weights: an empty metric
    assert metric_tensor(fixed, simulator=gpu).shape == (0, 0)


def test_cpu_tape_internals_refuse_to_run(gpu):
    c = _symbolic(3, 10, 41)
    _, tape = gpu._prepare(c, *_data(c, 1, 41))
    with pytest.raises(NotSupportedError, match="compiled tapes"):
        gpu._run(3, np.zeros((1, 8), complex), tape, True)


def test_no_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(NotSupportedError, match="CuPy"):
        G.GPUStatevectorSimulator()
    with pytest.raises(NotSupportedError, match="CuPy"):
        G.simulator_for_device("gpu")


def test_no_gpu_is_a_clear_error(monkeypatch):
    def no_device() -> int:
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(NotSupportedError, match="no usable CUDA GPU"):
        G.GPUStatevectorSimulator()


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("method", ["adjoint", "natural_gradient"])
def test_the_trainer_runs_on_the_configured_device(monkeypatch, method, module):
    from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, size=(12, 3))
    ys = np.sin(xs.sum(axis=1))
    losses = {}
    sweeps = []
    sweep = G.GPUStatevectorSimulator._sweep
    monkeypatch.setattr(G.GPUStatevectorSimulator, "_sweep",
                        lambda self, *a: sweeps.append(1) or sweep(self, *a))
    if module is np:  # the GPU simulator with NumPy as its array module: the GPU code path
        monkeypatch.setattr(G, "cupy_module", lambda: np)
    for device in ("cpu", "gpu"):
        before = len(sweeps)
        cfg = TrainingConfig(n_qubits=3, epochs=2, batch_size=4, seed=0, gradient_method=method,
                             simulator_device=device, enable_performance_tracking=False)
        trainer = QuantumTrainer(cfg)
        model = QuantumModel(3, 1, 1, seed=0)
        history = trainer.fit(model, (xs, ys))
        assert isinstance(trainer.simulator, G.GPUStatevectorSimulator) == (device == "gpu")
        assert device == "cpu" or trainer.simulator.xp is module
        losses[device] = history["losses"]
        assert (len(sweeps) > before) == (device == "gpu")  # gradients from the GPU sweep
    assert len(losses["cpu"]) == 2
    np.testing.assert_allclose(losses["gpu"], losses["cpu"], atol=1e-10, rtol=0)


def test_the_trainer_refuses_a_gpu_it_does_not_have(monkeypatch):
    from q_store.ml import QuantumTrainer, TrainingConfig

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(NotSupportedError, match="CuPy"):
        QuantumTrainer(TrainingConfig(simulator_device="gpu"))


def test_config_rejects_what_the_gpu_path_cannot_do():
    from q_store.ml import TrainingConfig

    with pytest.raises(ConfigError, match="simulator_device"):
        TrainingConfig(simulator_device="tpu")
    with pytest.raises(ConfigError, match="dask"):
        TrainingConfig(simulator_device="gpu", executor="dask")
    TrainingConfig(simulator_device="gpu", gradient_method="natural_gradient")
    cfg = TrainingConfig(simulator_device="gpu", quantum_sdk="qiskit")
    assert any("simulator_device" in m for m in cfg.inapplicable())


def test_apply_matrices_matches_a_dense_kronecker_product():
    rng = np.random.default_rng(9)
    n = 4
    psi = normalize_state(rng.normal(size=(2, 2**n)) + 1j * rng.normal(size=(2, 2**n)))
    m = rng.normal(size=(2, 4, 4)) + 1j * rng.normal(size=(2, 4, 4))
    out = G.apply_matrices(np, psi, m, (3, 1), n)
    from tests.reference import embed

    for r in range(2):
        np.testing.assert_allclose(out[r], embed(m[r], (3, 1), n) @ psi[r], atol=TOL, rtol=0)


def test_pauli_strings_on_the_device_match_their_matrices():
    rng = np.random.default_rng(10)
    n = 3
    psi = normalize_state(rng.normal(size=(1, 8)) + 1j * rng.normal(size=(1, 8)))
    for p in (X(0) @ Y(1) @ Z(2), 2.0 * Y(0), PauliString(())):
        got = G.apply_observable(np, psi, p, n)[0]
        np.testing.assert_allclose(got, p.matrix(n) @ psi[0], atol=TOL, rtol=0)


def test_weights_only_circuit_with_inputs_absent(gpu, cpu):
    c = Circuit.builder(2).ry(0, theta[0]).cnot(0, 1).rz(1, theta[1]).build()
    w = np.array([0.3, -0.7])
    assert abs(gpu.expectation(c, Z(1), w) - cpu.expectation(c, Z(1), w)) < TOL
