"""Monte-Carlo wave functions (quantum trajectories) for noisy circuits too large for density
matrices (14 qubits and more: a density matrix of 14 qubits holds 4**14 = 2.7e8 numbers, a state
vector 1.6e4).

Each trajectory evolves a pure state: after every gate, each channel of the noise model picks
one Kraus branch ``i`` with probability ``p_i = |K_i psi|^2`` and the state becomes
``K_i psi / sqrt(p_i)``. Then ``E[|psi><psi|]`` over trajectories is exactly the density matrix
the channels produce, and any measured quantity that is linear in the state (every expectation
of :class:`~q_store.sim.DensityMatrixSimulator`, readout errors included) is the mean of its
per-trajectory values. The estimate comes with its standard error ``s / sqrt(N)`` (``s``: the
sample standard deviation over the ``N`` trajectories): the error is statistical, shrinking as
``1 / sqrt(N)``, not a bound. Channels whose Kraus operators are all proportional to unitaries
(depolarizing and other Pauli channels) draw their branch without looking at the state.

Random numbers are drawn up front from ``numpy.random.default_rng(seed)``, one per channel
application, so results are reproducible for a seed whatever the thread count.

:meth:`TrajectorySimulator.sample` runs one trajectory per shot and measures it once (readout
errors flip each measured bit as the noise model defines). Averaged over trajectories, the
probability of reading ``k`` is exactly the density matrix's measured probability of ``k``, so
each shot is an exact, independent sample of the noisy distribution: the histogram's only error
is shot noise (multinomial: a frequency ``f_k`` has standard deviation
``sqrt(p_k (1 - p_k) / shots)``), as on hardware; no bias from truncation or time steps.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from q_store.circuit.gates import GATES
from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.circuit.params import parameter_map_for, resolve_batch
from q_store.errors import ValidationError
from q_store.sim.density import kernel_threads
from q_store.sim.measure import marginal_probabilities
from q_store.sim.noise import NoiseModel
from q_store.sim.statevector import _as_observables

__all__ = ["MAX_QUBITS", "TrajectoryResult", "TrajectorySimulator"]

MAX_QUBITS = 26
_CHUNK_AMPLITUDES = 2**22  # final states kept at once for measurement (64 MiB)
_MIXED_TOL = 1e-13
_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
_BASIS = {"X": _H, "Y": _H @ np.diag([1, -1j])}  # eigenbasis -> computational basis
# op table columns
# op table columns: type (0 gate, 1 channel), wire count, wires, gate index (into the bound
# unitaries) or channel index
O_TYPE, O_NW, O_W0, O_W1, O_W2, O_ID = range(6)


@dataclass(frozen=True)
class TrajectoryResult:
    """Trajectory means ``values`` and their standard errors ``stderr`` (same shape), from
    ``trajectories`` trajectories per sample."""

    values: np.ndarray
    stderr: np.ndarray
    trajectories: int


@dataclass(frozen=True)
class _Program:
    ops: np.ndarray  # (L, 8) int64
    kraus: np.ndarray  # (total, 8, 8) complex: Kraus operators (mixed: the unitaries)
    probs: np.ndarray  # (total,) branch probabilities of mixed-unitary channels
    identity: np.ndarray  # (total,) bool: the branch is the identity (skipped)
    ch_lo: np.ndarray
    ch_hi: np.ndarray
    mixed: np.ndarray  # (C,) bool
    n_channel_ops: int


def _program(circuit: Circuit, noise_model: NoiseModel) -> _Program:
    ops, kraus, probs, ident, lo, hi, mixed = [], [], [], [], [], [], []
    index: dict[int, int] = {}
    n_ch = 0
    for g, op in enumerate(circuit.operations):
        ws = [*op.wires, 0, 0][:3]
        ops.append([0, len(op.wires), *ws, g])
        for ch, cws in noise_model.channels_after(op.gate, op.wires):
            if id(ch) not in index:
                index[id(ch)] = len(lo)
                d = ch.dim
                norms = [k.conj().T @ k for k in ch.operators]
                is_mixed = all(np.abs(m - m[0, 0] * np.eye(d)).max() <= _MIXED_TOL
                               for m in norms)
                lo.append(len(kraus))
                for k, m in zip(ch.operators, norms, strict=True):
                    p = float(m[0, 0].real)
                    if is_mixed and p <= 0.0:
                        continue
                    mat = k / np.sqrt(p) if is_mixed else k
                    padded = np.zeros((8, 8), dtype=np.complex128)
                    padded[:d, :d] = mat
                    kraus.append(padded)
                    probs.append(p if is_mixed else 0.0)
                    ident.append(bool(is_mixed and np.abs(mat - np.eye(d)).max() <= 1e-15))
                hi.append(len(kraus))
                mixed.append(is_mixed)
            cw = [*cws, 0, 0][:3]
            ops.append([1, len(cws), *cw, index[id(ch)]])
            n_ch += 1
    return _Program(np.array(ops, dtype=np.int64).reshape(-1, 6),
                    np.array(kraus, dtype=np.complex128).reshape(-1, 8, 8),
                    np.array(probs, dtype=np.float64), np.array(ident, dtype=bool),
                    np.array(lo, dtype=np.int64), np.array(hi, dtype=np.int64),
                    np.array(mixed, dtype=bool), n_ch)


def _unitaries(circuit: Circuit, angles: np.ndarray) -> np.ndarray:
    """Every gate's matrix per angle row, ``(R, L, 8, 8)`` (smaller gates top-left)."""
    out = np.zeros((angles.shape[0], len(circuit.operations), 8, 8), dtype=np.complex128)
    col = 0
    for g, op in enumerate(circuit.operations):
        spec = GATES[op.gate]
        d = spec.dim
        if spec.num_params:
            out[:, g, :d, :d] = spec.matrix(angles[:, col:col + spec.num_params])
        else:
            out[:, g, :d, :d] = spec.matrix()
        col += spec.num_params
    return out


