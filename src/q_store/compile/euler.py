"""The fewest Pauli rotations equal (up to global phase) to a one-qubit unitary.

Any 2x2 unitary divided by the square root of its determinant is in SU(2) and reads
``V = c0 I - i (cx X + cy Y + cz Z)`` with real ``c``. From these coefficients:

- no rotation: ``cx = cy = cz = 0``;
- one rotation ``R_P(t)``: only ``cP`` is nonzero, ``t = 2 atan2(cP, c0)``;
- two rotations, ``R_Q(b)`` then ``R_P(a)`` (``V = R_P(a) R_Q(b)``): with ``PQ = i e R``,
  ``c0 = ca cb``, ``cP = sa cb``, ``cQ = ca sb``, ``cR = e sa sb`` (half angles), which exists
  iff ``c0 cR = e cP cQ``;
- otherwise three: ``RZ(c)``, ``RY(b)``, ``RZ(a)`` (ZYZ Euler angles).

Every candidate is rebuilt and compared with the input before it is returned, so a
decomposition is never wrong, only possibly longer than necessary. Angles are reduced to
``(-pi, pi]``: a rotation by ``t + 2 pi`` is ``-R(t)``, the same gate up to phase.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

__all__ = ["Rotation", "equal_up_to_phase", "fewest_rotations", "rotation_matrix"]

Rotation = tuple[str, float]  # ("RX" | "RY" | "RZ", angle in radians), in time order
VERIFY_ATOL = 1e-10

_PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
_AXES = ("X", "Y", "Z")
# P Q = i * sign * R for the axis R left over
_PRODUCT = {("X", "Y"): ("Z", 1.0), ("Y", "Z"): ("X", 1.0), ("Z", "X"): ("Y", 1.0),
            ("Y", "X"): ("Z", -1.0), ("Z", "Y"): ("X", -1.0), ("X", "Z"): ("Y", -1.0)}


def rotation_matrix(axis: str, angle: float) -> np.ndarray:
    """``R_P(t) = cos(t/2) I - i sin(t/2) P``."""
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    if axis == "X":
        rows = [[c, -1j * s], [-1j * s, c]]
    elif axis == "Y":
        rows = [[c, -s], [s, c]]
    else:
        rows = [[complex(c, -s), 0.0], [0.0, complex(c, s)]]
    return np.array(rows, dtype=complex)


def _reduce(angle: float) -> float:
    r = math.remainder(angle, 2.0 * math.pi)
    return math.pi if r == -math.pi else r


def equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = VERIFY_ATOL) -> bool:
    """Whether ``a = e^{i g} b`` for some real ``g`` (same shapes, unitary matrices)."""
    if a.shape == (2, 2):  # the hot path, without numpy's per-call overhead
        (a0, a1), (a2, a3) = a.tolist()
        (b0, b1), (b2, b3) = b.tolist()
        k = 0 if abs(b0) >= abs(b1) else 1
        if abs((b0, b1)[k]) < 1e-6:
            return False
        phase = (a0, a1)[k] / (b0, b1)[k]
        if abs(abs(phase) - 1.0) > 1e-6:
            return False
        phase /= abs(phase)
        return max(abs(x - phase * y) for x, y in ((a0, b0), (a1, b1), (a2, b2), (a3, b3))
                   ) <= atol
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    if abs(b[k]) < 1e-6:
        return False
    phase = a[k] / b[k]
    if abs(abs(phase) - 1.0) > 1e-6:
        return False
    return bool(np.max(np.abs(a - (phase / abs(phase)) * b)) <= atol)


def _coefficients(u: np.ndarray) -> dict[str, float]:
    """``c0, cx, cy, cz`` of ``V = u / sqrt(det u) = c0 I - i (cx X + cy Y + cz Z)``."""
    (a, b), (c, d) = u.tolist()
    s = cmath.sqrt(a * d - b * c)
    a, b, c, d = a / s, b / s, c / s, d / s
    # tr(V) = 2 c0; tr(V X) = -2i cx, tr(V Y) = -2i cy, tr(V Z) = -2i cz
    return {"I": 0.5 * (a + d).real, "X": (0.5j * (b + c)).real,
            "Y": (0.5j * (1j * b - 1j * c)).real, "Z": (0.5j * (a - d)).real}


def _product(rotations: list[Rotation]) -> np.ndarray:
    m = np.eye(2, dtype=complex)
    for gate, angle in rotations:
        m = rotation_matrix(gate[1], angle) @ m
    return m


def _candidates(c: dict[str, float], atol: float) -> list[list[Rotation]]:
    big = [p for p in _AXES if abs(c[p]) > atol]
    if not big:
        return [[]]
    if len(big) == 1:
        p = big[0]
        return [[("R" + p, 2.0 * math.atan2(c[p], c["I"]))]]
    out = []
    for (p, q), (r, e) in _PRODUCT.items():  # V = R_P(a) R_Q(b): R_Q first in time
        if abs(c["I"] * c[r] - e * c[p] * c[q]) > atol:
            continue
        if math.hypot(c["I"], c[p]) > atol:
            ha = math.atan2(c[p], c["I"])
        else:
            ha = math.atan2(e * c[r], c[q])
        ca, sa = math.cos(ha), math.sin(ha)
        hb = math.atan2(ca * c[q] + e * sa * c[r], ca * c["I"] + sa * c[p])
        out.append([("R" + q, 2.0 * hb), ("R" + p, 2.0 * ha)])
    return out


def _zyz(u: np.ndarray) -> list[Rotation]:
    s = cmath.sqrt(complex(u[0, 0] * u[1, 1] - u[0, 1] * u[1, 0]))
    a_, b_ = complex(u[0, 0]) / s, complex(u[1, 0]) / s
    b = 2.0 * math.atan2(abs(b_), abs(a_))
    arg_a, arg_b = cmath.phase(a_), cmath.phase(b_)
    return [("RZ", -arg_a - arg_b), ("RY", b), ("RZ", arg_b - arg_a)]


def fewest_rotations(u: np.ndarray, atol: float = 1e-12) -> tuple[Rotation, ...]:
    """Rotations (time order, angles in ``(-pi, pi]``) whose product equals ``u`` up to global
    phase: none for the identity, else the shortest of one, two or three that rebuilds ``u``."""
    c = _coefficients(u)
    for rots in [*_candidates(c, atol), _zyz(u)]:
        reduced = [(g, _reduce(t)) for g, t in rots if abs(_reduce(t)) > atol]
        if equal_up_to_phase(_product(reduced), u):
            return tuple(reduced)
    raise AssertionError("the ZYZ decomposition always rebuilds a unitary")  # pragma: no cover
