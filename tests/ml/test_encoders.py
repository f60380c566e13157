"""Encoders against analytic states, Qiskit's ZZFeatureMap and exact state preparation."""

from __future__ import annotations

import asyncio
from functools import reduce

import numpy as np
import pytest

from q_store.circuit import Circuit
from q_store.errors import ConfigError, StateError, ValidationError
from q_store.ml.encoders import (
    AmplitudeEncoder,
    AngleEncoder,
    BasisEncoder,
    EncodedBatch,
    QuantumDataEncoder,
    ZZFeatureMap,
    get_encoder,
)
from q_store.sim import StatevectorSimulator

TOL = 1e-10


@pytest.fixture(scope="module")
def sim() -> StatevectorSimulator:
    return StatevectorSimulator()


def _kron(vectors: list[np.ndarray]) -> np.ndarray:
    return reduce(np.kron, vectors)  # first factor = wire 0 = most significant bit


def _fidelity(a: np.ndarray, b: np.ndarray) -> float:
    return float(abs(np.vdot(a, b)) ** 2)


# -- angle -----------------------------------------------------------------------------------------
def _angle_qubit(rotation: str, a: float) -> np.ndarray:
    c, s = np.cos(a / 2), np.sin(a / 2)
    if rotation == "X":
        return np.array([c, -1j * s])
    if rotation == "Y":
        return np.array([c, s])
    # RZ(a) H|0>
    return np.array([np.exp(-0.5j * a), np.exp(0.5j * a)]) / np.sqrt(2)


@pytest.mark.parametrize("rotation", ["X", "Y", "Z"])
def test_angle_states_are_analytic_product_states(sim, rotation):
    rng = np.random.default_rng(1)
    enc = AngleEncoder(3, rotation=rotation, scaling=0.7)
    data = rng.uniform(-3, 3, size=(5, 3))
    states = enc.states(data, sim)
    expected = np.array([_kron([_angle_qubit(rotation, 0.7 * v) for v in row]) for row in data])
    np.testing.assert_allclose(states, expected, atol=TOL)
    np.testing.assert_allclose(enc.inputs(data), 0.7 * data)
    assert enc.circuit().n_inputs == 3 and enc.circuit().n_weights == 0
    assert not enc.uses_initial_state


def test_angle_rotation_is_case_insensitive_and_validated():
    assert AngleEncoder(2, rotation="y") == AngleEncoder(2, rotation="Y")
    with pytest.raises(ConfigError, match="rotation"):
        AngleEncoder(2, rotation="W")
    with pytest.raises(ConfigError, match="scaling"):
        AngleEncoder(2, scaling=float("nan"))
    with pytest.raises(ConfigError, match="n_qubits"):
        AngleEncoder(0)


def test_template_is_cached_and_state_preparation_binds(sim):
    enc = AngleEncoder(2)
    assert enc.circuit() is AngleEncoder(2).circuit()
    bound = enc.state_preparation([0.3, -1.2])
    assert not bound.symbols
    np.testing.assert_allclose(sim.state(bound), enc.states([0.3, -1.2])[0], atol=TOL)


# -- basis -----------------------------------------------------------------------------------------
def test_basis_states_are_the_right_basis_states(sim):
    enc = BasisEncoder(4)
    bits = np.array([[0, 0, 0, 0], [1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 1, 1]])
    states = enc.states(bits, sim)
    for row, st in zip(bits, states, strict=True):
        index = int("".join(map(str, row)), 2)
        target = np.zeros(16)
        target[index] = 1.0
        assert _fidelity(target, st) == pytest.approx(1.0, abs=TOL)
        # RX(pi) = -iX: the documented global phase
        assert st[index] == pytest.approx((-1j) ** int(row.sum()), abs=TOL)
    np.testing.assert_allclose(enc.states([True, False, False, True], sim)[0][9], -1.0, atol=TOL)


def test_basis_rejects_non_binary_values_naming_them():
    enc = BasisEncoder(3)
    with pytest.raises(ValidationError, match=r"sample 1 feature 2 is 0\.5"):
        enc.inputs([[0, 1, 1], [1, 0, 0.5]])
    with pytest.raises(ValidationError, match="-1"):
        enc.inputs([0, -1, 1])


