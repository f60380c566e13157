"""Gate matrices and their derivatives as compiled scalar code, for binding tapes fast.

The reference definitions are the vectorised ones in :mod:`q_store.circuit.gates`; tests check
that both agree for every gate. Fixed gates come from a table built from the reference.
Controlled fixed gates store the 2x2 matrix applied to the target.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from q_store.circuit.gates import GATES

__all__ = ["CODES", "FIXED", "fill_matrices"]

CODES = {name: i for i, name in enumerate(GATES)}
(RX, RY, RZ, PS, U3, GPI, GPI2, RXX, RYY, RZZ, CRX, CRY, CRZ, MS, ZZ) = (
    CODES[g] for g in ("RX", "RY", "RZ", "PhaseShift", "U3", "GPI", "GPI2", "RXX", "RYY", "RZZ",
                       "CRX", "CRY", "CRZ", "MS", "ZZ"))


def _fixed_table() -> np.ndarray:
    out = np.zeros((len(GATES), 4, 4), dtype=np.complex128)
    for name, spec in GATES.items():
        if spec.num_params:
            continue
        m = spec.controlled_base if spec.controlled_base is not None else spec.matrix()
        out[CODES[name], : len(m), : len(m)] = m
    return out


FIXED = _fixed_table()
_TWO_PI = 2.0 * np.pi
_R2 = 1.0 / np.sqrt(2.0)


@njit(cache=True, inline="always")
def _rot1(code, c, s, out):
    """``c I - i s P`` for P = X, Y, Z: the rotation (c, s = cos, sin of a/2) or, with
    c, s = -sin/2, cos/2, its derivative."""
    if code == RX:
        out[0, 0], out[0, 1], out[1, 0], out[1, 1] = c, -1j * s, -1j * s, c
    elif code == RY:
        out[0, 0], out[0, 1], out[1, 0], out[1, 1] = c, -s, s, c
    else:
        out[0, 0], out[0, 1], out[1, 0], out[1, 1] = c - 1j * s, 0.0, 0.0, c + 1j * s


@njit(cache=True)
def gate_matrix(code, p, out):
    """Matrix of gate ``code`` with parameters ``p`` into ``out`` (4x4; 1q gates top-left)."""
    out[:, :] = 0.0
    if code == RX or code == RY or code == RZ:
        _rot1(code, np.cos(p[0] / 2), np.sin(p[0] / 2), out)
    elif code == PS:
        out[0, 0] = 1.0
        out[1, 1] = np.exp(1j * p[0])
    elif code == U3:
        c, s = np.cos(p[0] / 2), np.sin(p[0] / 2)
        out[0, 0] = c
        out[0, 1] = -np.exp(1j * p[2]) * s
        out[1, 0] = np.exp(1j * p[1]) * s
        out[1, 1] = np.exp(1j * (p[1] + p[2])) * c
    elif code == GPI:
        e = np.exp(1j * _TWO_PI * p[0])
        out[0, 1] = np.conj(e)
        out[1, 0] = e
    elif code == GPI2:
        e = np.exp(1j * _TWO_PI * p[0])
        out[0, 0] = _R2
        out[1, 1] = _R2
        out[0, 1] = -1j * _R2 * np.conj(e)
        out[1, 0] = -1j * _R2 * e
    elif code == RXX or code == RYY or code == RZZ:
        _two_rot(code, np.cos(p[0] / 2), np.sin(p[0] / 2), out)
    elif code == CRX or code == CRY or code == CRZ:
        out[0, 0] = 1.0
        out[1, 1] = 1.0
        _ctrl_rot(code, np.cos(p[0] / 2), np.sin(p[0] / 2), out)
    elif code == MS:
        _ms(p, out, -1)
    elif code == ZZ:
        a = np.pi * p[0]
        out[0, 0] = out[3, 3] = np.exp(-1j * a)
        out[1, 1] = out[2, 2] = np.exp(1j * a)


@njit(cache=True)
def _two_rot(code, c, s, out):
    """cos I - i sin G for G in XX, YY, ZZ (big-endian two-qubit basis)."""
    for i in range(4):
        out[i, i] = c
    if code == RXX:
        out[0, 3] = out[1, 2] = out[2, 1] = out[3, 0] = -1j * s
    elif code == RYY:
        out[0, 3] = out[3, 0] = 1j * s
        out[1, 2] = out[2, 1] = -1j * s
    else:
        out[0, 0] = out[3, 3] = c - 1j * s
        out[1, 1] = out[2, 2] = c + 1j * s


@njit(cache=True)
def _ctrl_rot(code, c, s, out):
    """The rotation block of a controlled rotation, rows/cols 2..3."""
    if code == CRX:
        out[2, 2], out[2, 3], out[3, 2], out[3, 3] = c, -1j * s, -1j * s, c
    elif code == CRY:
        out[2, 2], out[2, 3], out[3, 2], out[3, 3] = c, -s, s, c
    else:
        out[2, 2], out[2, 3], out[3, 2], out[3, 3] = c - 1j * s, 0.0, 0.0, c + 1j * s


@njit(cache=True)
def _ms(p, out, k):
    """MS matrix (k = -1) or its derivative with respect to parameter k."""
    t = p[2]
    c, s = np.cos(np.pi * t), np.sin(np.pi * t)
    ep = np.exp(1j * _TWO_PI * (p[0] + p[1]))
    em = np.exp(1j * _TWO_PI * (p[0] - p[1]))
    dg, off = c, s
    fp, fm = 1.0 + 0j, 1.0 + 0j  # derivative factors of ep and em
    if k == 2:
        dg, off = -np.pi * s, np.pi * c
    elif k == 0:
        dg = 0.0
        fp, fm = 1j * _TWO_PI, 1j * _TWO_PI
    elif k == 1:
        dg = 0.0
        fp, fm = 1j * _TWO_PI, -1j * _TWO_PI
    for i in range(4):
        out[i, i] = dg
    out[0, 3] = -1j * off * np.conj(ep) * np.conj(fp)
    out[1, 2] = -1j * off * np.conj(em) * np.conj(fm)
    out[2, 1] = -1j * off * em * fm
    out[3, 0] = -1j * off * ep * fp


@njit(cache=True)
def gate_deriv(code, k, p, out):
    """d matrix / d p[k] of gate ``code`` into ``out``."""
    out[:, :] = 0.0
    if code == RX or code == RY or code == RZ:
        _rot1(code, -0.5 * np.sin(p[0] / 2), 0.5 * np.cos(p[0] / 2), out)
    elif code == PS:
        out[1, 1] = 1j * np.exp(1j * p[0])
    elif code == U3:
        if k == 0:
            c, s = -0.5 * np.sin(p[0] / 2), 0.5 * np.cos(p[0] / 2)
            out[0, 0] = c
            out[0, 1] = -np.exp(1j * p[2]) * s
            out[1, 0] = np.exp(1j * p[1]) * s
            out[1, 1] = np.exp(1j * (p[1] + p[2])) * c
        else:
            gate_matrix(code, p, out)
            if k == 1:
                out[0, 0] = out[0, 1] = 0.0
                out[1, 0] *= 1j
                out[1, 1] *= 1j
            else:
                out[0, 0] = out[1, 0] = 0.0
                out[0, 1] *= 1j
                out[1, 1] *= 1j
    elif code == GPI:
        e = np.exp(1j * _TWO_PI * p[0])
        out[0, 1] = -1j * _TWO_PI * np.conj(e)
        out[1, 0] = 1j * _TWO_PI * e
    elif code == GPI2:
        e = np.exp(1j * _TWO_PI * p[0])
        out[0, 1] = -_TWO_PI * _R2 * np.conj(e)
        out[1, 0] = _TWO_PI * _R2 * e
    elif code == RXX or code == RYY or code == RZZ:
        _two_rot(code, -0.5 * np.sin(p[0] / 2), 0.5 * np.cos(p[0] / 2), out)
    elif code == CRX or code == CRY or code == CRZ:
        _ctrl_rot(code, -0.5 * np.sin(p[0] / 2), 0.5 * np.cos(p[0] / 2), out)
    elif code == MS:
        _ms(p, out, k)
    elif code == ZZ:
        a = np.pi * p[0]
        out[0, 0] = out[3, 3] = -1j * np.pi * np.exp(-1j * a)
        out[1, 1] = out[2, 2] = 1j * np.pi * np.exp(1j * a)


@njit(cache=True, inline="always")
def _rot1_at(code, c, s, mats, k):
    """:func:`_rot1` into ``mats[k]`` (no array view: these loops run once per sample)."""
    if code == RX:
        mats[k, 0, 0], mats[k, 0, 1], mats[k, 1, 0], mats[k, 1, 1] = c, -1j * s, -1j * s, c
    elif code == RY:
        mats[k, 0, 0], mats[k, 0, 1], mats[k, 1, 0], mats[k, 1, 1] = c, -s, s, c
    else:
        mats[k, 0, 0], mats[k, 0, 1] = c - 1j * s, 0.0
        mats[k, 1, 0], mats[k, 1, 1] = 0.0, c + 1j * s


@njit(cache=True)
def fill_matrices(angles, codes, cols, nparams, stores, mem_off, mem_rows, fixed, mats1, mats2,
                  par_member, par_k, par_off, dmats1, dmats2, derivatives):
    """Fill the tape's matrix stores for a binding.

    Member m of gate ``codes[m]`` reads its parameters from ``angles[r, cols[m]:...]`` and writes
    ``mem_rows[m]`` matrices (1 if shared, else one per angle row) from ``mem_off[m]`` into
    store 1 (2x2) or 2 (4x4). Derivative matrices likewise per parameter row.
    """
    tmp = np.zeros((4, 4), dtype=np.complex128)
    p = np.zeros(3)
    for m in range(codes.shape[0]):
        code = codes[m]
        if code == RX or code == RY or code == RZ:  # the common case, written in place
            for r in range(mem_rows[m]):
                a = angles[r, cols[m]] / 2
                _rot1_at(code, np.cos(a), np.sin(a), mats1, mem_off[m] + r)
            continue
        d = 2 if stores[m] == 1 else 4
        for r in range(mem_rows[m]):
            if nparams[m] == 0:
                tmp[:, :] = fixed[code]
            else:
                for j in range(nparams[m]):
                    p[j] = angles[r, cols[m] + j]
                gate_matrix(code, p, tmp)
            dst = mats1[mem_off[m] + r] if d == 2 else mats2[mem_off[m] + r]
            for i in range(d):
                for j in range(d):
                    dst[i, j] = tmp[i, j]
    if not derivatives:
        return
    for q in range(par_member.shape[0]):
        m = par_member[q]
        code = codes[m]
        if code == RX or code == RY or code == RZ:
            for r in range(mem_rows[m]):
                a = angles[r, cols[m]] / 2
                _rot1_at(code, -0.5 * np.sin(a), 0.5 * np.cos(a), dmats1, par_off[q] + r)
            continue
        d = 2 if stores[m] == 1 else 4
        for r in range(mem_rows[m]):
            for j in range(nparams[m]):
                p[j] = angles[r, cols[m] + j]
            gate_deriv(code, par_k[q], p, tmp)
            dst = dmats1[par_off[q] + r] if d == 2 else dmats2[par_off[q] + r]
            for i in range(d):
                for j in range(d):
                    dst[i, j] = tmp[i, j]
