"""Single-qubit algebra for native-gate compilation.

A run of one-qubit gates is merged into one 2x2 unitary ``U`` and written as
``U = e^{ig} RZ(frame) . W`` where ``W`` is at most two GPI2 pulses (or one GPI) in time order
and ``RZ(frame)`` stays pending as a *virtual Z*: it is never emitted, because
``gate(p) . RZ(t) = RZ(t) . gate(p - t / 2pi)`` lets it slide through any later GPI, GPI2 or MS
into their phases (FACTS.md). Phases are in turns, as IonQ wants them.

Derivation (ZYZ Euler angles, ``U ~ RZ(a) RY(b) RZ(c)``, ``b`` in ``[0, pi]``):

- ``b = 0``: ``U ~ RZ(a + c)``: no pulse.
- ``b = pi``: ``U ~ RZ(a - c) Y``, a pi rotation about an equatorial axis: one
  ``GPI((pi + a - c) / 4pi)``, no frame.
- ``b = pi/2``: ``RY(pi/2) RZ(c) = RZ(c) GPI2(1/4 - c/2pi)``: one GPI2, frame ``a + c``.
- otherwise ``RY(b) = RZ(pi) RX(pi/2) RZ(b - pi) RX(pi/2)`` and ``RX(pi/2) = GPI2(0)``; sliding
  the Z rotations left gives ``GPI2(-c/2pi)`` then ``GPI2((pi - b - c)/2pi)``, frame
  ``a + b + c``.

Before an MS gate more can wait: ``RX`` commutes with the ``X(x)X`` interaction, so a run
``U = RX(beta) RZ(alpha) . GPI2(p)`` needs only the GPI2 now (:func:`native_before_xx`); the
rest stays pending after the MS.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

__all__ = [
    "ATOL",
    "Pulse",
    "native_before_xx",
    "native_single_qubit",
    "normalize_turns",
    "rz_matrix",
]

ATOL = 1e-12
TWO_PI = 2.0 * math.pi
HALF_PI = 0.5 * math.pi

Pulse = tuple[str, float]  # ("GPI" | "GPI2", phase in turns)


def rz_matrix(theta: float) -> np.ndarray:
    """``RZ(theta) = diag(e^{-i theta/2}, e^{i theta/2})``."""
    e = cmath.exp(0.5j * theta)
    return np.array([[e.conjugate(), 0.0], [0.0, e]], dtype=complex)


def normalize_turns(p: float, period: float = 1.0, atol: float = ATOL) -> float:
    """``p`` reduced to ``[0, period)``; values within ``atol`` of a period snap to 0."""
    r = math.fmod(p, period)
    if r < 0.0:
        r += period
    if r >= period - atol or r <= atol:
        return 0.0
    return r


def native_single_qubit(u: np.ndarray, atol: float = ATOL) -> tuple[tuple[Pulse, ...], float]:
    """``(pulses, frame)`` with ``u = e^{ig} RZ(frame) . pulses`` (pulses in time order, phases
    in turns, ``frame`` in radians). At most two GPI2, or one GPI for a pi rotation about an
    equatorial axis, or nothing when ``u`` is diagonal (identity up to phase and Z)."""
    u00, u10 = complex(u[0, 0]), complex(u[1, 0])
    det = u00 * complex(u[1, 1]) - complex(u[0, 1]) * u10
    s = cmath.sqrt(det)
    a_, b_ = u00 / s, u10 / s  # SU(2): [[A, -B*], [B, A*]]
    ma, mb = abs(a_), abs(b_)
    if mb <= atol:
        return (), -2.0 * cmath.phase(a_)
    if ma <= atol:
        delta = 2.0 * cmath.phase(b_)
        return (("GPI", normalize_turns((math.pi + delta) / (2.0 * TWO_PI), 0.5, atol)),), 0.0
    b = 2.0 * math.atan2(mb, ma)
    arg_a, arg_b = cmath.phase(a_), cmath.phase(b_)
    a, c = arg_b - arg_a, -arg_a - arg_b
    if abs(b - HALF_PI) <= atol:
        return (("GPI2", normalize_turns((HALF_PI - c) / TWO_PI, 1.0, atol)),), a + c
    first = normalize_turns(-c / TWO_PI, 1.0, atol)
    second = normalize_turns((math.pi - b - c) / TWO_PI, 1.0, atol)
    return (("GPI2", first), ("GPI2", second)), a + b + c


def native_before_xx(u: np.ndarray,
                     atol: float = ATOL) -> tuple[tuple[Pulse, ...], np.ndarray, float]:
    """``(pulses, deferred, frame)`` with ``u = deferred . pulses``, at most one GPI2, and
    ``deferred = e^{ig} RX(beta) RZ(frame)`` (``frame`` in radians), which passes an
    ``exp(-i t X(x)X)`` interaction: RX commutes with it, RZ moves into the MS phases.

    ``deferred`` has that form iff ``deferred^dag X deferred`` lies in the XY plane. With
    ``u^dag X u = n . sigma``, the GPI2 (a pi/2 turn about ``(cos f, sin f, 0)``) must rotate
    ``n`` into that plane: ``f = atan2(n_y, n_x)``; none is needed when ``n_z = 0``.
    """
    m = u.conj().T @ np.array([[0.0, 1.0], [1.0, 0.0]]) @ u  # n . sigma
    nz, nx, ny = m[0, 0].real, m[1, 0].real, m[1, 0].imag
    pulses: tuple[Pulse, ...] = ()
    d = u
    if abs(nz) > atol:
        f = math.atan2(ny, nx) if math.hypot(nx, ny) > atol else 0.0
        e = cmath.exp(1j * f)
        r = 1.0 / math.sqrt(2.0)
        g_dag = np.array([[r, 1j * r * e.conjugate()], [1j * r * e, r]])  # GPI2(f / 2pi)^dag
        d = u @ g_dag
        pulses = (("GPI2", normalize_turns(f / TWO_PI, 1.0, atol)),)
    # d = RX(beta) RZ(frame): d11 / d00 = d01 / d10 = e^{i frame}
    if abs(d[0, 0]) >= abs(d[0, 1]):
        frame = cmath.phase(d[1, 1] / d[0, 0])
    else:
        frame = cmath.phase(d[0, 1] / d[1, 0])
    return pulses, d, frame