# -- ZZ feature map --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("entanglement", ["full", "linear"])
@pytest.mark.parametrize("reps", [1, 2, 3])
def test_zz_feature_map_matches_qiskit(sim, n, entanglement, reps):
    pytest.importorskip("qiskit")
    from qiskit.circuit.library import zz_feature_map
    from qiskit.quantum_info import Statevector

    rng = np.random.default_rng(10 * n + reps)
    data = rng.uniform(-np.pi, np.pi, size=(3, n))
    ours = ZZFeatureMap(n, reps=reps, entanglement=entanglement).states(data, sim)
    qc = zz_feature_map(n, reps=reps, entanglement=entanglement)
    for row, st in zip(data, ours, strict=True):
        ref = Statevector(qc.assign_parameters(row)).data  # qubit 0 = least significant bit
        ref = ref.reshape((2,) * n).transpose(tuple(range(n - 1, -1, -1))).reshape(-1)
        np.testing.assert_allclose(st, ref, atol=TOL)  # same gates, same global phase


def test_zz_feature_map_gate_counts_and_config():
    fm = ZZFeatureMap(4, reps=2)
    assert fm.circuit().count_ops() == {"H": 8, "PhaseShift": 8 + 12, "CNOT": 24}
    assert ZZFeatureMap(4, entanglement="linear").pairs() == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(ConfigError, match="entanglement"):
        ZZFeatureMap(3, entanglement="star")
    with pytest.raises(ConfigError, match="reps"):
        ZZFeatureMap(3, reps=0)


# -- amplitude -------------------------------------------------------------------------------------
def test_amplitude_states_are_padded_and_normalised():
    enc = AmplitudeEncoder(3, n_features=5)
    data = np.array([[3.0, 4.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0]])
    states = enc.states(data)
    assert states.shape == (2, 8)
    np.testing.assert_allclose(states[0], [0.6, 0.8, 0, 0, 0, 0, 0, 0], atol=TOL)
    np.testing.assert_allclose(states[1], [0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0], atol=TOL)
    np.testing.assert_allclose(np.linalg.norm(states, axis=1), 1.0, atol=TOL)
    assert enc.uses_initial_state
    assert enc.circuit() == Circuit(3)
    assert AmplitudeEncoder(3).n_features == 8


def test_amplitude_errors():
    enc = AmplitudeEncoder(2)
    with pytest.raises(StateError, match="sample 1"):
        enc.states([[1, 0, 0, 0], [0, 0, 0, 0]])
    with pytest.raises(ValidationError, match="finite"):
        enc.states([1, np.nan, 0, 0])
    with pytest.raises(ValidationError, match="finite"):
        enc.states([1, np.inf, 0, 0])
    with pytest.raises(ValidationError, match="4 features"):
        enc.states([1, 2, 3])
    with pytest.raises(ConfigError, match="1 to 4 features"):
        AmplitudeEncoder(2, n_features=5)


def test_amplitude_states_drive_the_simulator(sim):
    enc = AmplitudeEncoder(2)
    st = enc.states([[1, 2, 3, 4]])
    np.testing.assert_allclose(sim.state(enc.circuit(), initial_state=st), st, atol=TOL)


def _random_vector(rng: np.random.Generator, dim: int, complex_: bool) -> np.ndarray:
    v = rng.normal(size=dim)
    return v + 1j * rng.normal(size=dim) if complex_ else v


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("complex_", [False, True])
def test_state_preparation_has_fidelity_one(sim, n, complex_):
    rng = np.random.default_rng(100 * n + complex_)
    enc = AmplitudeEncoder(n)
    for _ in range(5):
        v = _random_vector(rng, 2**n, complex_)
        circ = enc.state_preparation(v)
        assert not circ.symbols
        assert set(circ.count_ops()) <= {"RY", "RZ", "CNOT"}
        assert _fidelity(enc.states(v)[0], sim.state(circ)) == pytest.approx(1.0, abs=TOL)


@pytest.mark.parametrize("n", [2, 4, 6])
def test_state_preparation_gate_counts(n):
    rng = np.random.default_rng(n)
    real = AmplitudeEncoder(n).state_preparation(rng.normal(size=2**n)).count_ops()
    assert real == {"RY": 2**n - 1, "CNOT": 2**n - 2}
    cplx = AmplitudeEncoder(n).state_preparation(_random_vector(rng, 2**n, True)).count_ops()
    assert cplx == {"RY": 2**n - 1, "RZ": 2**n - 1, "CNOT": 2 * 2**n - 2 - 2 * n}


def test_state_preparation_sparse_padded_and_signed(sim):
    enc = AmplitudeEncoder(4, n_features=10)
    for v in ([0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0], [-1, 0, 0, 2, 0, 0, 0, -3, 0, 0], [1] + [0] * 9,
              [0, 1j, 0, 0, -1, 0, 0, 0, 0, 0]):
        st = enc.states(v)[0]
        assert _fidelity(st, sim.state(enc.state_preparation(v))) == pytest.approx(1, abs=TOL)


