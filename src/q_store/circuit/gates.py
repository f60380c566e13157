"""The gate table: matrices, analytic derivatives and parameter-shift spectra of every gate.

Wire order inside a multi-qubit gate matrix is big-endian: the first wire is the most
significant bit of the local index (``CNOT`` = blockdiag(I, X) with the control first).
Matrices are vectorised: ``spec.matrix(params)`` maps a ``(B, num_params)`` array of angles to a
``(B, d, d)`` stack. IonQ native gates (GPI, GPI2, MS, ZZ) take phases and angles in turns
(1 turn = 2 pi), with the matrices of IonQ's native-gate guide
(https://docs.ionq.com/guides/getting-started-with-native-gates); ``tests/circuit/test_gates.py``
checks them against that guide's definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from q_store.errors import CircuitError

__all__ = ["GATES", "GateSpec", "gate_spec"]

MatrixFn = Callable[[np.ndarray], np.ndarray]
DerivFn = Callable[[np.ndarray, int], np.ndarray]

_I2 = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.diag([1.0, -1.0]).astype(complex)
_P1 = np.diag([0.0, 1.0]).astype(complex)  # |1><1|
TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class GateSpec:
    """Everything the library knows about one gate type.

    ``frequencies[k] = (omega, R)``: as a function of parameter ``k`` an expectation value is a
    trigonometric polynomial with frequencies ``omega, 2 omega, ..., R omega``; this fixes the
    general parameter-shift rule (two terms for R=1, four for controlled rotations).
    ``controlled_base``: for non-parametric controlled gates, the 2x2 matrix applied to the last
    wire when all earlier wires are 1 (lets simulators skip the dense kernel).
    """

    name: str
    num_wires: int
    num_params: int
    matrix_fn: MatrixFn
    deriv_fn: DerivFn | None = None
    frequencies: tuple[tuple[float, int], ...] = ()
    controlled_base: np.ndarray | None = field(default=None, compare=False)
    param_names: tuple[str, ...] = ()

    @property
    def dim(self) -> int:
        return 2**self.num_wires

    def matrix(self, params: np.ndarray | None = None) -> np.ndarray:
        """Matrix stack ``(B, d, d)`` for a ``(B, num_params)`` angle array (or ``(d, d)`` for a
        1-D parameter vector / a fixed gate)."""
        if self.num_params == 0:
            return self.matrix_fn(np.zeros((1, 0)))[0]
        p = _real_params(self.name, params)
        if p.ndim == 1:
            return self.matrix_fn(p.reshape(1, -1))[0]
        return self.matrix_fn(p)

    def derivative(self, params: np.ndarray, k: int) -> np.ndarray:
        """d matrix / d param_k, same shapes as :meth:`matrix`."""
        if self.deriv_fn is None:
            raise CircuitError(f"gate {self.name} has no parameters to differentiate")
        p = _real_params(self.name, params)
        if p.ndim == 1:
            return self.deriv_fn(p.reshape(1, -1), k)[0]
        return self.deriv_fn(p, k)


# --- helpers -------------------------------------------------------------------------------------


def _real_params(gate: str, params: object) -> np.ndarray:
    p = np.asarray(params)
    if np.iscomplexobj(p):
        raise CircuitError(f"{gate}: parameters must be real numbers; got complex values")
    try:
        return p.astype(float)
    except (TypeError, ValueError):
        raise CircuitError(f"{gate}: parameters must be real numbers, got {params!r}") from None


def _fixed(m: np.ndarray) -> MatrixFn:
    m = np.asarray(m, dtype=complex)
    return lambda p: np.broadcast_to(m, (max(len(p), 1), *m.shape))


def _pauli_rotation(gen: np.ndarray) -> tuple[MatrixFn, DerivFn]:
    """exp(-i a G/2) for a Pauli word G (G^2 = I): cos(a/2) I - i sin(a/2) G."""
    eye = np.eye(len(gen), dtype=complex)

    def mat(p: np.ndarray) -> np.ndarray:
        a = p[:, 0, None, None] / 2.0
        return np.cos(a) * eye - 1j * np.sin(a) * gen

    def der(p: np.ndarray, k: int) -> np.ndarray:
        a = p[:, 0, None, None] / 2.0
        return -0.5 * np.sin(a) * eye - 0.5j * np.cos(a) * gen

    return mat, der


def _controlled_rotation(gen: np.ndarray) -> tuple[MatrixFn, DerivFn]:
    """|0><0| x I + |1><1| x exp(-i a G/2)."""
    rmat, rder = _pauli_rotation(gen)

    def mat(p: np.ndarray) -> np.ndarray:
        out = np.zeros((len(p), 4, 4), dtype=complex)
        out[:, 0, 0] = out[:, 1, 1] = 1.0
        out[:, 2:, 2:] = rmat(p)
        return out

    def der(p: np.ndarray, k: int) -> np.ndarray:
        out = np.zeros((len(p), 4, 4), dtype=complex)
        out[:, 2:, 2:] = rder(p, k)
        return out

    return mat, der


def _phase_shift(p: np.ndarray) -> np.ndarray:
    out = np.zeros((len(p), 2, 2), dtype=complex)
    out[:, 0, 0] = 1.0
    out[:, 1, 1] = np.exp(1j * p[:, 0])
    return out


def _phase_shift_d(p: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(p), 2, 2), dtype=complex)
    out[:, 1, 1] = 1j * np.exp(1j * p[:, 0])
    return out


def _u3(p: np.ndarray) -> np.ndarray:
    th, ph, la = p[:, 0], p[:, 1], p[:, 2]
    c, s = np.cos(th / 2), np.sin(th / 2)
    out = np.empty((len(p), 2, 2), dtype=complex)
    out[:, 0, 0] = c
    out[:, 0, 1] = -np.exp(1j * la) * s
    out[:, 1, 0] = np.exp(1j * ph) * s
    out[:, 1, 1] = np.exp(1j * (ph + la)) * c
    return out


def _u3_d(p: np.ndarray, k: int) -> np.ndarray:
    th, ph, la = p[:, 0], p[:, 1], p[:, 2]
    if k == 0:
        c, s = -0.5 * np.sin(th / 2), 0.5 * np.cos(th / 2)
        out = np.empty((len(p), 2, 2), dtype=complex)
        out[:, 0, 0] = c
        out[:, 0, 1] = -np.exp(1j * la) * s
        out[:, 1, 0] = np.exp(1j * ph) * s
        out[:, 1, 1] = np.exp(1j * (ph + la)) * c
        return out
    m = _u3(p)
    out = np.zeros_like(m)
    if k == 1:  # phi multiplies row 1
        out[:, 1, :] = 1j * m[:, 1, :]
    else:  # lambda multiplies column 1
        out[:, :, 1] = 1j * m[:, :, 1]
    return out


def _gpi(p: np.ndarray) -> np.ndarray:
    e = np.exp(1j * TWO_PI * p[:, 0])
    out = np.zeros((len(p), 2, 2), dtype=complex)
    out[:, 0, 1] = np.conj(e)
    out[:, 1, 0] = e
    return out


def _gpi_d(p: np.ndarray, k: int) -> np.ndarray:
    e = np.exp(1j * TWO_PI * p[:, 0])
    out = np.zeros((len(p), 2, 2), dtype=complex)
    out[:, 0, 1] = -1j * TWO_PI * np.conj(e)
    out[:, 1, 0] = 1j * TWO_PI * e
    return out


def _gpi2(p: np.ndarray) -> np.ndarray:
    e = np.exp(1j * TWO_PI * p[:, 0])
    r = 1.0 / np.sqrt(2.0)
    out = np.empty((len(p), 2, 2), dtype=complex)
    out[:, 0, 0] = out[:, 1, 1] = r
    out[:, 0, 1] = -1j * r * np.conj(e)
    out[:, 1, 0] = -1j * r * e
    return out


def _gpi2_d(p: np.ndarray, k: int) -> np.ndarray:
    e = np.exp(1j * TWO_PI * p[:, 0])
    r = 1.0 / np.sqrt(2.0)
    out = np.zeros((len(p), 2, 2), dtype=complex)
    out[:, 0, 1] = -1j * r * np.conj(e) * (-1j * TWO_PI)
    out[:, 1, 0] = -1j * r * e * (1j * TWO_PI)
    return out


def _ms_parts(p: np.ndarray) -> tuple[np.ndarray, ...]:
    p0, p1, t = p[:, 0], p[:, 1], p[:, 2]
    c, s = np.cos(np.pi * t), np.sin(np.pi * t)
    ep, em = np.exp(1j * TWO_PI * (p0 + p1)), np.exp(1j * TWO_PI * (p0 - p1))
    return c, s, ep, em


def _ms(p: np.ndarray) -> np.ndarray:
    c, s, ep, em = _ms_parts(p)
    out = np.zeros((len(p), 4, 4), dtype=complex)
    for i in range(4):
        out[:, i, i] = c
    out[:, 0, 3] = -1j * s * np.conj(ep)
    out[:, 1, 2] = -1j * s * np.conj(em)
    out[:, 2, 1] = -1j * s * em
    out[:, 3, 0] = -1j * s * ep
    return out


def _ms_d(p: np.ndarray, k: int) -> np.ndarray:
    c, s, ep, em = _ms_parts(p)
    out = np.zeros((len(p), 4, 4), dtype=complex)
    if k == 2:
        for i in range(4):
            out[:, i, i] = -np.pi * s
        ds = np.pi * c
        out[:, 0, 3] = -1j * ds * np.conj(ep)
        out[:, 1, 2] = -1j * ds * np.conj(em)
        out[:, 2, 1] = -1j * ds * em
        out[:, 3, 0] = -1j * ds * ep
        return out
    sign_m = 1.0 if k == 0 else -1.0  # d(p0 - p1)/dp_k
    w = 1j * TWO_PI
    out[:, 0, 3] = -1j * s * np.conj(ep) * (-w)
    out[:, 1, 2] = -1j * s * np.conj(em) * (-w * sign_m)
    out[:, 2, 1] = -1j * s * em * (w * sign_m)
    out[:, 3, 0] = -1j * s * ep * w
    return out


def _zz(p: np.ndarray) -> np.ndarray:
    a = np.pi * p[:, 0]
    d = np.stack([np.exp(-1j * a), np.exp(1j * a), np.exp(1j * a), np.exp(-1j * a)], axis=-1)
    return d[:, :, None] * np.eye(4)


def _zz_d(p: np.ndarray, k: int) -> np.ndarray:
    return _zz(p) * (-1j * np.pi * np.array([1.0, -1.0, -1.0, 1.0]))[None, :, None]


def _kron(*ms: np.ndarray) -> np.ndarray:
    out = np.eye(1, dtype=complex)
    for m in ms:
        out = np.kron(out, m)
    return out


def _block_controlled(base: np.ndarray, controls: int) -> np.ndarray:
    d = 2 ** (controls + 1)
    out = np.eye(d, dtype=complex)
    out[d - 2 :, d - 2 :] = base
    return out


def _build() -> dict[str, GateSpec]:
    g: dict[str, GateSpec] = {}

    def fixed(name: str, m: np.ndarray, base: np.ndarray | None = None) -> None:
        nw = int(np.log2(len(m)))
        g[name] = GateSpec(name, nw, 0, _fixed(m), controlled_base=base)

    sx = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    fixed("I", _I2)
    fixed("X", _X)
    fixed("Y", _Y)
    fixed("Z", _Z)
    fixed("H", h)
    fixed("S", np.diag([1, 1j]))
    fixed("Sdg", np.diag([1, -1j]))
    fixed("T", np.diag([1, np.exp(1j * np.pi / 4)]))
    fixed("Tdg", np.diag([1, np.exp(-1j * np.pi / 4)]))
    fixed("SX", sx)
    fixed("CNOT", _block_controlled(_X, 1), base=_X)
    fixed("CZ", _block_controlled(_Z, 1), base=_Z)
    fixed("SWAP", np.eye(4)[[0, 2, 1, 3]])
    fixed("Toffoli", _block_controlled(_X, 2), base=_X)

    one = ((1.0, 1),)
    for name, gen in (("RX", _X), ("RY", _Y), ("RZ", _Z)):
        m, d = _pauli_rotation(gen)
        g[name] = GateSpec(name, 1, 1, m, d, one, param_names=("theta",))
    for name, gen in (("RXX", _kron(_X, _X)), ("RYY", _kron(_Y, _Y)), ("RZZ", _kron(_Z, _Z))):
        m, d = _pauli_rotation(gen)
        g[name] = GateSpec(name, 2, 1, m, d, one, param_names=("theta",))
    for name, gen in (("CRX", _X), ("CRY", _Y), ("CRZ", _Z)):
        m, d = _controlled_rotation(gen)
        g[name] = GateSpec(name, 2, 1, m, d, ((0.5, 2),), param_names=("theta",))
    g["PhaseShift"] = GateSpec("PhaseShift", 1, 1, _phase_shift, _phase_shift_d, one,
                               param_names=("phi",))
    g["U3"] = GateSpec("U3", 1, 3, _u3, _u3_d, (one[0],) * 3,
                       param_names=("theta", "phi", "lam"))
    g["GPI"] = GateSpec("GPI", 1, 1, _gpi, _gpi_d, ((2 * TWO_PI, 1),), param_names=("phase",))
    g["GPI2"] = GateSpec("GPI2", 1, 1, _gpi2, _gpi2_d, ((TWO_PI, 2),), param_names=("phase",))
    g["MS"] = GateSpec("MS", 2, 3, _ms, _ms_d, ((TWO_PI, 2), (TWO_PI, 2), (TWO_PI, 1)),
                       param_names=("phase0", "phase1", "angle"))
    g["ZZ"] = GateSpec("ZZ", 2, 1, _zz, _zz_d, ((TWO_PI, 1),), param_names=("angle",))
    return g


GATES: dict[str, GateSpec] = _build()

_ALIASES = {name.lower(): name for name in GATES}
_ALIASES.update({
    "id": "I", "cx": "CNOT", "ccx": "Toffoli", "ccnot": "Toffoli", "p": "PhaseShift",
    "phase": "PhaseShift", "u1": "PhaseShift", "u": "U3",
})


def gate_spec(name: str) -> GateSpec:
    """Look up a gate by name (case-insensitive; common aliases such as ``cx`` accepted)."""
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise CircuitError(f"unknown gate {name!r}; known gates: {', '.join(GATES)}")
    return GATES[key]
