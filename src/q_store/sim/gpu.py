"""Experimental GPU state-vector simulation (CuPy): :class:`StatevectorSimulator`'s interface
with the states kept on a CUDA GPU. Install with ``pip install 'q-store[gpu]'``.

The code is written against an array module ``xp`` with NumPy's API. CuPy is the module on a
GPU, where gates are applied by the CUDA kernels of :mod:`q_store.sim.gpu_kernels` (one
in-place pass over the states per gate, one fused pass per adjoint step); with NumPy the same
simulator applies them with array operations (:func:`apply_matrices`, :func:`undo_gate`: the
kernels' reference), which is how the tests check this path against the compiled CPU simulator
(to 1e-12) where there is no GPU. Gate matrices come from the reference gate definitions
(:mod:`q_store.circuit.gates`), computed on the host for the whole batch at once and copied to
the device. Expectation values and the adjoint sweep (exact gradients) run on the device; only
results (values, gradients, or the states and probabilities asked for) are copied back.
Sampling with shots draws on the host from states or probabilities computed on the device.

The exact metric tensor (quantum Fisher information) runs on the device too, from tangent
states (each weight-carrying gate replaced by its derivative). Asking for the GPU without CuPy
or without a CUDA device raises :class:`~q_store.errors.NotSupportedError`: there is no
fallback to the CPU, and the CPU simulator's compiled-tape internals refuse to run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from q_store.circuit.gates import GateSpec, gate_spec
from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.circuit.params import Batch, as_real_array, parameter_map_for, resolve_batch
from q_store.errors import NotSupportedError, ResourceLimitError, StateError, ValidationError
from q_store.execution.cache import CircuitCache
from q_store.sim import gpu_kernels
from q_store.sim.adjoint import AdjointResult, _cotangent_for
from q_store.sim.measure import _check as _check_observables
from q_store.sim.memory import check_memory, format_bytes
from q_store.sim.sampling import check_shots
from q_store.sim.statevector import (
    StatevectorSimulator,
    _as_observables,
    _shape,
    check_circuit,
)

__all__ = ["GPUStatevectorSimulator", "apply_matrices", "cupy_module", "simulator_for_device",
           "undo_gate"]

_INSTALL = ("install CuPy for your CUDA version: pip install 'q-store[gpu]' (CUDA 12, "
            "cupy-cuda12x) or cupy-cuda13x")


def cupy_module() -> ModuleType:
    """CuPy, after checking that it imports and sees a CUDA device; NotSupportedError naming
    what is missing otherwise."""
    try:
        import cupy
    except ImportError as e:
        raise NotSupportedError(f"the GPU simulator needs CuPy, which is not importable ({e}); "
                                f"{_INSTALL}; or use the CPU simulator "
                                "(simulator_device='cpu')") from None
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # CUDARuntimeError, or a driver/library load failure
        raise NotSupportedError(f"the GPU simulator found no usable CUDA GPU: {e}; use the "
                                "CPU simulator (simulator_device='cpu')") from None
    if count < 1:
        raise NotSupportedError("the GPU simulator found no CUDA GPU; use the CPU simulator "
                                "(simulator_device='cpu')")
    return cupy


def simulator_for_device(device: str, *, cache: CircuitCache | None = None
                         ) -> StatevectorSimulator:
    """The exact simulator for ``device``: ``"cpu"`` (compiled kernels) or ``"gpu"`` (CuPy;
    NotSupportedError when CuPy or a GPU is missing)."""
    if device == "cpu":
        return StatevectorSimulator(cache=cache)
    if device == "gpu":
        return GPUStatevectorSimulator(cache=cache)
    raise ValidationError(f"simulator device must be 'cpu' or 'gpu', got {device!r}")


# -- the array-module code path -----------------------------------------------------------------
def apply_matrices(xp: ModuleType, states: Any, mats: Any, wires: Sequence[int], n: int) -> Any:
    """``states (R, 2**n)`` with the gate ``mats (Rm, d, d)`` (R a multiple of Rm, row ``r``
    taking matrix ``r % Rm``; d = 2**len(wires), first wire most significant) applied on
    ``wires``: a new ``(R, 2**n)`` array."""
    rows, k = states.shape[0], len(wires)
    if mats.shape[0] not in (1, rows):  # row r uses matrix r % Rm
        mats = xp.concatenate([mats] * (rows // mats.shape[0]))
    t = states.reshape((rows,) + (2,) * n)
    front = list(range(1, 1 + k))
    axes = [1 + w for w in wires]
    t = xp.moveaxis(t, axes, front)
    shape = t.shape
    out = xp.matmul(mats, t.reshape(rows, 2**k, -1)).reshape(shape)
    return xp.ascontiguousarray(xp.moveaxis(out, front, axes)).reshape(rows, 2**n)


def undo_gate(xp: ModuleType, phi: Any, lam: Any, mats: Any, derivs: Sequence[Any],
              wires: Sequence[int], n: int) -> tuple[Any, Any, Any]:
    """One adjoint step with array operations: ``(G^dag phi, G^dag lam, parts)`` with
    ``parts[:, j] = 2 Re <lam| dG_j G^dag phi>`` per row (``mats``, ``derivs[j]``:
    ``(Rm, d, d)``); the reference for :func:`q_store.sim.gpu_kernels.adjoint_step`."""
    dag = xp.conj(xp.swapaxes(mats, 1, 2))
    phi = apply_matrices(xp, phi, dag, wires, n)
    parts = xp.zeros((phi.shape[0], len(derivs)))
    if len(derivs):
        lam_c = xp.conj(lam)
        for j, d in enumerate(derivs):
            parts[:, j] = 2.0 * xp.sum(lam_c * apply_matrices(xp, phi, d, wires, n), axis=1).real
    return phi, apply_matrices(xp, lam, dag, wires, n), parts


def _axis_vector(xp: ModuleType, values: Sequence[complex], axis: int, ndim: int) -> Any:
    shape = [1] * ndim
    shape[axis] = 2
    return xp.asarray(np.asarray(values, dtype=np.complex128).reshape(shape))


def _apply_pauli_string(xp: ModuleType, states: Any, p: PauliString, n: int) -> Any:
    """``P psi``: X flips the wire's axis, Z multiplies it by (1, -1), Y does both (one pass
    over the state per letter)."""
    t = states.reshape((states.shape[0],) + (2,) * n)
    for w, letter in p.paulis:
        if letter in ("X", "Y"):
            t = xp.flip(t, axis=1 + w)
        if letter == "Y":  # Y = [[0, -i], [i, 0]]: after the flip, (-i, i)
            t = t * _axis_vector(xp, (-1j, 1j), 1 + w, n + 1)
        elif letter == "Z":
            t = t * _axis_vector(xp, (1.0, -1.0), 1 + w, n + 1)
    out = xp.ascontiguousarray(t).reshape(states.shape)
    return out * p.coeff if p.coeff != 1.0 else out


def apply_observable(xp: ModuleType, states: Any, obs: Observable, n: int) -> Any:
    """``O psi`` for every row of ``states (R, 2**n)`` on the device."""
    if isinstance(obs, Projector):
        t = states.reshape((states.shape[0],) + (2,) * n)
        keep: list[Any] = [slice(None)] * (n + 1)
        for b, w in zip(obs.bits, obs.wires, strict=True):
            keep[1 + w] = slice(b, b + 1)
        out = xp.zeros_like(t)
        out[tuple(keep)] = t[tuple(keep)]
        return out.reshape(states.shape)
    terms = obs.terms if isinstance(obs, PauliSum) else (obs,)
    total = None
    for term in terms:
        part = _apply_pauli_string(xp, states, term, n)
        total = part if total is None else total + part
    return total


def expectations(xp: ModuleType, states: Any, observables: Sequence[Observable],
                 n: int) -> np.ndarray:
    """``<psi|O_k|psi>`` for every row: ``(R, K)`` on the host."""
    out = xp.empty((states.shape[0], len(observables)))
    conj = xp.conj(states)
    for k, o in enumerate(observables):
        out[:, k] = gpu_kernels.row_sums(xp, conj * apply_observable(xp, states, o, n)).real
    return _host(xp, out)


def _marginal(xp: ModuleType, probs: Any, n: int, wires: tuple[int, ...] | None) -> Any:
    if wires is None:
        return probs
    if len(set(wires)) != len(wires) or any(w < 0 or w >= n for w in wires):
        raise ValidationError(f"wires must be distinct and in 0..{n - 1}, got {wires}")
    t = probs.reshape((probs.shape[0],) + (2,) * n)
    others = tuple(1 + w for w in range(n) if w not in wires)
    if others:
        t = t.sum(axis=others)
    kept = sorted(wires)
    t = xp.transpose(t, (0, *(1 + kept.index(w) for w in wires)))
    return t.reshape(probs.shape[0], 2 ** len(wires))


def _host(xp: ModuleType, a: Any) -> np.ndarray:
    return np.asarray(a) if xp is np else xp.asnumpy(a)


@dataclass(frozen=True)
class _Op:
    spec: GateSpec
    wires: tuple[int, ...]
    col: int  # first angle column of this operation's parameters


@lru_cache(maxsize=256)
def _operations(circuit: Circuit) -> tuple[_Op, ...]:
    ops, col = [], 0
    for op in circuit.operations:
        spec = gate_spec(op.gate)
        ops.append(_Op(spec, op.wires, col))
        col += spec.num_params
    return tuple(ops)


# -- the simulator ------------------------------------------------------------------------------
class GPUStatevectorSimulator(StatevectorSimulator):
    """Exact state-vector simulation on a GPU, with :class:`StatevectorSimulator`'s methods
    (``expectation``, ``state``, ``probabilities``, ``expectation_angles``, sampling, and adjoint
    gradients through :class:`~q_store.gradients.AdjointGradient`).

    ``array_module``: None for CuPy on the current CUDA device (NotSupportedError when CuPy or a
    GPU is missing); the tests pass ``numpy`` to run the same code path on the CPU.
    """

    name = "statevector-gpu"

    def __init__(self, *, array_module: ModuleType | None = None,
                 cache: CircuitCache | None = None) -> None:
        super().__init__(threads=1, cache=cache)
        self.xp = cupy_module() if array_module is None else array_module
        self.device = "cpu (array module numpy)" if self.xp is np else "gpu"
        self._cuda = self.xp is not np  # CUDA kernels (gpu_kernels); array operations on NumPy

    def __repr__(self) -> str:
        return f"GPUStatevectorSimulator(array_module={self.xp.__name__})"

    # -- binding and running ---------------------------------------------------------------------
    def _apply(self, states: Any, mats: Any, wires: Sequence[int], n: int) -> Any:
        """``mats`` applied to ``states``: in place by a CUDA kernel on the GPU, as a new array
        by array operations (:func:`apply_matrices`) with NumPy."""
        if self._cuda:
            return gpu_kernels.apply_gate(self.xp, states, mats, wires, n)
        return apply_matrices(self.xp, states, mats, wires, n)

    def _angles(self, circuit: Circuit, weights: object, inputs: object
                ) -> tuple[Batch, np.ndarray]:
        check_circuit(circuit)
        batch = resolve_batch(circuit, weights, inputs)
        return batch, parameter_map_for(circuit).angles(batch)

    def _check_device_memory(self, nbytes: int, what: str) -> None:
        xp = self.xp
        if xp is np:
            check_memory(nbytes, what)
            return
        free, _ = xp.cuda.runtime.memGetInfo()
        free += xp.get_default_memory_pool().free_bytes()
        if nbytes > free:
            raise ResourceLimitError(f"{what} needs {format_bytes(nbytes)} of GPU memory, "
                                     f"{format_bytes(free)} is free on the GPU")

    def _device_states(self, n: int, size: int, initial_state: object, copies: int) -> Any:
        """Initial states on the device; ``copies``: state-sized arrays the call will hold."""
        rows = size
        host = None
        if initial_state is not None:
            host, _ = StatevectorSimulator._initial(self, n, size, initial_state)
            rows = host.shape[0]
        self._check_device_memory(copies * rows * 2**n * 16,
                                  f"simulating {rows} state(s) of {n} qubits on the GPU")
        if host is not None:
            return self.xp.asarray(host)
        states = self.xp.zeros((rows, 2**n), dtype=np.complex128)
        states[:, 0] = 1.0
        return states

    def _matrices(self, op: _Op, angles: np.ndarray, derivative: int | None = None) -> Any:
        """The operation's matrices ``(Ba, d, d)`` on the device (its derivative with respect
        to parameter ``derivative`` if given)."""
        spec = op.spec
        if spec.num_params == 0:
            m = spec.matrix()[None]
        else:
            p = angles[:, op.col : op.col + spec.num_params]
            m = spec.matrix(p) if derivative is None else spec.derivative(p, derivative)
        return self.xp.asarray(np.ascontiguousarray(m, dtype=np.complex128))

    def _forward(self, circuit: Circuit, states: Any, angles: np.ndarray) -> Any:
        n = circuit.n_qubits
        for op in _operations(circuit):
            states = self._apply(states, self._matrices(op, angles), op.wires, n)
        return states

    def _evolve_device(self, circuit: Circuit, weights: object, inputs: object,
                       initial_state: object) -> tuple[Any, Batch]:
        batch, angles = self._angles(circuit, weights, inputs)
        states = self._device_states(circuit.n_qubits, batch.size, initial_state, 4)
        if angles.shape[0] > 1 and states.shape[0] != angles.shape[0]:
            raise StateError("initial_state batch does not match the parameter batch")
        states = self._forward(circuit, states, angles)
        if states.shape[0] > 1 and not batch.batched:
            batch = Batch(batch.weights, batch.inputs, states.shape[0], True)
        return states, batch

    def _run(self, n: int, states: np.ndarray, tape: Any, from_zero: bool) -> None:
        raise NotSupportedError(
            "GPUStatevectorSimulator does not run the CPU simulator's compiled tapes; call its "
            "public methods (or use StatevectorSimulator for CPU-only internals)")

    # -- public methods --------------------------------------------------------------------------
    def evolve(self, circuit: Circuit, weights: object = None, inputs: object = None,
               initial_state: object = None) -> tuple[np.ndarray, Batch]:
        """Final states ``(B, 2**n)`` copied to the host, and the resolved batch."""
        states, batch = self._evolve_device(circuit, weights, inputs, initial_state)
        return _host(self.xp, states), batch

    def expectation(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
                    weights: object = None, inputs: object = None,
                    initial_state: object = None) -> np.ndarray:
        obs, single = _as_observables(observables)
        _check_observables(obs, circuit.n_qubits)
        states, batch = self._evolve_device(circuit, weights, inputs, initial_state)
        return _shape(expectations(self.xp, states, obs, circuit.n_qubits), batch.batched,
                      single)

    def probabilities(self, circuit: Circuit, weights: object = None, inputs: object = None,
                      wires: Sequence[int] | None = None,
                      initial_state: object = None) -> np.ndarray:
        states, batch = self._evolve_device(circuit, weights, inputs, initial_state)
        probs = states.real**2 + states.imag**2
        out = _host(self.xp, _marginal(self.xp, probs, circuit.n_qubits,
                                       None if wires is None else tuple(int(w) for w in wires)))
        return out if batch.batched else out[0]

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], *, shots: int | None = None,
                           seed: int | np.random.Generator | None = None,
                           initial_state: object = None) -> np.ndarray:
        """``<O_k>`` for explicit gate angles ``(R, n_params)``: ``(R, K)``; with ``shots``,
        estimates sampled on the host from the final states."""
        obs, _ = _as_observables(observables)
        _check_observables(obs, circuit.n_qubits)
        angles = as_real_array(angles, "angles", ValidationError)
        n_params = parameter_map_for(circuit).n_params
        if angles.ndim != 2 or angles.shape[1] != n_params:
            raise ValidationError(f"angles must have shape (R, {n_params}), got {angles.shape}")
        if not np.all(np.isfinite(angles)):
            raise ValidationError("angles must be finite; found NaN or infinity")
        states = self._device_states(circuit.n_qubits, angles.shape[0], initial_state, 4)
        if states.shape[0] != angles.shape[0]:
            raise StateError(f"initial_state has {states.shape[0]} rows for {angles.shape[0]} "
                             "angle rows")
        states = self._forward(circuit, states, angles)
        if shots is None:
            return expectations(self.xp, states, obs, circuit.n_qubits)
        from q_store.sim.shots import estimate_expectations

        return estimate_expectations(self, _host(self.xp, states), obs, circuit.n_qubits,
                                     check_shots(shots), np.random.default_rng(seed))

    def unitary(self, circuit: Circuit, weights: object = None,
                inputs: object = None) -> np.ndarray:
        """The full ``(2**n, 2**n)`` unitary for one binding."""
        n = circuit.n_qubits
        if n > 14:
            raise ValidationError(f"unitary of {n} qubits is too large (max 14)")
        batch, angles = self._angles(circuit, weights, inputs)
        if batch.batched:
            raise ValidationError("unitary() takes one binding of weights and inputs")
        self._check_device_memory(4 * 4**n * 16, f"the unitary of a {n}-qubit circuit")
        cols = self._forward(circuit, self.xp.eye(2**n, dtype=np.complex128), angles)
        return _host(self.xp, cols.T)

    def adjoint_angles(self, circuit: Circuit, observables: tuple[Observable, ...],
                       weights: object = None, inputs: object = None, cotangent: object = None,
                       initial_state: object = None) -> AdjointResult:
        """Expectations and their derivatives with respect to every gate angle, by the adjoint
        method on the device (see :func:`q_store.sim.adjoint.adjoint_angles`)."""
        xp, n = self.xp, circuit.n_qubits
        _check_observables(observables, n)
        batch, angles = self._angles(circuit, weights, inputs)
        n_obs = len(observables)
        sweeps = 1 if cotangent is not None else n_obs
        states = self._device_states(n, batch.size, initial_state, 5 + 2 * sweeps)
        size = states.shape[0]
        states = self._forward(circuit, states, angles)
        values = expectations(xp, states, observables, n)
        if cotangent is not None:
            c = xp.asarray(_cotangent_for(cotangent, values))  # array or function
            lam = xp.zeros_like(states)
            for k, o in enumerate(observables):
                lam += c[:, k, None] * apply_observable(xp, states, o, n)
            phi = states
        else:
            lam = xp.concatenate([apply_observable(xp, states, o, n) for o in observables])
            phi = xp.concatenate([states] * n_obs)
        grads = _host(xp, self._sweep(circuit, phi, lam, angles))
        if cotangent is not None:
            return AdjointResult(values, grads, batch)
        jac = grads.reshape(n_obs, size, -1).transpose(1, 0, 2)
        return AdjointResult(values, jac, batch)

    def _sweep(self, circuit: Circuit, phi: Any, lam: Any, angles: np.ndarray) -> Any:
        """Backward sweep: undo each gate on ``phi`` (final states) and ``lam`` (observables
        applied), reading ``2 Re <lam| dG |phi>`` for every parameter on the way."""
        xp, n = self.xp, circuit.n_qubits
        grads = xp.zeros((phi.shape[0], parameter_map_for(circuit).n_params))
        for op in reversed(_operations(circuit)):
            mats = self._matrices(op, angles)
            derivs = [self._matrices(op, angles, j) for j in range(op.spec.num_params)]
            if self._cuda:
                stacked = xp.stack(derivs) if derivs else xp.empty((0, *mats.shape))
                parts = gpu_kernels.adjoint_step(xp, phi, lam, mats, stacked, op.wires, n)
            else:
                phi, lam, parts = undo_gate(xp, phi, lam, mats, derivs, op.wires, n)
            if derivs:
                grads[:, op.col : op.col + len(derivs)] += parts
        return grads

    def metric_tensor(self, circuit: Circuit, weights: object = None,
                      inputs: object = None) -> np.ndarray:
        """Fubini-Study metric with respect to the weights, ``(n_w, n_w)`` or
        ``(B, n_w, n_w)``, from tangent states on the device (see :mod:`q_store.sim.qfim`)."""
        xp, n = self.xp, circuit.n_qubits
        batch, angles = self._angles(circuit, weights, inputs)
        pm = parameter_map_for(circuit)
        size = batch.size
        cols = np.flatnonzero(pm.uses_weights)  # angle columns that carry weights
        nq = len(cols)
        if nq == 0:
            g = np.zeros((size, pm.n_weights, pm.n_weights))
            return g if batch.batched else g[0]
        block = {int(c): j for j, c in enumerate(cols)}
        states = self._device_states(n, size * (nq + 1), None, 4)
        psi, tan = states[:size], states[size:]
        for op in _operations(circuit):
            m = xp.broadcast_to(self._matrices(op, angles), (size, op.spec.dim, op.spec.dim))
            psi = self._apply(psi, m, op.wires, n)
            mats = xp.concatenate([m] * nq)  # row block j: d psi / d angle cols[j]
            for k in range(op.spec.num_params):
                j = block.get(op.col + k)
                if j is not None:
                    mats[j * size : (j + 1) * size] = self._matrices(op, angles, k)
            tan = self._apply(tan, mats, op.wires, n)
        tan = tan.reshape(nq, size, 2**n)
        eye = np.zeros((size, nq, pm.n_params))
        eye[:, np.arange(nq), cols] = 1.0
        jac, _ = pm.pullback(batch, eye)  # (B, nq, n_w): d angle / d weight
        dpsi = xp.einsum("bqi,qbd->bid", xp.asarray(jac, dtype=np.complex128), tan)
        overlap = xp.einsum("bd,bid->bi", xp.conj(psi), dpsi)  # <psi|d_i psi>
        gram = xp.einsum("bid,bjd->bij", xp.conj(dpsi), dpsi)
        g = _host(xp, (gram - xp.einsum("bi,bj->bij", xp.conj(overlap), overlap)).real)
        return g if batch.batched else g[0]
