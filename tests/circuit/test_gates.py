"""The gate table: unitarity, analytic derivatives, IonQ native definitions, Qiskit agreement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from q_store.circuit import GATES, gate_spec

ATOL = 1e-12
FD_STEP, FD_ATOL = 1e-6, 1e-8
X = np.array([[0, 1], [1, 0]], dtype=complex)
Z = np.diag([1.0, -1.0]).astype(complex)


def _params(name: str, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-np.pi, np.pi, GATES[name].num_params)


def _equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-10) -> bool:
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    phase = a[k] / b[k]
    return abs(abs(phase) - 1.0) < atol and np.allclose(a, phase * b, atol=atol)


@pytest.mark.parametrize("name", sorted(GATES))
def test_matrix_is_unitary(name: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = GATES[name].matrix(_params(name, rng))
        assert m.shape == (GATES[name].dim,) * 2
        np.testing.assert_allclose(m.conj().T @ m, np.eye(len(m)), atol=ATOL)


def test_matrix_is_batched() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(-3, 3, (4, 3))
    stack = GATES["U3"].matrix(p)
    assert stack.shape == (4, 2, 2)
    np.testing.assert_allclose(stack[2], GATES["U3"].matrix(p[2]), atol=ATOL)


@pytest.mark.parametrize("name", sorted(n for n in GATES if GATES[n].num_params))
def test_derivative_matches_finite_differences(name: str) -> None:
    spec = GATES[name]
    rng = np.random.default_rng(2)
    for _ in range(3):
        p = _params(name, rng)
        for k in range(spec.num_params):
            dp = np.zeros_like(p)
            dp[k] = FD_STEP
            fd = (spec.matrix(p + dp) - spec.matrix(p - dp)) / (2 * FD_STEP)
            np.testing.assert_allclose(spec.derivative(p, k), fd, atol=FD_ATOL)


def test_fixed_gates_have_no_derivative() -> None:
    with pytest.raises(ValueError, match="no parameters"):
        GATES["H"].derivative(np.zeros(0), 0)


# --- IonQ native gates (IonQ native-gate guide; phases in turns) --------------------------


def gpi(p: float) -> np.ndarray:
    return GATES["GPI"].matrix([p])


def gpi2(p: float) -> np.ndarray:
    return GATES["GPI2"].matrix([p])


def ms(p0: float, p1: float, t: float) -> np.ndarray:
    return GATES["MS"].matrix([p0, p1, t])


@pytest.mark.parametrize("p", [0.0, 0.25, -0.1, 0.37, 1.3])
def test_gpi_and_gpi2_formulas(p: float) -> None:
    e = np.exp(2j * np.pi * p)
    np.testing.assert_allclose(gpi(p), [[0, np.conj(e)], [e, 0]], atol=ATOL)
    expect = np.array([[1, -1j * np.conj(e)], [-1j * e, 1]]) / np.sqrt(2)
    np.testing.assert_allclose(gpi2(p), expect, atol=ATOL)


@pytest.mark.parametrize(("p0", "p1", "t"), [(0, 0, 0.25), (0.1, -0.3, 0.25), (0.7, 0.2, 0.13)])
def test_ms_formula(p0: float, p1: float, t: float) -> None:
    c, s = np.cos(np.pi * t), np.sin(np.pi * t)
    ep, em = np.exp(2j * np.pi * (p0 + p1)), np.exp(2j * np.pi * (p0 - p1))
    expect = np.diag([c] * 4).astype(complex)
    expect[0, 3] = -1j * s * np.conj(ep)
    expect[1, 2] = -1j * s * np.conj(em)
    expect[2, 1] = -1j * s * em
    expect[3, 0] = -1j * s * ep
    np.testing.assert_allclose(ms(p0, p1, t), expect, atol=ATOL)


@pytest.mark.parametrize("t", [0.0, 0.25, -0.4, 0.9])
def test_zz_is_exp_of_zz(t: float) -> None:
    expect = expm(-1j * np.pi * t * np.kron(Z, Z))
    np.testing.assert_allclose(GATES["ZZ"].matrix([t]), expect, atol=ATOL)


@pytest.mark.parametrize("a", [0.0, 0.3, -1.2, np.pi, 2.5])
def test_rotations_from_native_gates(a: float) -> None:
    rx = gpi2(0.25) @ gpi(a / (4 * np.pi) - 0.25) @ gpi2(0.25)
    ry = gpi2(0.5) @ gpi(a / (4 * np.pi)) @ gpi2(0.5)
    assert _equal_up_to_phase(rx, GATES["RX"].matrix([a]))
    assert _equal_up_to_phase(ry, GATES["RY"].matrix([a]))


def test_cnot_from_native_sequence() -> None:
    eye = np.eye(2)
    steps = [  # time order, on (control, target)
        np.kron(gpi2(0.25), eye),
        ms(0, 0, 0.25),
        np.kron(eye, gpi2(0.5)),
        np.kron(gpi2(0.5), eye),
        np.kron(gpi2(-0.25), eye),
    ]
    u = np.eye(4, dtype=complex)
    for s in steps:
        u = s @ u
    assert _equal_up_to_phase(u, GATES["CNOT"].matrix())


# --- agreement with Qiskit, global phase included ---------------------------------------------

qiskit_lib = pytest.importorskip("qiskit.circuit.library")
qi = pytest.importorskip("qiskit.quantum_info")

_QISKIT = {
    "I": "IGate", "X": "XGate", "Y": "YGate", "Z": "ZGate", "H": "HGate", "S": "SGate",
    "Sdg": "SdgGate", "T": "TGate", "Tdg": "TdgGate", "SX": "SXGate", "RX": "RXGate",
    "RY": "RYGate", "RZ": "RZGate", "PhaseShift": "PhaseGate", "U3": "U3Gate", "CNOT": "CXGate",
    "CZ": "CZGate", "SWAP": "SwapGate", "RXX": "RXXGate", "RYY": "RYYGate", "RZZ": "RZZGate",
    "CRX": "CRXGate", "CRY": "CRYGate", "CRZ": "CRZGate", "Toffoli": "CCXGate",
}


def qiskit_matrix(gate: object) -> np.ndarray:
    """Qiskit's matrix in our big-endian wire order (first qubit = most significant bit)."""
    return qi.Operator(gate).reverse_qargs().data


def test_every_standard_gate_has_a_qiskit_counterpart() -> None:
    assert set(GATES) - set(_QISKIT) == {"GPI", "GPI2", "MS", "ZZ"}


@pytest.mark.parametrize("name", sorted(_QISKIT))
def test_matches_qiskit(name: str) -> None:
    rng = np.random.default_rng(3)
    cls = getattr(qiskit_lib, _QISKIT[name])
    for _ in range(3):
        p = _params(name, rng)
        ours = gate_spec(name).matrix(p)
        np.testing.assert_allclose(ours, qiskit_matrix(cls(*p)), atol=ATOL)


def test_u3_matches_qiskit_u_gate() -> None:
    p = [0.3, -1.1, 2.2]
    np.testing.assert_allclose(GATES["U3"].matrix(p), qiskit_matrix(qiskit_lib.UGate(*p)),
                               atol=ATOL)


def test_controlled_rotation_has_control_first() -> None:
    # control on wire 0 (top bit): the rotation acts on the lower-right block
    m = GATES["CRX"].matrix([0.7])
    np.testing.assert_allclose(m[:2, :2], np.eye(2), atol=ATOL)
    np.testing.assert_allclose(m[2:, 2:], GATES["RX"].matrix([0.7]), atol=ATOL)
