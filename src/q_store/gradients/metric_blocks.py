"""The block-diagonal Fubini-Study metric from measured circuits (Stokes, Izaac, Killoran, Carleo,
Quantum 4, 269 (2020)), on any backend.

The trainable rotations are grouped into *layers*: each rotation goes to the layer after the
last one holding a rotation in its past light cone, so no rotation of a layer lies in another's
past (they act on disjoint wires and their generators ``K_a`` commute,
``V(t) = exp(-i sum_a t_a K_a)``). The circuit can be reordered as ``[past of the layer]
[the layer] [the rest]``; with ``|psi_l>`` the state the past prepares, the metric block of the
layer's angles is exactly

    G_ab = <psi_l| K_a K_b |psi_l> - <psi_l| K_a |psi_l> <psi_l| K_b |psi_l>,

a covariance of Pauli strings measured on the prefix circuit; blocks of different layers are
set to zero (the approximation). Every string of one layer is measured in one basis (the
generators sit on disjoint wires), so a layer costs one circuit per distinct sample. The
metric of the weights is ``J^T G J`` with ``J = d angles / d weights``, averaged over the batch.

A layer whose prefix is empty acts on ``|0...0>``, where every Pauli expectation is known (1 for
words of ``Z`` only, else 0): that layer is computed, not run (the ideal state's block, also on
a noisy backend).

Generators: ``RX, RY, RZ``: ``P/2``; ``RXX, RYY, RZZ``: ``PP/2``; ``CRX, CRY, CRZ``:
``|1><1| (x) P/2 = (P_t - Z_c P_t)/4``; ``PhaseShift``: ``Z/2`` (plus a multiple of the identity,
which no covariance sees); IonQ ``ZZ(t)``: ``pi Z Z``; ``U3`` is taken as ``RZ(phi) RY(theta)
RZ(lambda)`` (a global phase apart). ``GPI``, ``GPI2`` and ``MS`` with trainable angles have no
fixed generator: use ``metric='spsa'`` or ``'exact'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from q_store.circuit.ir import Circuit, Operation
from q_store.circuit.observables import PauliString
from q_store.circuit.params import Batch
from q_store.errors import NotSupportedError
from q_store.execution.requests import ExpectationRequest
from q_store.sim.statevector import parameter_map_for

__all__ = ["MetricLayer", "block_diagonal_requests", "metric_layers"]

Term = tuple[complex, tuple[tuple[int, str], ...]]  # coefficient, sorted (wire, letter)

# generator terms of each rotation gate, on the gate's local wire positions
_GENERATORS: dict[str, tuple[tuple[float, tuple[tuple[int, str], ...]], ...]] = {
    "RX": ((0.5, ((0, "X"),)),), "RY": ((0.5, ((0, "Y"),)),), "RZ": ((0.5, ((0, "Z"),)),),
    "RXX": ((0.5, ((0, "X"), (1, "X"))),), "RYY": ((0.5, ((0, "Y"), (1, "Y"))),),
    "RZZ": ((0.5, ((0, "Z"), (1, "Z"))),),
    "CRX": ((0.25, ((1, "X"),)), (-0.25, ((0, "Z"), (1, "X")))),
    "CRY": ((0.25, ((1, "Y"),)), (-0.25, ((0, "Z"), (1, "Y")))),
    "CRZ": ((0.25, ((1, "Z"),)), (-0.25, ((0, "Z"), (1, "Z")))),
    "PhaseShift": ((0.5, ((0, "Z"),)),),
    "ZZ": ((np.pi, ((0, "Z"), (1, "Z"))),),
}
_PRODUCT = {("X", "Y"): (1j, "Z"), ("Y", "X"): (-1j, "Z"), ("Y", "Z"): (1j, "X"),
            ("Z", "Y"): (-1j, "X"), ("Z", "X"): (1j, "Y"), ("X", "Z"): (-1j, "Y")}


@dataclass(frozen=True)
class MetricLayer:
    """One layer: the ``prefix`` circuit preparing ``|psi_l>`` (a template over the same weights
    and inputs), the angle ``columns`` of its rotations in the full circuit, the Pauli strings
    to measure, and the linear maps from their expectations ``e`` to ``<K_a> = first @ e`` and
    ``<K_a K_b> = second_const + second @ e``."""

    prefix: Circuit
    columns: tuple[int, ...]
    observables: tuple[PauliString, ...]
    first: np.ndarray  # (L, n_obs)
    second: np.ndarray  # (L, L, n_obs)
    second_const: np.ndarray  # (L, L)

    def covariance(self, e: np.ndarray) -> np.ndarray:
        """``G (R, L, L)`` from expectations ``e (R, n_obs)``."""
        m1 = e @ self.first.T
        m2 = self.second_const + np.einsum("abo,ro->rab", self.second, e)
        g = m2 - m1[:, :, None] * m1[:, None, :]
        return 0.5 * (g + np.swapaxes(g, 1, 2))


def _mul(a: tuple[tuple[int, str], ...], b: tuple[tuple[int, str], ...]
         ) -> tuple[complex, tuple[tuple[int, str], ...]]:
    """Product of two Pauli words: phase and word."""
    out, phase = dict(a), 1.0 + 0j
    for w, letter in b:
        if w not in out:
            out[w] = letter
        elif out[w] == letter:
            del out[w]
        else:
            ph, out[w] = _PRODUCT[(out[w], letter)]
            phase *= ph
    return phase, tuple(sorted(out.items()))


def _elementary(circuit: Circuit, uses_weights: np.ndarray
                ) -> list[tuple[Operation, int | None, tuple[Term, ...] | None]]:
    """Operations with at most one parameter each (``U3`` split into ``RZ RY RZ``), with the
    angle column and generator of the trainable ones."""
    out: list[tuple[Operation, int | None, tuple[Term, ...] | None]] = []
    col = 0
    for op in circuit.operations:
        parts: list[tuple[Operation, int | None]]
        if op.gate == "U3":  # RZ(phi) RY(theta) RZ(lambda), lambda first in time
            th, ph, la = op.params
            parts = [(Operation("RZ", op.wires, (la,)), col + 2),
                     (Operation("RY", op.wires, (th,)), col),
                     (Operation("RZ", op.wires, (ph,)), col + 1)]
        else:
            parts = [(op, col if op.params else None)]
        col += len(op.params)
        for part, c in parts:
            if c is None or not uses_weights[c]:
                out.append((part, None, None))
                continue
            gen = _GENERATORS.get(part.gate)
            if gen is None:
                raise NotSupportedError(
                    f"the block-diagonal metric needs rotations with a fixed generator; "
                    f"{part.gate} with a trainable angle has none. Use natural gradient metric "
                    "'spsa' (any backend) or 'exact' (exact local simulator)")
            terms = tuple((complex(cf), tuple(sorted((part.wires[i], ltr) for i, ltr in word)))
                          for cf, word in gen)
            out.append((part, c, terms))
    return out


def _layer(circuit: Circuit, ops: list[Operation], cols: list[int],
           gens: list[tuple[Term, ...]]) -> MetricLayer:
    first: dict[tuple[int, str], list[tuple[int, complex]]] = {}
    second: dict[tuple[tuple[int, str], ...], list[tuple[int, int, complex]]] = {}
    n = len(gens)
    const = np.zeros((n, n), dtype=complex)
    for a, ga in enumerate(gens):
        for cf, word in ga:
            first.setdefault(word, []).append((a, cf))  # type: ignore[arg-type]
        for b, gb in enumerate(gens):
            for ca, wa in ga:
                for cb, wb in gb:
                    phase, word = _mul(wa, wb)
                    if not word:
                        const[a, b] += ca * cb * phase
                    else:
                        second.setdefault(word, []).append((a, b, ca * cb * phase))
    words = sorted(set(first) | set(second))  # type: ignore[arg-type]
    f = np.zeros((n, len(words)), dtype=complex)
    s = np.zeros((n, n, len(words)), dtype=complex)
    for o, word in enumerate(words):
        for a, cf in first.get(word, []):  # type: ignore[call-overload]
            f[a, o] += cf
        for a, b, cf in second.get(word, []):
            s[a, b, o] += cf
    prefix = Circuit(circuit.n_qubits, tuple(ops), circuit.n_weights, circuit.n_inputs)
    obs = tuple(PauliString(w) for w in words)
    # commuting Hermitian generators: every coefficient is real (imaginary parts cancel)
    return MetricLayer(prefix, tuple(cols), obs, f.real, s.real, const.real)


@lru_cache(maxsize=64)
def metric_layers(circuit: Circuit) -> tuple[MetricLayer, ...]:
    """The layers of ``circuit``'s trainable rotations, in order (module docstring)."""
    pm = parameter_map_for(circuit)
    elems = _elementary(circuit, pm.uses_weights)
    last: dict[int, int] = {}
    past: list[int] = []  # bitset of each operation's past light cone
    for i, (op, _, _) in enumerate(elems):
        mask = 0
        for w in op.wires:
            if w in last:
                mask |= past[last[w]] | (1 << last[w])
            last[w] = i
        past.append(mask)
    level: dict[int, int] = {}  # trainable rotation -> layer (as soon as its past allows)
    for i, (_, col, _) in enumerate(elems):
        if col is not None:
            level[i] = 1 + max((level[j] for j in level if past[i] >> j & 1), default=-1)
    groups: list[list[int]] = [[] for _ in range(1 + max(level.values(), default=-1))]
    for i, lv in level.items():
        groups[lv].append(i)
    layers = []
    for group in groups:
        cone = 0
        for i in group:
            cone |= past[i]
        ops = [elems[i][0] for i in range(len(elems)) if cone >> i & 1]
        layers.append(_layer(circuit, ops, [elems[i][1] for i in group],  # type: ignore[misc]
                             [elems[i][2] for i in group]))  # type: ignore[misc]
    return tuple(layers)