@njit(cache=True)
def _layout(n, ops, t, off, bits):
    """Amplitude offsets of the local indices of op ``t``'s wires (first wire = top bit), its
    wire bits in ascending order, and the number of remaining index blocks."""
    k = ops[t, O_NW]
    for a in range(1 << k):
        o = 0
        for j in range(k):
            o += ((a >> (k - 1 - j)) & 1) << (n - 1 - ops[t, O_W0 + j])
        off[a] = o
    for j in range(3):
        bits[j] = n - 1 - ops[t, O_W0 + j] if j < k else 1 << 30
    bits.sort()
    return 1 << (n - k)


@njit(cache=True, inline="always")
def _base(i, bits, k):
    """The i-th amplitude index with zeros at the ``k`` wire bits."""
    x = i
    for j in range(k):
        p = bits[j]
        x = ((x >> p) << (p + 1)) | (x & ((1 << p) - 1))
    return x


@njit(cache=True)
def _apply1(psi, n, w, m, scale):
    """2x2 ``scale * m`` on wire ``w``, as contiguous runs of amplitude pairs."""
    s = 1 << (n - 1 - w)
    m00, m01, m10, m11 = scale * m[0, 0], scale * m[0, 1], scale * m[1, 0], scale * m[1, 1]
    for h in range(0, 1 << n, 2 * s):
        for i in range(h, h + s):
            a, b = psi[i], psi[i + s]
            psi[i] = m00 * a + m01 * b
            psi[i + s] = m10 * a + m11 * b


@njit(cache=True)
def _apply2(psi, n, w0, w1, m, scale):
    """4x4 ``scale * m`` on wires ``(w0, w1)`` (``w0`` the top bit of the local index)."""
    s0, s1 = 1 << (n - 1 - w0), 1 << (n - 1 - w1)
    lo, hi = min(n - 1 - w0, n - 1 - w1), max(n - 1 - w0, n - 1 - w1)
    u = np.empty((4, 4), dtype=np.complex128)
    for a in range(4):
        for b in range(4):
            u[a, b] = scale * m[a, b]
    for i in range(1 << (n - 2)):
        x = ((i >> lo) << (lo + 1)) | (i & ((1 << lo) - 1))
        x = ((x >> hi) << (hi + 1)) | (x & ((1 << hi) - 1))
        a0, a1, a2, a3 = psi[x], psi[x + s1], psi[x + s0], psi[x + s0 + s1]
        psi[x] = u[0, 0] * a0 + u[0, 1] * a1 + u[0, 2] * a2 + u[0, 3] * a3
        psi[x + s1] = u[1, 0] * a0 + u[1, 1] * a1 + u[1, 2] * a2 + u[1, 3] * a3
        psi[x + s0] = u[2, 0] * a0 + u[2, 1] * a1 + u[2, 2] * a2 + u[2, 3] * a3
        psi[x + s0 + s1] = u[3, 0] * a0 + u[3, 1] * a1 + u[3, 2] * a2 + u[3, 3] * a3


