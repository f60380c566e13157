"""The noisy density-matrix simulator (the ``mock_noisy`` backend's engine).

A circuit and its noise model are lowered once per circuit structure
(:mod:`q_store.sim.density_program`) to a tape of fused blocks that compiled kernels
(:mod:`q_store.sim.density_kernels`) apply to the state in its Pauli-coefficient form
``c_P = Tr(P rho)``, one sample per thread for batches. Gate matrices are built per sample from
the angles; channels never depend on them.

Measurement follows hardware: readout errors corrupt measured probabilities. Diagonal
observables (Z strings and sums of them, projectors) are evaluated on the readout-corrupted
computational-basis probabilities; any other Pauli term is measured in its eigenbasis, with the
same readout errors, as its parity. Without readout error every expectation is exactly
``Tr(rho O)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

import numba
import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.circuit.params import resolve_batch
from q_store.errors import StateError, ValidationError
from q_store.sim import density_kernels as D
from q_store.sim.density_measure import (
    coeffs_to_rho,
    marginal,
    states_to_coeffs,
    term_basis,
    zero_state,
)
from q_store.sim.density_program import NoisyTape, lower
from q_store.sim.measure import _diagonal, sample_bits
from q_store.sim.noise import NoiseModel
from q_store.sim.sampling import SamplingMixin, check_shots
from q_store.sim.statevector import _as_observables, _shape, parameter_map_for

__all__ = ["MAX_QUBITS", "DensityMatrixSimulator", "tape_for"]

MAX_QUBITS = 12  # 4**12 coefficients = 128 MiB per state; practical up to ~11
_CHUNK_ENTRIES = 2**23  # coefficients evolved at once (64 MiB)
# A lone state is split across threads only at the largest size: on the shared 2-core machine
# (a neighbour load of ~3) splitting was slower at 10 and 11 qubits (160 vs 62 ms, 560 vs 510
# ms), as every pass waits for its slowest thread.
SPLIT_QUBITS = 12


@contextmanager
def kernel_threads(threads: int) -> Iterator[None]:
    """Parallel kernels run on ``threads`` threads (1: serially), handing out one sample at a
    time (a thread on a busy core takes fewer). One compiled entry point serves every thread
    count, so a first run compiles each kernel once."""
    old_threads = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    old_chunk = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(old_chunk)
        numba.set_num_threads(old_threads)


def _parity(k: int) -> np.ndarray:
    idx = np.arange(2**k)
    bits = (idx[:, None] >> np.arange(k)) & 1
    return 1.0 - 2.0 * (bits.sum(axis=1) % 2)


@lru_cache(maxsize=256)
def _lowered(structure: tuple[int, tuple[tuple[str, tuple[int, ...]], ...]],
             noise_model: NoiseModel, version: int) -> NoisyTape:
    return lower(*structure, noise_model)


def tape_for(circuit: Circuit, noise_model: NoiseModel) -> NoisyTape:
    """The lowered tape of ``circuit``'s structure (gates and wires; angles are read per call),
    cached."""
    structure = (circuit.n_qubits, tuple((op.gate, op.wires) for op in circuit.operations))
    return _lowered(structure, noise_model, noise_model.version)


class DensityMatrixSimulator(SamplingMixin):
    """Mixed-state simulator of :class:`Circuit` templates under a :class:`NoiseModel`.

    Every method takes ``weights`` (``(n_w,)`` or ``(B, n_w)``) and ``inputs`` (``(n_x,)`` or
    ``(B, n_x)``) like :class:`~q_store.sim.StatevectorSimulator`; results carry a leading batch
    axis when either is 2-D. ``initial_state``: state vector(s) replacing |0...0>.
    ``threads``: kernel threads (default: numba's configured count); a batch runs one sample per
    thread (handed out one at a time), a lone state of ``SPLIT_QUBITS`` qubits splits each pass
    across threads.
    """

    name = "density_matrix"

    def __init__(self, noise_model: NoiseModel | None = None, *,
                 threads: int | None = None) -> None:
        if noise_model is not None and not isinstance(noise_model, NoiseModel):
            raise ValidationError(f"noise_model must be a NoiseModel or None, got {noise_model!r}")
        available = numba.config.NUMBA_NUM_THREADS
        if threads is not None and (not isinstance(threads, numbers.Integral)
                                    or isinstance(threads, bool)
                                    or not 1 <= threads <= available):
            raise ValidationError(f"threads must be an integer from 1 to {available}, "
                                  f"got {threads!r}")
        self.noise_model = noise_model or NoiseModel()
        self.threads = int(threads) if threads else available

    def __repr__(self) -> str:
        return f"DensityMatrixSimulator({self.noise_model!r})"

    # -- evolution ------------------------------------------------------------------------------
    def evolve_coefficients(self, tape: NoisyTape, angles: np.ndarray, rows: np.ndarray,
                            cs: np.ndarray) -> None:
        """Evolve coefficient rows ``cs (B, 4**n)`` in place, row ``b`` with angle row
        ``angles[rows[b]]`` (kernel entry point; inputs are trusted)."""
        n = tape.n_qubits
        m = tape.bind(angles)
        threads = self.threads if cs.shape[0] > 1 else 1
        if cs.shape[0] == 1 and n >= SPLIT_QUBITS:
            threads = self.threads
            with kernel_threads(threads):
                D.evolve_split(cs[0], n, tape.blk, m.mptm[rows[0]], m.gstore[rows[0]],
                               4 * threads)
            return
        with kernel_threads(threads):
            D.evolve_batch(cs, n, tape.blk, m.mptm, m.gstore, rows)

    def _map(self, circuit: Circuit, angles: np.ndarray, initial_state: object,
             fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``fn`` of the final coefficients, one row per angle row (or initial state), evolved
        in memory-bounded chunks."""
        n = circuit.n_qubits
        if n > MAX_QUBITS:
            raise ValidationError(f"{n} qubits exceed the density-matrix limit of {MAX_QUBITS}; "
                                  "beyond it, sample with Monte-Carlo trajectories "
                                  "(TrajectorySimulator, backend 'mock_noisy_trajectories')")
        states = self._initial(n, initial_state)
        rows = max(angles.shape[0], 1 if states is None else states.shape[0])
        if states is not None and 1 < angles.shape[0] != states.shape[0]:
            raise StateError(f"initial_state has {states.shape[0]} rows for {angles.shape[0]} "
                             "parameter rows")
        tape = tape_for(circuit, self.noise_model)
        angles = np.ascontiguousarray(angles, dtype=np.float64)
        start = None if states is not None else zero_state(n)
        chunk = max(1, _CHUNK_ENTRIES // 4**n)
        out = []
        for s in range(0, rows, chunk):
            idx = np.arange(s, min(rows, s + chunk))
            if states is None:
                cs = np.broadcast_to(start, (len(idx), 4**n)).copy()
            else:
                cs = states_to_coeffs(states[idx if states.shape[0] > 1 else [0] * len(idx)], n)
            if angles.shape[0] > 1:
                self.evolve_coefficients(tape, angles[idx], np.arange(len(idx)), cs)
            else:
                self.evolve_coefficients(tape, angles, np.zeros(len(idx), dtype=np.int64), cs)
            out.append(fn(cs))
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
    def _measured(self, cs: np.ndarray, n: int, wires: Sequence[int],
                  letters: Sequence[int]) -> np.ndarray:
        """Measured probabilities over ``wires`` in the bases ``letters``, readout included."""
        return self.noise_model.apply_readout(marginal(cs, n, wires, letters), wires)

    def _expectations(self, cs: np.ndarray, obs: tuple[Observable, ...], n: int,
                      shots: int | None, rng: np.random.Generator | None) -> np.ndarray:
        out = np.zeros((cs.shape[0], len(obs)))
        probs = None
        for k, o in enumerate(obs):
            diag = _diagonal(o, n) if shots is None else None
            if diag is not None:
                if probs is None:
                    probs = self._measured(cs, n, range(n), (3,) * n)
                out[:, k] = probs @ diag
                continue
            for term in o.terms if isinstance(o, PauliSum) else (o,):
                if isinstance(term, PauliString) and not term.paulis:
                    out[:, k] += term.coeff
                    continue
                p = self._measured(cs, n, *term_basis(term))
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
        n = circuit.n_qubits if isinstance(circuit, Circuit) else 0
        out, batched = self._run(circuit, weights, inputs, initial_state,
                                 lambda cs: coeffs_to_rho(cs, n))
        return out if batched else out[0]

    def expectation(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
                    weights: object = None, inputs: object = None,
                    initial_state: object = None) -> np.ndarray:
        """``<O_k>`` as ``(B, K)`` (or ``(K,)`` unbatched; a scalar for one observable), with
        readout errors as measured on hardware (module docstring)."""
        n = circuit.n_qubits
        obs, single = self._observables(observables, n)
        out, batched = self._run(circuit, weights, inputs, initial_state,
                                 lambda cs: self._expectations(cs, obs, n, None, None))
        return _shape(out, batched, single)

    def probabilities(self, circuit: Circuit, weights: object = None, inputs: object = None,
                      wires: Sequence[int] | None = None,
                      initial_state: object = None) -> np.ndarray:
        """Measured basis-state probabilities (readout errors included), optionally marginal over
        ``wires`` (first wire = top bit)."""
        n = circuit.n_qubits
        ws = tuple(range(n)) if wires is None else tuple(int(w) for w in wires)
        if len(set(ws)) != len(ws) or any(w < 0 or w >= n for w in ws):
            raise ValidationError(f"wires must be distinct and in 0..{n - 1}, got {ws}")
        out, batched = self._run(circuit, weights, inputs, initial_state,
                                 lambda cs: self._measured(cs, n, ws, (3,) * len(ws)))
        return out if batched else out[0]

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], *, shots: int | None = None,
                           seed: int | np.random.Generator | None = None,
                           initial_state: object = None) -> np.ndarray:
        """``<O_k>`` for explicit gate angles ``(R, n_params)`` (the execution entry point of
        gradient methods): ``(R, K)``; with ``shots``, sampled estimates
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
                         lambda cs: self._expectations(cs, obs, n, shots, rng))
