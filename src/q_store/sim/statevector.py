"""The exact batched state-vector simulator.

Many inputs and/or many weight vectors go through one call: states are ``(B, 2**n)``, batch
first. The execution strategy is picked per call: one sample per thread for batches of small
states, cache-blocked runs of gates split across threads for a single large state, and for a
large batch of a deep circuit the data-independent unitary applied with one matrix product.
Every call uses at most ``threads`` threads, and no more than the cores other processes leave
free (:mod:`q_store.sim.threads`).
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import replace

import numba
import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, as_observable
from q_store.circuit.params import Batch, as_real_array, parameter_map_for, resolve_batch
from q_store.errors import StateError, ValidationError
from q_store.execution.cache import CircuitCache
from q_store.sim import blocked as BL
from q_store.sim import kernels as K
from q_store.sim import simd as S
from q_store.sim.measure import expectations, marginal_probabilities, observable_terms
from q_store.sim.memory import check_memory
from q_store.sim.program import BoundTape
from q_store.sim.sampling import SamplingMixin, check_shots
from q_store.sim.threads import configure_threading, free_cores, threads_for

__all__ = [
    "MAX_QUBITS",
    "StatevectorSimulator",
    "normalize_state",
    "parameter_map_for",
]

MAX_QUBITS = 30
_SINGLE_STATE_QUBITS = 14  # from here on a state is split across threads in cache blocks
_SERIAL_WORK = 2**17  # amplitude-block updates below which threads cost more than they save
# states below _SINGLE_STATE_QUBITS go through the batch-inner kernels from this many samples
# on: all of them, so that a sample's result never depends on the batch it came in (a lone
# 12-qubit sample runs ~2x slower than in the per-sample kernels, ~0.3 ms)
SIMD_MIN_BATCH = 1
SIMD_MIN_PARALLEL_TILES = 2  # full tiles per thread before a batch is split across threads


def _serial(rows: int, n: int, n_blocks: int) -> bool:
    return rows * 2**n * max(1, n_blocks) < _SERIAL_WORK


def _chunked(rows: int, n: int, max_threads: int) -> bool:
    """Large states go through the cache-blocked kernels one at a time unless there are enough
    of them for one state per thread. Depends on the user's thread cap, not on the load, so the
    load never changes which kernel (and which rounding) a call gets."""
    return n >= _SINGLE_STATE_QUBITS and (rows < max_threads or max_threads == 1)


_NO_TERMS = (np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.int64),
             np.zeros((0, 1), dtype=np.complex128))


def simd_path(n: int, rows: int) -> bool:
    """Whether ``rows`` states of ``n`` qubits go through the batch-inner kernels."""
    return n < _SINGLE_STATE_QUBITS and rows >= SIMD_MIN_BATCH


def simd_parallel(rows: int, n: int, n_blocks: int, threads: int) -> bool:
    """Whether the batch-inner kernels split a batch across threads: only when every thread
    gets at least ``SIMD_MIN_PARALLEL_TILES`` full tiles; with fewer, shorter tiles and the
    parallel region cost more than the second thread saves (a digits training step, 16
    samples of 6 qubits: 1.7x slower on two threads than on one)."""
    return (threads > 1 and not _serial(rows, n, n_blocks)
            and rows >= threads * SIMD_MIN_PARALLEL_TILES * S.TILE)


def simd_tile(rows: int, threads: int) -> int:
    """Samples per tile: ``S.TILE``, fewer when that would leave threads without a tile."""
    return max(1, min(S.TILE, -(-rows // threads)))


free_cores()  # the first reading: the load window of the first call starts at import


_DEFAULT_CACHE = CircuitCache(256)


def normalize_state(state: object, n_qubits: int | None = None) -> np.ndarray:
    """A validated, normalised copy of one state ``(2**n,)`` or a batch ``(B, 2**n)``."""
    try:
        arr = np.array(state, dtype=np.complex128)
    except (TypeError, ValueError) as e:
        raise StateError(f"state must be an array of numbers: {e}") from None
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise StateError(f"state must have shape (2**n,) or (B, 2**n), got {arr.shape}")
    d = arr.shape[-1]
    if d & (d - 1):
        raise StateError(f"state length must be a power of two, got {d}")
    if n_qubits is not None and d != 2**n_qubits:
        raise StateError(f"state length {d} does not match {n_qubits} qubits ({2**n_qubits})")
    if not np.all(np.isfinite(arr)):
        raise StateError("state amplitudes must be finite; found NaN or infinity")
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(norms < 1e-300):
        raise StateError("state has zero norm and cannot be normalised")
    return arr / norms


class StatevectorSimulator(SamplingMixin):
    """Exact simulator of :class:`Circuit` templates over batches of weights and inputs.

    Every method takes ``weights`` (``(n_w,)`` or ``(B, n_w)``) and ``inputs`` (``(n_x,)`` or
    ``(B, n_x)``); results carry a leading batch axis when either is 2-D. ``threads`` caps the
    threads of every call (default: numba's thread count); a call uses fewer when other
    processes keep cores busy.

    ``dtype=np.complex64`` stores states in single precision: half the memory, and states of
    14 qubits or more are evolved with float32 arithmetic (twice the SIMD width). Expect
    amplitudes and expectation values to about 1e-6 (rounding grows with the number of gates:
    ~1e-7 per gate pass) instead of 1e-15; gradients likewise. Batches of smaller states are
    still computed in double precision and only stored in single.
    """

    name = "statevector"
    STRATEGIES = ("auto", "gates", "unitary")

    DTYPES = (np.dtype(np.complex128), np.dtype(np.complex64))

    def __init__(self, *, threads: int | None = None, strategy: str = "auto",
                 cache: CircuitCache | None = None, dtype: object = np.complex128) -> None:
        try:
            dt = np.dtype(dtype)  # type: ignore[call-overload]
        except TypeError:
            dt = None
        if dt not in self.DTYPES:
            raise ValidationError(f"dtype must be complex128 or complex64, got {dtype!r}")
        self.dtype = dt
        if strategy not in self.STRATEGIES:
            raise ValidationError(f"strategy must be one of {self.STRATEGIES}, got {strategy!r}")
        available = numba.config.NUMBA_NUM_THREADS
        if threads is not None and (not isinstance(threads, numbers.Integral)
                                    or not 1 <= threads <= available):
            raise ValidationError(f"threads must be an integer from 1 to {available}, "
                                  f"got {threads!r}")
        self.threads = int(threads) if threads else available
        self.strategy = strategy
        self.cache = cache if cache is not None else _DEFAULT_CACHE

    # -- core --------------------------------------------------------------------------------
    def _prepare(self, circuit: Circuit, weights: object, inputs: object,
                 derivatives: bool = False) -> tuple[Batch, BoundTape]:
        check_circuit(circuit)
        batch = resolve_batch(circuit, weights, inputs)
        return batch, self._bind(circuit, batch, derivatives)

    def _bind(self, circuit: Circuit, batch: Batch, derivatives: bool = False) -> BoundTape:
        """The tape of ``batch``, resolved for ``circuit`` already (not checked again)."""
        self._set_threads()
        found = self.cache.find(circuit)
        compiled = found.template
        pm = compiled.parameters
        t0 = time.perf_counter()
        angles = pm.angles(batch)
        tape = compiled.program.bind(angles, pm.batched_columns(batch),
                                         derivatives=derivatives)
        self.cache.record(found, time.perf_counter() - t0)
        return tape

    def _set_threads(self) -> int:
        """Set (and return) this call's numba thread count: the cap, limited by free cores."""
        configure_threading()
        threads = threads_for(self.threads)
        if threads != numba.get_num_threads():
            numba.set_num_threads(threads)
        return threads

    def _initial(self, n: int, size: int, initial_state: object) -> tuple[np.ndarray, bool]:
        dim = 2**n
        if initial_state is None:
            check_state_memory(n, size, self.dtype.itemsize)
            states = np.zeros((size, dim), dtype=self.dtype)
            states[:, 0] = 1.0
            return states, False
        arr = np.asarray(initial_state, dtype=np.complex128)  # copied below
        if arr.ndim not in (1, 2) or arr.shape[-1] != dim:
            raise StateError(f"initial_state must have shape ({dim},) or (B, {dim}) for {n} "
                             f"qubits, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise StateError("initial_state amplitudes must be finite; found NaN or infinity")
        norms = np.linalg.norm(arr.reshape(-1, dim), axis=1)
        if (np.abs(norms - 1.0) > 1e-8).any():
            raise StateError("initial_state must be normalised (norm 1 within 1e-8); use "
                             "q_store.sim.normalize_state for non-zero vectors")
        if arr.ndim == 2 and size > 1 and arr.shape[0] != size:
            raise StateError(f"initial_state batch {arr.shape[0]} does not match batch {size}")
        batched = arr.ndim == 2
        rows = max(size, arr.shape[0] if batched else 1)
        check_state_memory(n, rows, self.dtype.itemsize)
        if arr.shape != (rows, dim):
            arr = np.broadcast_to(arr, (rows, dim))
        return np.array(arr, dtype=self.dtype, order="C"), batched

    def _run(self, n: int, states: np.ndarray, tape: BoundTape, from_zero: bool,
             observables: tuple[Observable, ...] | None = None) -> np.ndarray | None:
        """Evolve ``states`` in place; ``from_zero``: they are |0...0> (enables the
        product-state prefix, which overwrites them). With ``observables``, return their
        expectations ``(B, K)``; ``states`` may then be left unevolved (batch-inner kernels read
        the values off their own copy).

        Strategy: gate by gate, or, for a batch large compared with ``2**n`` whose circuit ends
        in a long stretch of gates shared by all samples, that stretch as one unitary applied
        with a single matrix product."""
        size = states.shape[0]
        if size > 1 and (self.strategy == "unitary"
                         or (self.strategy == "auto" and size >= 2 * 2**n)):
            split = split_shared_suffix(tape, from_zero)
            if split is not None and (self.strategy == "unitary"
                                      or len(split[1].blk) >= 2**n // 8):
                head, suffix = split
                self._run_gates(n, states, head, from_zero)
                u_t = np.eye(2**n, dtype=states.dtype)  # rows become U e_j: U transposed
                self._run_gates(n, u_t, suffix, False)
                np.matmul(states, u_t, out=states)
                return None if observables is None else expectations(states, observables, n)
        return self._run_gates(n, states, tape, from_zero, observables)

    def _run_gates(self, n: int, states: np.ndarray, tape: BoundTape, from_zero: bool,
                   observables: tuple[Observable, ...] | None = None) -> np.ndarray | None:
        args = (n, tape.blk, tape.pref, from_zero, tape.mem, tape.mats1, tape.mats2)
        threads = numba.get_num_threads()
        size = states.shape[0]
        if _chunked(size, n, self.threads):
            real, cplx = tile_types(states.dtype)
            for b in range(size):
                BL.forward_blocked(states[b], n, tape.blk, tape.pref, from_zero, tape.mem,
                                   tape.par, tape.mats1, tape.mats2,
                                   b if tape.rows > 1 else 0, threads,
                                   *BL.tile_bits(n, states.itemsize), real, cplx)
        elif simd_path(n, size):
            parallel = simd_parallel(size, n, len(tape.blk), threads)
            tile = simd_tile(size, threads if parallel else 1)
            if observables is None:
                terms, values = _NO_TERMS, np.zeros((size, 0))
            else:
                terms, values = observable_terms(observables, n), np.zeros((size, len(observables)))
            S.simd_forward(states, n, tape.blk, tape.pref, from_zero, tape.mem, tape.par,
                           tape.mats1, tape.mats2, *terms, values,
                           observables is None, tile, parallel)
            return None if observables is None else values
        elif threads == 1 or _serial(size, n, len(tape.blk)):
            K.forward_batch_serial(states, *args)
        else:
            K.forward_batch(states, *args)
        return None if observables is None else expectations(states, observables, n)

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], *, shots: int | None = None,
                           seed: int | np.random.Generator | None = None,
                           initial_state: object = None) -> np.ndarray:
        """``<O_k>`` for explicit gate angles ``(R, n_params)``: ``(R, K)``.

        The execution entry point of hardware-style gradient methods (parameter shift, finite
        differences, SPSA): every row is one circuit run. With ``shots``, estimates from samples.
        """
        obs, _ = _as_observables(observables)
        angles = as_real_array(angles, "angles", ValidationError)
        found = self.cache.find(circuit)
        compiled = found.template
        n_params = compiled.parameters.n_params
        if angles.ndim != 2 or angles.shape[1] != n_params:
            raise ValidationError(f"angles must have shape (R, {n_params}), got {angles.shape}")
        if not np.all(np.isfinite(angles)):
            raise ValidationError("angles must be finite; found NaN or infinity")
        self._set_threads()
        t0 = time.perf_counter()
        tape = compiled.program.bind(angles, np.full(n_params, angles.shape[0] > 1))
        self.cache.record(found, time.perf_counter() - t0)
        states, _ = self._initial(circuit.n_qubits, angles.shape[0], initial_state)
        if states.shape[0] != angles.shape[0]:
            raise StateError(f"initial_state has {states.shape[0]} rows for {angles.shape[0]} "
                             "angle rows")
        if shots is None:
            return self._run(circuit.n_qubits, states, tape, initial_state is None, obs)
        self._run(circuit.n_qubits, states, tape, initial_state is None)
        from q_store.sim.shots import estimate_expectations

        return estimate_expectations(self, states, obs, circuit.n_qubits, check_shots(shots),
                                     np.random.default_rng(seed))

    def evolve(self, circuit: Circuit, weights: object = None, inputs: object = None,
               initial_state: object = None) -> tuple[np.ndarray, Batch]:
        """Final states ``(B, 2**n)`` (always batched) and the resolved batch."""
        batch, tape = self._prepare(circuit, weights, inputs)
        states, state_batched = self._initial(circuit.n_qubits, batch.size, initial_state)
        if tape.rows > 1 and states.shape[0] != tape.rows:
            raise StateError("initial_state batch does not match the parameter batch")
        self._run(circuit.n_qubits, states, tape, initial_state is None)
        if state_batched and not batch.batched:
            batch = Batch(batch.weights, batch.inputs, states.shape[0], True)
        return states, batch

    # -- results -----------------------------------------------------------------------------
    def state(self, circuit: Circuit, weights: object = None, inputs: object = None,
              initial_state: object = None) -> np.ndarray:
        """Final state vector(s)."""
        states, batch = self.evolve(circuit, weights, inputs, initial_state)
        return states if batch.batched else states[0]

    def expectation(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
                    weights: object = None, inputs: object = None,
                    initial_state: object = None) -> np.ndarray:
        """``<O_k>`` as ``(B, K)`` (or ``(K,)`` unbatched; a scalar for one observable)."""
        obs, single = _as_observables(observables)
        batch, tape = self._prepare(circuit, weights, inputs)
        states, state_batched = self._initial(circuit.n_qubits, batch.size, initial_state)
        if tape.rows > 1 and states.shape[0] != tape.rows:
            raise StateError("initial_state batch does not match the parameter batch")
        vals = self._run(circuit.n_qubits, states, tape, initial_state is None, obs)
        return _shape(vals, batch.batched or state_batched, single)

    def probabilities(self, circuit: Circuit, weights: object = None, inputs: object = None,
                      wires: Sequence[int] | None = None,
                      initial_state: object = None) -> np.ndarray:
        """Basis-state probabilities, optionally marginal over ``wires`` (first wire = top bit)."""
        states, batch = self.evolve(circuit, weights, inputs, initial_state)
        probs = marginal_probabilities(states.real**2 + states.imag**2, circuit.n_qubits,
                                       None if wires is None else tuple(wires))
        return probs if batch.batched else probs[0]

    def sample_expectation(self, circuit: Circuit,
                           observables: Observable | Sequence[Observable] | str, shots: int,
                           weights: object = None, inputs: object = None,
                           seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Expectations estimated from ``shots`` measurements per measurement basis."""
        from q_store.sim.shots import estimate_expectations

        obs, single = _as_observables(observables)
        states, batch = self.evolve(circuit, weights, inputs)
        vals = estimate_expectations(self, states, obs, circuit.n_qubits, check_shots(shots),
                                     np.random.default_rng(seed))
        return _shape(vals, batch.batched, single)

    def unitary(self, circuit: Circuit, weights: object = None,
                inputs: object = None) -> np.ndarray:
        """The full ``(2**n, 2**n)`` unitary for one binding."""
        if circuit.n_qubits > 14:
            raise ValidationError(f"unitary of {circuit.n_qubits} qubits is too large (max 14)")
        check_memory(3 * 4**circuit.n_qubits * 16,
                     f"the unitary of a {circuit.n_qubits}-qubit circuit")
        batch, tape = self._prepare(circuit, weights, inputs)
        if batch.batched:
            raise ValidationError("unitary() takes one binding of weights and inputs")
        dim = 2**circuit.n_qubits
        states = np.eye(dim, dtype=np.complex128)
        self._run(circuit.n_qubits, states, tape, False)
        return states.T.copy()


def check_circuit(circuit: object) -> None:
    """A ValidationError unless ``circuit`` is a :class:`Circuit` this simulator can hold."""
    if not isinstance(circuit, Circuit):
        raise ValidationError(f"expected a Circuit, got {type(circuit).__name__}")
    if circuit.n_qubits > MAX_QUBITS:
        raise ValidationError(
            f"{circuit.n_qubits} qubits exceed the state-vector limit of {MAX_QUBITS}")


def check_state_memory(n: int, rows: int, itemsize: int = 16) -> None:
    """Refuse a batch of ``rows`` states of ``n`` qubits that will not fit in memory: the
    states (``itemsize`` bytes per amplitude) plus working arrays of the same size
    (probabilities, observables applied to the states)."""
    check_memory(2 * rows * 2**n * itemsize,
                 f"simulating {rows} state(s) of {n} qubits ({rows} x 2**{n} complex "
                 "amplitudes, plus working copies)")


_TILE_TYPES = {np.dtype(np.complex128): (np.empty(0), np.empty(0, dtype=np.complex128)),
               np.dtype(np.complex64): (np.empty(0, dtype=np.float32),
                                        np.empty(0, dtype=np.complex64))}


def tile_types(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Empty real and complex arrays that give the blocked kernels their precision."""
    return _TILE_TYPES[np.dtype(dtype)]


def split_shared_suffix(tape: BoundTape, from_zero: bool) -> tuple[BoundTape, BoundTape] | None:
    """Split a tape into a per-sample head and the longest suffix of blocks whose matrices are
    shared by the whole batch (None if there is no such suffix)."""
    blk, mem = tape.blk, tape.mem
    n_blocks = len(blk)
    varies = np.maximum.reduceat(mem[:, K.M_STRIDE], blk[:, K.K_MSTART]) > 0
    movable = blk[:, K.K_PREFIX].astype(bool) if from_zero else np.zeros(n_blocks, dtype=bool)
    moving = np.flatnonzero(varies & ~movable)
    last = int(moving[-1]) if len(moving) else -1
    suffix = np.array([t for t in range(last + 1, n_blocks) if not movable[t]], dtype=np.int64)
    if len(suffix) == 0:
        return None
    head = np.array([t for t in range(n_blocks) if t <= last or movable[t]], dtype=np.int64)
    where = {int(t): i for i, t in enumerate(head)}
    head_pref = np.array([where.get(int(t), -1) if t >= 0 else -1 for t in tape.pref],
                         dtype=np.int64)
    suf_blk = blk[suffix].copy()
    suf_blk[:, K.K_PREFIX] = 0
    no_pref = np.full_like(tape.pref, -1)
    return (replace(tape, blk=np.ascontiguousarray(blk[head]), pref=head_pref),
            replace(tape, blk=suf_blk, pref=no_pref))


def _as_observables(observables: object) -> tuple[tuple[Observable, ...], bool]:
    if isinstance(observables, (Observable, str)):
        return (as_observable(observables),), True
    if (type(observables) is tuple and observables
            and all(isinstance(o, Observable) for o in observables)):
        return observables, False  # a model's readout: as it is
    try:
        obs = tuple(as_observable(o) for o in observables)  # type: ignore[union-attr]
    except TypeError:
        raise ValidationError(f"expected observables, got {observables!r}") from None
    if not obs:
        raise ValidationError("at least one observable is required")
    return obs, False


def _shape(vals: np.ndarray, batched: bool, single: bool) -> np.ndarray:
    out = vals if batched else vals[0]
    return out[..., 0] if single else out