def test_state_preparation_digits_size(sim):
    """The spec's 8x8 digits: 64 pixel intensities (0..16, many zeros) -> 6 qubits."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 17, size=(10, 64)) * (rng.random((10, 64)) < 0.6)
    enc = AmplitudeEncoder(6)
    states = enc.states(images)
    assert states.shape == (10, 64)
    for img, st in zip(images, states, strict=True):
        assert _fidelity(st, sim.state(enc.state_preparation(img))) == pytest.approx(1, abs=TOL)


# -- facade ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["angle", "basis", "zz_feature_map", "zz", "amplitude"])
def test_async_and_sync_agree(sim, method):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 2, size=(4, 4)).astype(float) if method == "basis" else \
        rng.uniform(0.1, 1, size=(4, 4))
    enc = QuantumDataEncoder(n_qubits=4)
    batch = asyncio.run(enc.encode_batch(data, method=method))
    sync = enc.encode_batch_sync(data, method=method)
    assert isinstance(batch, EncodedBatch) and len(batch) == 4 and batch.n_qubits == 4
    assert batch.method == sync.method == get_encoder(method, 4).method
    assert batch.circuit == sync.circuit
    np.testing.assert_allclose(batch.to_states(sim), sync.to_states(sim), atol=TOL)
    one = asyncio.run(enc.encode(data[1], method=method))
    assert len(one) == 1
    np.testing.assert_allclose(one.to_states(sim)[0], batch.to_states(sim)[1], atol=TOL)
    np.testing.assert_allclose(enc.encode_sync(data[1], method).to_states(sim),
                               one.to_states(sim), atol=TOL)
    if method == "amplitude":
        assert batch.inputs is None and batch.states.shape == (4, 16)
        assert not batch.states.flags.writeable
    else:
        assert batch.states is None and batch.inputs.shape == (4, 4)


def test_facade_amplitude_takes_the_data_width():
    enc = QuantumDataEncoder(n_qubits=6, method="amplitude")
    batch = enc.encode_batch_sync(np.ones((2, 64)))
    np.testing.assert_allclose(batch.states, np.full((2, 64), 1 / 8), atol=TOL)
    small = QuantumDataEncoder(n_qubits=4).encode_batch_sync(np.ones((2, 4)), "amplitude")
    assert small.states.shape == (2, 16)
    with pytest.raises(ValidationError, match="n_qubits >= 6"):
        QuantumDataEncoder(n_qubits=4).encode_batch_sync(np.ones((2, 64)), "amplitude")


def test_facade_options_and_errors():
    enc = QuantumDataEncoder(3, method="zz_feature_map", reps=1)
    assert enc.encoder() == ZZFeatureMap(3, reps=1)
    assert enc.encoder("angle") == AngleEncoder(3)
    with pytest.raises(ConfigError, match="allowed: angle, basis, zz_feature_map, zz, ampl"):
        QuantumDataEncoder(3, method="qsvm")
    with pytest.raises(ConfigError, match="unknown encoding method 'dense'"):
        enc.encode_sync([0.1, 0.2, 0.3], method="dense")
    with pytest.raises(ConfigError, match="unknown option"):
        QuantumDataEncoder(3, method="angle", reps=2)
    with pytest.raises(ConfigError, match="unknown option"):
        get_encoder("basis", 3, scaling=2.0)
    with pytest.raises(ValidationError, match="takes 3 features per sample, got 4"):
        enc.encode_batch_sync(np.zeros((2, 4)))
    with pytest.raises(ValidationError, match="encode_batch"):
        enc.encode_sync(np.zeros((2, 3)))
    with pytest.raises(ValidationError, match="use encode"):
        enc.encode_batch_sync(np.zeros(3))
    with pytest.raises(ValidationError, match="real numbers"):
        enc.encode_sync(["a", "b", "c"])
    with pytest.raises(ValidationError, match="real numbers"):
        enc.encode_sync(np.array([1j, 0, 0]))


def test_ragged_input_is_a_validation_error():
    with pytest.raises(ValidationError, match="rectangular"):
        QuantumDataEncoder(2).encode_batch_sync([[0.1, 0.2], [0.3]])
    with pytest.raises(ValidationError):
        AngleEncoder(2).inputs([[0.1, 0.2], [0.3]])