def _on_zero_state(observables: Sequence[PauliString]) -> np.ndarray:
    """``<0...0| P |0...0>``: 1 for words of Z only, else 0."""
    return np.array([[float(all(ltr == "Z" for _, ltr in o.paulis)) for o in observables]])


def block_diagonal_requests(circuit: Circuit, batch: Batch,
                            initial_state: np.ndarray | None = None
                            ) -> tuple[tuple[ExpectationRequest, ...],
                                       Callable[[Sequence[Any]], np.ndarray]]:
    """The metric requests (one per layer with a non-empty prefix, one row per distinct
    sample) and how to turn their answers into the batch-averaged ``(n_w, n_w)`` metric."""
    pm = parameter_map_for(circuit)
    layers = metric_layers(circuit)
    size = int(batch.size)
    requests: list[ExpectationRequest] = []
    fixed: dict[int, np.ndarray] = {}  # layer -> expectations known without a run
    for i, layer in enumerate(layers):
        if not layer.prefix.operations and initial_state is None:
            fixed[i] = _on_zero_state(layer.observables)  # |0...0>: nothing to run
            continue
        angles = parameter_map_for(layer.prefix).angles(batch)
        if initial_state is not None:
            angles = np.broadcast_to(angles, (size, angles.shape[1]))
        requests.append(ExpectationRequest(layer.prefix, np.ascontiguousarray(angles),
                                           layer.observables, initial_state, "metric"))
    rows = size if pm.nonlinear else 1
    eye = np.broadcast_to(np.eye(pm.n_params), (rows, pm.n_params, pm.n_params))
    jac, _ = pm.pullback(Batch(batch.weights[:rows], batch.inputs[:rows], rows, True), eye)
    assert jac is not None

    def finish(answers: Sequence[Any]) -> np.ndarray:
        it = iter(answers)
        g = np.zeros((pm.n_weights, pm.n_weights))
        for i, layer in enumerate(layers):
            e = fixed[i] if i in fixed else np.atleast_2d(np.asarray(next(it)))
            cov = layer.covariance(e)  # (R, L, L), R = 1 or the batch
            j = jac[:, list(layer.columns), :]  # (rows, L, n_w)
            g += np.einsum("bai,bac,bcj->ij", *_aligned(j, cov, size))
        return g / size

    return tuple(requests), finish


def _aligned(j: np.ndarray, cov: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """``J`` and ``G`` broadcast to the batch, so the sum over samples is explicit."""
    rows = max(j.shape[0], cov.shape[0])
    jb = np.broadcast_to(j, (rows, *j.shape[1:]))
    gb = np.broadcast_to(cov, (rows, *cov.shape[1:]))
    if rows == 1 and size > 1:  # the same for every sample: weight it by the batch size
        return jb, gb * size, jb
    return jb, gb, jb
