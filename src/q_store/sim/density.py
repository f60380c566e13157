"""The noisy density-matrix simulator (the ``mock_noisy`` backend's engine).

A batch of density matrices is a tensor ``(B, 2, ..., 2)`` with ``2n`` wire axes after the batch
axis: ket wires ``0..n-1`` then bra wires (big-endian, wire 0 is the top bit). A gate maps
``rho -> U rho U^dag`` (``U`` on the ket axes, ``conj(U)`` on the bra axes) and each channel
after it ``rho -> sum_i K_i rho K_i^dag``; both are fused into one superoperator
(``U (x) conj(U)``, then ``sum_i K_i (x) conj(K_i)``) contracted with the (ket, bra) axes of the
gate's wires, one tensor product per gate.

Measurement follows hardware: readout errors corrupt measured probabilities. Diagonal
observables (Z strings and sums of them, projectors) are evaluated on the readout-corrupted
computational-basis probabilities; any other Pauli term is measured in its eigenbasis (X via H,
Y via S^dag then H), with the same readout errors, as its parity. Without readout error every
expectation is exactly ``Tr(rho O)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from q_store.circuit.gates import gate_spec
from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.circuit.params import resolve_batch
from q_store.errors import StateError, ValidationError
from q_store.sim.measure import _diagonal, marginal_probabilities, sample_bits
from q_store.sim.noise import KrausChannel, NoiseModel
from q_store.sim.sampling import SamplingMixin, check_shots
from q_store.sim.statevector import _as_observables, _shape, parameter_map_for

__all__ = ["MAX_QUBITS", "DensityMatrixSimulator"]

MAX_QUBITS = 12  # 4**12 complex entries = 256 MiB per density matrix; practical up to ~10
_CHUNK_ENTRIES = 2**22  # density-matrix entries evolved at once (64 MiB)
_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
_BASIS = {"X": _H, "Y": _H @ np.diag([1, -1j])}  # eigenbasis -> computational basis


def _apply(t: np.ndarray, mat: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """``mat (Bm, d, d)`` applied to the size-2 axes ``axes`` of ``t (B, ...)``."""
    rest = [a for a in range(1, t.ndim) if a not in axes]
    perm = [0, *rest, *axes]
    flat = t.transpose(perm).reshape(t.shape[0], -1, mat.shape[-1])
    out = np.matmul(flat, np.swapaxes(mat, -1, -2))
    shape = [t.shape[a] for a in perm[1:]]
    return out.reshape(out.shape[0], *shape).transpose(np.argsort(perm))


def _conjugate(rho: np.ndarray, u: np.ndarray, wires: tuple[int, ...], n: int) -> np.ndarray:
    """``U rho U^dag`` for ``U (Bm, d, d)`` on ``wires``."""
    rho = _apply(rho, u, [1 + w for w in wires])
    return _apply(rho, u.conj(), [1 + n + w for w in wires])


def _superop(u: np.ndarray, channels: list[tuple[KrausChannel, tuple[int, ...]]],
             wires: tuple[int, ...]) -> np.ndarray:
    """``(Bm, 4**k, 4**k)`` superoperator of gate ``u (Bm, 2**k, 2**k)`` followed by
    ``channels`` (on some of the gate's wires), on the index (ket wires, bra wires)."""
    bm, d = u.shape[0], u.shape[1]
    k = len(wires)
    s = np.einsum("bij,bkl->bikjl", u, u.conj()).reshape(bm, *(2,) * (2 * k), d * d)
    for ch, ws in channels:
        pos = [wires.index(w) for w in ws]
        s = _apply(s, ch.superop[None], [1 + j for j in pos] + [1 + k + j for j in pos])
    return s.reshape(bm, d * d, d * d)


def _diag(rho: np.ndarray, n: int) -> np.ndarray:
    """Computational-basis probabilities ``(B, 2**n)`` of a density tensor."""
    d = 2**n
    return np.clip(np.einsum("bii->bi", rho.reshape(-1, d, d)).real, 0.0, None)


def _parity(k: int) -> np.ndarray:
    idx = np.arange(2**k)
    bits = (idx[:, None] >> np.arange(k)) & 1
    return 1.0 - 2.0 * (bits.sum(axis=1) % 2)


class DensityMatrixSimulator(SamplingMixin):
    """Mixed-state simulator of :class:`Circuit` templates under a :class:`NoiseModel`.

    Every method takes ``weights`` (``(n_w,)`` or ``(B, n_w)``) and ``inputs`` (``(n_x,)`` or
    ``(B, n_x)``) like :class:`~q_store.sim.StatevectorSimulator`; results carry a leading batch
    axis when either is 2-D. ``initial_state``: state vector(s) replacing |0...0>.
    """

    name = "density_matrix"

    def __init__(self, noise_model: NoiseModel | None = None) -> None:
        if noise_model is not None and not isinstance(noise_model, NoiseModel):
            raise ValidationError(f"noise_model must be a NoiseModel or None, got {noise_model!r}")
        self.noise_model = noise_model or NoiseModel()

    def __repr__(self) -> str:
        return f"DensityMatrixSimulator({self.noise_model!r})"

    # -- evolution ------------------------------------------------------------------------------
    def _program(self, circuit: Circuit, angles: np.ndarray
                 ) -> list[tuple[np.ndarray, tuple[int, ...]]]:
        """Per gate: its superoperator with the noise after it, ``(Bm, 4**k, 4**k)`` (Bm = 1
        where the angles are shared by all rows), and its wires."""
        steps, col = [], 0
        for op in circuit.operations:
            spec = gate_spec(op.gate)
            p = angles[:, col:col + spec.num_params]
            col += spec.num_params
            if spec.num_params == 0:
                mat = spec.matrix()[None]
            else:
                mat = spec.matrix(p[:1] if np.all(p == p[0]) else p)
            channels = self.noise_model.channels_after(spec.name, op.wires)
            steps.append((_superop(mat, channels, op.wires), op.wires))
        return steps

    def _evolve(self, n: int, steps: list[tuple[np.ndarray, tuple[int, ...]]],
                states: np.ndarray | None) -> np.ndarray:
        if states is None:
            rho = np.zeros((1, 2**n, 2**n), dtype=np.complex128)
            rho[:, 0, 0] = 1.0
        else:
            rho = states[:, :, None] * states[:, None, :].conj()
        rho = rho.reshape(rho.shape[0], *(2,) * (2 * n))
        for sop, wires in steps:
            rho = _apply(rho, sop, [1 + w for w in wires] + [1 + n + w for w in wires])
        return rho

    def _map(self, circuit: Circuit, angles: np.ndarray, initial_state: object,
             fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``fn`` of the final density tensors, one row per angle row (or initial state),
        evolved in memory-bounded chunks."""
        n = circuit.n_qubits
        if circuit.n_qubits > MAX_QUBITS:
            raise ValidationError(f"{n} qubits exceed the density-matrix limit of {MAX_QUBITS}")
        states = self._initial(n, initial_state)
        rows = max(angles.shape[0], 1 if states is None else states.shape[0])
        if states is not None and 1 < angles.shape[0] != states.shape[0]:
            raise StateError(f"initial_state has {states.shape[0]} rows for {angles.shape[0]} "
                             "parameter rows")
        angles = np.broadcast_to(angles, (rows, angles.shape[1]))
        if states is not None:
            states = np.broadcast_to(states, (rows, states.shape[1]))
        chunk = max(1, _CHUNK_ENTRIES // 4**n)
        out = []
        for s in range(0, rows, chunk):
            sl = slice(s, s + chunk)
            steps = self._program(circuit, angles[sl])
            out.append(fn(self._evolve(n, steps, None if states is None else states[sl])))
        return np.concatenate(out)

    @staticmethod
    def _initial(n: int, initial_state: object) -> np.ndarray | None:
        if initial_state is None:
            return None
        dim = 2**n
        arr = np.array(initial_state, dtype=np.complex128)
        if arr.ndim not in (1, 2) or arr.shape[-1] != dim:
            raise StateError(f"initial_state must have shape ({dim},) or (B, {dim}) for {n} "
                             f"qubits, got {arr.shape}")
        arr = arr.reshape(-1, dim)
        if not np.all(np.isfinite(arr)):
            raise StateError("initial_state amplitudes must be finite; found NaN or infinity")
        if np.any(np.abs(np.linalg.norm(arr, axis=1) - 1.0) > 1e-8):
            raise StateError("initial_state must be normalised (norm 1 within 1e-8)")
        return arr

    def _run(self, circuit: Circuit, weights: object, inputs: object, initial_state: object,
             fn: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, bool]:
        """``fn`` per sample of the batch ``(B, ...)`` and whether the call was batched."""
        if not isinstance(circuit, Circuit):
            raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
        batch = resolve_batch(circuit, weights, inputs)
        state_rows = np.shape(initial_state)[0] if np.ndim(initial_state) == 2 else 1
        if 1 < batch.size != state_rows > 1:
            raise StateError(f"initial_state batch {state_rows} does not match batch "
                             f"{batch.size}")
        angles = parameter_map_for(circuit).angles(batch)
        out = self._map(circuit, angles, initial_state, fn)
        batched = batch.batched or np.ndim(initial_state) == 2
        if batch.size > out.shape[0]:
            out = np.broadcast_to(out, (batch.size, *out.shape[1:])).copy()
        return out, batched

    # -- measurement ---------------------------------------------------------------------------
    def _readout(self, probs: np.ndarray, wires: Sequence[int]) -> np.ndarray:
        """Readout errors of ``wires`` applied to probabilities over those wires."""
        return self.noise_model.apply_readout(probs, wires)

    def _probs(self, rho: np.ndarray, n: int) -> np.ndarray:
        return self._readout(_diag(rho, n), range(n))

    def _term_probs(self, rho: np.ndarray, term: PauliString | Projector, n: int) -> np.ndarray:
        """Measured probabilities over the wires of ``term``, in its eigenbasis."""
        for w, letter in term.paulis if isinstance(term, PauliString) else ():
            if letter in _BASIS:
                rho = _conjugate(rho, _BASIS[letter][None], (w,), n)
        wires = term.wires
        return self._readout(marginal_probabilities(_diag(rho, n), n, wires), wires)

    def _expectations(self, rho: np.ndarray, obs: tuple[Observable, ...], n: int,
                      shots: int | None, rng: np.random.Generator | None) -> np.ndarray:
        out = np.zeros((rho.shape[0], len(obs)))
        probs = None
        for k, o in enumerate(obs):
            diag = _diagonal(o, n) if shots is None else None
            if diag is not None:
                probs = self._probs(rho, n) if probs is None else probs
                out[:, k] = probs @ diag
                continue
            for term in o.terms if isinstance(o, PauliSum) else (o,):
                if isinstance(term, PauliString) and not term.paulis:
                    out[:, k] += term.coeff
                    continue
                p = self._term_probs(rho, term, n)
                if isinstance(term, Projector):
                    match = int("".join(map(str, term.bits)), 2)
                    if shots is None:
                        out[:, k] += p[:, match]
                    else:
                        bits = sample_bits(p, shots, len(term.wires), rng)
                        out[:, k] += np.all(bits == np.array(term.bits, dtype=np.int8),
                                            axis=2).mean(axis=1)
                    continue
                if shots is None:
                    ev = p @ _parity(len(term.wires))
                else:
                    bits = sample_bits(p, shots, len(term.wires), rng)
                    ev = (1.0 - 2.0 * (bits.sum(axis=2) % 2)).mean(axis=1)
                out[:, k] += term.coeff * ev
        return out

    @staticmethod
    def _observables(observables: object, n: int) -> tuple[tuple[Observable, ...], bool]:
        obs, single = _as_observables(observables)
        for o in obs:
            o.check_wires(n)
        return obs, single

    # -- public API ------------------------------------------------------------------------------
    def density_matrix(self, circuit: Circuit, weights: object = None, inputs: object = None,
                       initial_state: object = None) -> np.ndarray:
        """Final density matrices ``(B, 2**n, 2**n)`` (or ``(2**n, 2**n)`` unbatched)."""
        d = 2**circuit.n_qubits
        out, batched = self._run(circuit, weights, inputs, initial_state,
                                 lambda rho: rho.reshape(-1, d, d).copy())
        return out if batched else out[0]

    def expectation(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
                    weights: object = None, inputs: object = None,
                    initial_state: object = None) -> np.ndarray:
        """``<O_k>`` as ``(B, K)`` (or ``(K,)`` unbatched; a scalar for one observable), with
        readout errors as measured on hardware (module docstring)."""
        n = circuit.n_qubits
        obs, single = self._observables(observables, n)
        out, batched = self._run(circuit, weights, inputs, initial_state,
                                 lambda rho: self._expectations(rho, obs, n, None, None))
        return _shape(out, batched, single)

    def probabilities(self, circuit: Circuit, weights: object = None, inputs: object = None,
                      wires: Sequence[int] | None = None,
                      initial_state: object = None) -> np.ndarray:
        """Measured basis-state probabilities (readout errors included), optionally marginal over
        ``wires`` (first wire = top bit)."""
        n = circuit.n_qubits
        ws = None if wires is None else tuple(wires)
        out, batched = self._run(circuit, weights, inputs, initial_state,
                                 lambda rho: marginal_probabilities(self._probs(rho, n), n, ws))
        return out if batched else out[0]

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: Observable | Sequence[Observable] | str, *,
                           shots: int | None = None,
                           seed: int | np.random.Generator | None = None,
                           initial_state: object = None) -> np.ndarray:
        """``<O_k>`` for explicit gate angles ``(R, n_params)`` (one circuit run per row, the
        executor contract of gradient methods): ``(R, K)``; with ``shots``, sampled estimates
        (each Pauli term in its own basis)."""
        if not isinstance(circuit, Circuit):
            raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
        n = circuit.n_qubits
        obs, _ = self._observables(observables, n)
        try:
            angles = np.asarray(angles, dtype=float)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"angles must be an array of real numbers: {e}") from None
        p = circuit.num_gate_params
        if angles.ndim != 2 or angles.shape[1] != p or angles.shape[0] == 0:
            raise ValidationError(f"angles must have shape (R, {p}) with R >= 1, "
                                  f"got {angles.shape}")
        if not np.all(np.isfinite(angles)):
            raise ValidationError("angles must be finite; found NaN or infinity")
        if shots is not None:
            shots = check_shots(shots)
        rng = np.random.default_rng(seed)
        return self._map(circuit, angles, initial_state,
                         lambda rho: self._expectations(rho, obs, n, shots, rng))