@njit(cache=True)
def _apply(psi, n, ops, t, m, scale, off, bits, v):
    k = ops[t, O_NW]
    if k == 1:
        _apply1(psi, n, ops[t, O_W0], m, scale)
        return
    if k == 2:
        _apply2(psi, n, ops[t, O_W0], ops[t, O_W1], m, scale)
        return
    d = 1 << k
    for i in range(_layout(n, ops, t, off, bits)):
        b = _base(i, bits, k)
        for a in range(d):
            v[a] = psi[b + off[a]]
        for a in range(d):
            s = 0j
            for c in range(d):
                s += m[a, c] * v[c]
            psi[b + off[a]] = scale * s


@njit(cache=True)
def _reduced(psi, n, ops, t, off, bits, rho):
    k = ops[t, O_NW]
    d = 1 << k
    rho[:, :] = 0.0
    for i in range(_layout(n, ops, t, off, bits)):
        b = _base(i, bits, k)
        for a in range(d):
            for c in range(d):
                rho[a, c] += psi[b + off[a]] * np.conj(psi[b + off[c]])


@njit(cache=True)
def _trajectory(psi, n, ops, us, kraus, probs, identity, ch_lo, ch_hi, mixed, u):
    off = np.empty(8, dtype=np.int64)
    bits = np.empty(3, dtype=np.int64)
    v = np.empty(8, dtype=np.complex128)
    rho = np.empty((8, 8), dtype=np.complex128)
    q = 0
    for t in range(ops.shape[0]):
        if ops[t, O_TYPE] == 0:
            _apply(psi, n, ops, t, us[ops[t, O_ID]], 1.0, off, bits, v)
            continue
        ch = ops[t, O_ID]
        r = u[q]
        q += 1
        lo, hi = ch_lo[ch], ch_hi[ch]
        if mixed[ch]:  # branch probabilities do not depend on the state
            pick = hi - 1
            acc = 0.0
            for i in range(lo, hi):
                acc += probs[i]
                if r < acc:
                    pick = i
                    break
            if not identity[pick]:
                _apply(psi, n, ops, t, kraus[pick], 1.0, off, bits, v)
            continue
        d = 1 << ops[t, O_NW]
        _reduced(psi, n, ops, t, off, bits, rho)
        pick, p_pick, acc = -1, 0.0, 0.0
        for i in range(lo, hi):
            p = 0.0  # |K psi|^2 = Tr(K rho K^dag)
            for a in range(d):
                for b in range(d):
                    for c in range(d):
                        p += (kraus[i, a, b] * rho[b, c] * np.conj(kraus[i, a, c])).real
            if p <= 0.0:
                continue
            acc += p
            pick, p_pick = i, p
            if r < acc:
                break
        _apply(psi, n, ops, t, kraus[pick], 1.0 / np.sqrt(p_pick), off, bits, v)


@njit(cache=True, parallel=True)
def _run(states, n, ops, us, rows, kraus, probs, identity, ch_lo, ch_hi, mixed, u):
    for j in prange(states.shape[0]):
        states[j, :] = 0.0
        states[j, 0] = 1.0
        _trajectory(states[j], n, ops, us[rows[j]], kraus, probs, identity, ch_lo,
                    ch_hi, mixed, u[j])


def _rotate(states: np.ndarray, m: np.ndarray, w: int, n: int) -> np.ndarray:
    t = states.reshape(states.shape[0], 2**w, 2, 2 ** (n - 1 - w))
    return np.einsum("ij,bajc->baic", m, t).reshape(states.shape)


class TrajectorySimulator:
    """Noisy expectations from ``trajectories`` Monte-Carlo wave functions per sample.

    Same measurement conventions as :class:`~q_store.sim.DensityMatrixSimulator` (readout
    errors included), so its exact values are what the estimates converge to. ``seed``: an int
    or Generator; each call draws fresh numbers from it (None: from OS entropy).
    """

    name = "trajectories"

    def __init__(self, noise_model: NoiseModel | None = None, *, trajectories: int = 1000,
                 seed: int | np.random.Generator | None = None,
                 threads: int | None = None) -> None:
        if noise_model is not None and not isinstance(noise_model, NoiseModel):
            raise ValidationError(f"noise_model must be a NoiseModel or None, got {noise_model!r}")
        if (not isinstance(trajectories, numbers.Integral) or isinstance(trajectories, bool)
                or trajectories < 2):
            raise ValidationError(f"trajectories must be an integer >= 2 (the standard error "
                                  f"needs two), got {trajectories!r}")
        available = numba.config.NUMBA_NUM_THREADS
        if threads is not None and (not isinstance(threads, numbers.Integral)
                                    or not 1 <= threads <= available):
            raise ValidationError(f"threads must be an integer from 1 to {available}, "
                                  f"got {threads!r}")
        self.noise_model = noise_model or NoiseModel()
        self.trajectories = int(trajectories)
        self.rng = np.random.default_rng(seed)
        self.threads = int(threads) if threads else available

    def __repr__(self) -> str:
        return (f"TrajectorySimulator({self.noise_model!r}, "
                f"trajectories={self.trajectories})")

    def _values(self, states: np.ndarray, obs: tuple[Observable, ...], n: int) -> np.ndarray:
        """Per-trajectory measured values ``(T, K)`` (readout errors as on hardware), term by
        term on each term's wires: readout errors act wire by wire, so this equals measuring
        the whole register (the density simulator's route for diagonal observables) without
        its ``n 2**n`` readout cost per trajectory."""
        nm = self.noise_model
        out = np.zeros((states.shape[0], len(obs)))
        for k, o in enumerate(obs):
            for term in o.terms if isinstance(o, PauliSum) else (o,):
                if isinstance(term, PauliString) and not term.paulis:
                    out[:, k] += term.coeff
                    continue
                rotated = states
                for w, letter in term.paulis if isinstance(term, PauliString) else ():
                    if letter in _BASIS:
                        rotated = _rotate(rotated, _BASIS[letter], w, n)
                ws = tuple(term.wires)
                p = nm.apply_readout(marginal_probabilities(np.abs(rotated) ** 2, n, ws), ws)
                if isinstance(term, Projector):
                    out[:, k] += p[:, int("".join(map(str, term.bits)), 2)]
                else:
                    idx = np.arange(2 ** len(ws))
                    parity = np.array([1.0 - 2.0 * (bin(i).count("1") % 2) for i in idx])
                    out[:, k] += term.coeff * (p @ parity)
        return out

    def expectation(self, circuit: Circuit, observables: Observable | Sequence[Observable],
                    weights: object = None, inputs: object = None) -> TrajectoryResult:
        """Trajectory estimates of ``<O_k>``: values and standard errors ``(B, K)`` (or
        ``(K,)`` unbatched; scalars for one observable)."""
        if not isinstance(circuit, Circuit):
            raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
        n = circuit.n_qubits
        if n > MAX_QUBITS:
            raise ValidationError(f"{n} qubits exceed the trajectory limit of {MAX_QUBITS}")
        obs, single = _as_observables(observables)
        for o in obs:
            o.check_wires(n)
        batch = resolve_batch(circuit, weights, inputs)
        angles = np.ascontiguousarray(parameter_map_for(circuit).angles(batch), dtype=float)
        prog = _program(circuit, self.noise_model)
        us = _unitaries(circuit, angles)
        size, nt = batch.size, self.trajectories
        total = size * nt
        u = self.rng.random((total, max(prog.n_channel_ops, 1)))
        sums = np.zeros((size, len(obs)))
        squares = np.zeros((size, len(obs)))
        chunk = max(1, _CHUNK_AMPLITUDES // 2**n)
        for s in range(0, total, chunk):
            idx = np.arange(s, min(total, s + chunk))
            sample = idx // nt
            rows = sample if angles.shape[0] > 1 else np.zeros(len(idx), dtype=np.int64)
            states = np.empty((len(idx), 2**n), dtype=np.complex128)
            with kernel_threads(self.threads):
                _run(states, n, prog.ops, us, rows, prog.kraus, prog.probs,
                     prog.identity, prog.ch_lo, prog.ch_hi, prog.mixed, u[idx])
            vals = self._values(states, obs, n)
            np.add.at(sums, sample, vals)
            np.add.at(squares, sample, vals**2)
        mean = sums / nt
        var = np.maximum(squares / nt - mean**2, 0.0) * nt / (nt - 1)
        err = np.sqrt(var / nt)
        if not batch.batched:
            mean, err = mean[0], err[0]
        if single:
            mean, err = mean[..., 0], err[..., 0]
        return TrajectoryResult(mean, err, nt)

    def sample(self, circuit: Circuit, shots: int,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Counts ``(2**n,)`` (big-endian basis-state index) of ``shots`` measurements of a
        bound circuit, one trajectory per shot, readout errors applied bit by bit.

        Each shot is an exact sample of the noisy measured distribution (the density matrix's
        :meth:`~q_store.sim.DensityMatrixSimulator.probabilities`): the only error is shot
        noise, ``sqrt(p_k (1 - p_k) / shots)`` on the frequency of outcome ``k``. ``rng``: the
        generator the channel branches, outcomes and readout flips are drawn from, chunk by
        chunk in a fixed order (None: this simulator's own), so a seed reproduces the counts.
        Memory stays bounded: trajectories run in chunks of at most ``2**22`` amplitudes (and
        as many random numbers).
        """
        if not isinstance(circuit, Circuit):
            raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
        if (not isinstance(shots, numbers.Integral) or isinstance(shots, bool)
                or shots < 1):
            raise ValidationError(f"shots must be a positive integer, got {shots!r}")
        n = circuit.n_qubits
        if n > MAX_QUBITS:
            raise ValidationError(f"{n} qubits exceed the trajectory limit of {MAX_QUBITS}")
        rng = self.rng if rng is None else rng
        batch = resolve_batch(circuit, None, None)
        angles = np.ascontiguousarray(parameter_map_for(circuit).angles(batch), dtype=float)
        prog = _program(circuit, self.noise_model)
        us = _unitaries(circuit, angles[:1])
        flips = self._readout_flips(n)
        counts = np.zeros(2**n, dtype=np.int64)
        draws = max(prog.n_channel_ops, n, 1)  # random numbers per trajectory, about
        chunk = max(1, min(_CHUNK_AMPLITUDES // 2**n, _CHUNK_AMPLITUDES // draws))
        for s in range(0, int(shots), chunk):
            t = min(int(shots), s + chunk) - s
            u = rng.random((t, max(prog.n_channel_ops, 1)))
            states = np.empty((t, 2**n), dtype=np.complex128)
            with kernel_threads(self.threads):
                _run(states, n, prog.ops, us, np.zeros(t, dtype=np.int64), prog.kraus,
                     prog.probs, prog.identity, prog.ch_lo, prog.ch_hi, prog.mixed, u)
            cdf = np.cumsum(np.abs(states) ** 2, axis=1)
            r = rng.random(t) * cdf[:, -1]  # the norm is 1 up to rounding
            outcome = np.minimum((cdf < r[:, None]).sum(axis=1), 2**n - 1)
            if flips is not None:
                outcome = _misread(outcome, flips, n, rng)
            counts += np.bincount(outcome, minlength=2**n)
        return counts

    def _readout_flips(self, n: int) -> np.ndarray | None:
        """Per wire ``(P(read 1 | 0), P(read 0 | 1))``, ``(n, 2)``; None without readout
        errors."""
        nm = self.noise_model
        if not nm.has_readout_error:
            return None
        out = np.zeros((n, 2))
        for w in range(n):
            err = nm.readout(w)
            if err is not None:
                out[w] = err.p1_given_0, err.p0_given_1
        return out


def _misread(outcome: np.ndarray, flips: np.ndarray, n: int,
             rng: np.random.Generator) -> np.ndarray:
    """Each measured bit flipped with its wire's readout error probability (given its value)."""
    shift = n - 1 - np.arange(n)
    bits = (outcome[:, None] >> shift) & 1  # (T, n), wire 0 first
    p = np.where(bits == 1, flips[:, 1], flips[:, 0])
    flip = (rng.random(bits.shape) < p).astype(np.int64)
    return outcome ^ (flip << shift).sum(axis=1)
