"""Cirq interop and the Cirq simulator backend.

- :func:`to_cirq` / :func:`from_cirq` convert bound circuits gate by gate on ``LineQubit``\\ s
  (wire ``q`` is ``LineQubit(q)``); the unitary is kept exactly, global phase included. Cirq is
  big-endian like us. IonQ's native gates become small Cirq gates (:func:`native_gates`: angles
  in turns, exact ``_unitary_``).
- :class:`CirqSimulatorBackend` runs jobs on ``cirq.Simulator`` or, with noise,
  ``cirq.DensityMatrixSimulator``.

Cirq is imported only when a function needs it; without it they raise
:class:`NotSupportedError` naming the pip extra.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from q_store.backends.base import BackendCapabilities, CircuitResult, InProcessBackend
from q_store.circuit.gates import GATES
from q_store.circuit.ir import Circuit, CircuitBuilder, Operation
from q_store.errors import CircuitError, NotSupportedError, ValidationError
from q_store.sim.noise import NoiseModel

if TYPE_CHECKING:
    import cirq

__all__ = ["CirqSimulatorBackend", "from_cirq", "native_gates", "to_cirq"]

_INSTALL = 'pip install "q-store[cirq]"'
_NATIVE = ("GPI", "GPI2", "MS", "ZZ")
MAX_STATEVECTOR_QUBITS = 24
MAX_DENSITY_QUBITS = 12


def _cirq() -> Any:
    try:
        import cirq
    except ImportError as e:
        raise NotSupportedError(f"Cirq support needs the cirq-core package: {_INSTALL}") from e
    return cirq


@functools.cache
def native_gates() -> dict[str, type]:
    """Cirq gate classes for IonQ's GPI, GPI2, MS, ZZ (angles in turns, our matrices)."""
    cirq = _cirq()
    classes: dict[str, type] = {}
    for our in _NATIVE:
        spec = GATES[our]

        def init(self: Any, *params: float, _spec: Any = spec) -> None:
            if len(params) != _spec.num_params:
                raise CircuitError(f"{_spec.name} takes {_spec.num_params} parameter(s) "
                                   f"{_spec.param_names}, got {len(params)}")
            self.params = tuple(float(p) for p in params)

        classes[our] = cirq.value_equality(type(f"{our}Gate", (cirq.Gate,), {
            "__init__": init,
            "__doc__": f"IonQ's native {our} gate (angles in turns), from q_store.",
            "_num_qubits_": lambda self, _k=spec.num_wires: _k,
            "_unitary_": lambda self, _s=spec: _s.matrix(np.array(self.params)),
            "_has_unitary_": lambda self: True,
            "_value_equality_values_": lambda self: self.params,
            "_circuit_diagram_info_": lambda self, args, _n=our, _k=spec.num_wires: (
                f"{_n}({', '.join(f'{p:.4g}' for p in self.params)})",) * _k,
            "__repr__": lambda self, _n=our: f"{_n}Gate{self.params}",
        }))
    return classes


# -- export --------------------------------------------------------------------------------------
def _cirq_ops(op: Operation, qubits: Sequence[Any]) -> list[Any]:
    """Cirq operations with exactly the unitary of one of our bound operations."""
    cirq = _cirq()
    q = [qubits[w] for w in op.wires]
    p = [float(v) for v in op.params]
    g = op.gate
    fixed = {"I": cirq.I, "X": cirq.X, "Y": cirq.Y, "Z": cirq.Z, "H": cirq.H, "S": cirq.S,
             "Sdg": cirq.S**-1, "T": cirq.T, "Tdg": cirq.T**-1, "SX": cirq.XPowGate(exponent=0.5),
             "CNOT": cirq.CNOT, "CZ": cirq.CZ, "SWAP": cirq.SWAP, "Toffoli": cirq.TOFFOLI}
    rot = {"X": cirq.rx, "Y": cirq.ry, "Z": cirq.rz}
    pair = {"X": cirq.XXPowGate, "Y": cirq.YYPowGate, "Z": cirq.ZZPowGate}
    if g in fixed:
        return [fixed[g].on(*q)]
    if g in ("RX", "RY", "RZ"):
        return [rot[g[1]](p[0]).on(*q)]
    if g in ("CRX", "CRY", "CRZ"):
        return [cirq.ControlledGate(rot[g[2]](p[0])).on(*q)]
    if g in ("RXX", "RYY", "RZZ"):  # exp(-i a PP / 2) = PP**(a / pi) with global shift -1/2
        return [pair[g[1]](exponent=p[0] / math.pi, global_shift=-0.5).on(*q)]
    if g == "PhaseShift":
        return [cirq.ZPowGate(exponent=p[0] / math.pi).on(*q)]
    if g == "U3":  # U3(t, f, l) = P(f) RY(t) P(l) exactly
        t, f, lam = p
        return [cirq.ZPowGate(exponent=lam / math.pi).on(*q), cirq.ry(t).on(*q),
                cirq.ZPowGate(exponent=f / math.pi).on(*q)]
    if g in _NATIVE:
        return [native_gates()[g](*p).on(*q)]
    raise CircuitError(f"no Cirq conversion for gate {g}")  # pragma: no cover - table is total


def to_cirq(circuit: Circuit, noise_model: NoiseModel | None = None) -> cirq.Circuit:
    """A Cirq circuit on ``LineQubit.range(n)`` with exactly our unitary (bound circuits only).

    Idle wires get an identity so the Cirq circuit spans all ``n`` qubits. With
    ``noise_model``, its channels follow each gate as ``cirq.KrausChannel`` operations (its
    readout errors are not part of a circuit; the backend applies them).
    """
    cirq = _cirq()
    if circuit.symbols:
        raise CircuitError("to_cirq needs a bound circuit; bind weights and inputs with "
                           "Circuit.bind first")
    qubits = cirq.LineQubit.range(circuit.n_qubits)
    used = {w for op in circuit.operations for w in op.wires}
    ops: list[Any] = [cirq.I(qubits[w]) for w in range(circuit.n_qubits) if w not in used]
    for op in circuit.operations:
        ops += _cirq_ops(op, qubits)
        if noise_model is not None:
            for ch, ws in noise_model.channels_after(op.gate, op.wires):
                ops.append(cirq.KrausChannel(ch.operators).on(*(qubits[w] for w in ws)))
    return cirq.Circuit(ops)


# -- import --------------------------------------------------------------------------------------
def _exponent(gate: Any) -> tuple[float, float]:
    cirq = _cirq()
    if cirq.is_parameterized(gate):
        raise CircuitError(f"Cirq gate {gate} has unresolved symbols; resolve them with "
                           "cirq.resolve_parameters first")
    return float(gate.exponent), float(gate.global_shift)


def _rotation(gate: Any) -> tuple[str, float, float] | None:
    """``(axis, angle, phase)`` with ``gate = e^{i phase} R_axis(angle)`` for an X/Y/Z power
    gate: ``P**e`` with global shift ``s`` is ``e^{i pi e (s + 1/2)} R_P(pi e)``."""
    cirq = _cirq()
    for axis, cls in (("X", cirq.XPowGate), ("Y", cirq.YPowGate), ("Z", cirq.ZPowGate)):
        if isinstance(gate, cls):
            e, s = _exponent(gate)
            return axis, math.pi * e, 0.0 if s == -0.5 else math.pi * e * (s + 0.5)
    return None


@functools.cache
def _named_gates() -> dict[Any, str]:
    """Cirq gates equal (as values) to one of our fixed gates."""
    cirq = _cirq()
    return {cirq.X: "X", cirq.Y: "Y", cirq.Z: "Z", cirq.H: "H", cirq.S: "S", cirq.S**-1: "Sdg",
            cirq.T: "T", cirq.T**-1: "Tdg", cirq.XPowGate(exponent=0.5): "SX",
            cirq.CNOT: "CNOT", cirq.CZ: "CZ", cirq.SWAP: "SWAP", cirq.TOFFOLI: "Toffoli"}


def _import_op(gate: Any, w: tuple[int, ...], b: CircuitBuilder) -> float:
    """Append our gates for one Cirq gate on wires ``w``; return the global phase left over."""
    cirq = _cirq()
    named = _named_gates()
    natives = {cls: name for name, cls in native_gates().items()}
    if type(gate) in natives:
        b.append(natives[type(gate)], w, *gate.params)
        return 0.0
    if isinstance(gate, cirq.IdentityGate):
        for q in w:
            b.i(q)
        return 0.0
    if isinstance(gate, cirq.EigenGate) and not cirq.is_parameterized(gate) and gate in named:
        b.append(named[gate], w)
        return 0.0
    rot = _rotation(gate)
    if rot is not None:
        axis, angle, phase = rot
        if axis == "Z" and gate.global_shift == 0.0:
            b.phase(w[0], angle)  # diag(1, e^{i a}) exactly
            return 0.0
        b.append("R" + axis, w, angle)
        return phase
    pairs = ((cirq.XXPowGate, "RXX"), (cirq.YYPowGate, "RYY"), (cirq.ZZPowGate, "RZZ"))
    for cls, ours in pairs:  # PP**e = e^{i pi e (s + 1/2)} exp(-i pi e PP / 2)
        if isinstance(gate, cls):
            e, s = _exponent(gate)
            b.append(ours, w, math.pi * e)
            return math.pi * e * (s + 0.5)
    controlled = None
    if isinstance(gate, (cirq.CXPowGate, cirq.CZPowGate)):
        e, s = _exponent(gate)
        controlled = ("X" if isinstance(gate, cirq.CXPowGate) else "Z", math.pi * e,
                      math.pi * e / 2, math.pi * e * s)
    elif (isinstance(gate, cirq.ControlledGate) and gate.num_controls() == 1
          and gate.control_values.is_trivial and gate.sub_gate.num_qubits() == 1):
        sub = _rotation(gate.sub_gate)
        if sub is not None:
            controlled = (sub[0], sub[1], sub[2], 0.0)
    if controlled is not None:  # C(e^{i c} R(a)) = CR(a) then P(c) on the control
        axis, angle, control_phase, phase = controlled
        b.append("CR" + axis, w, angle)
        if control_phase != 0.0:
            b.phase(w[0], control_phase)
        return phase
    if isinstance(gate, cirq.GlobalPhaseGate):
        return float(np.angle(complex(gate.coefficient)))
    raise CircuitError(
        f"cannot import Cirq gate {gate!r}; supported: I X Y Z H S T and their powers, Rx Ry Rz, "
        "CNOT/CZ and their powers, controlled Rx/Ry/Rz, XX/YY/ZZ powers (and cirq.ms), SWAP, "
        "TOFFOLI, global phases, final measurements and q_store's GPI, GPI2, MS, ZZ "
        "(decompose to these first)")


def from_cirq(circuit: cirq.AbstractCircuit, qubits: Sequence[Any] | None = None) -> Circuit:
    """Our circuit for a Cirq one, global phase included (as ``P(2a) RZ(-2a)`` on wire 0).

    ``qubits``: the Cirq qubits in wire order (default: the circuit's ``LineQubit``\\ s, wire
    ``q`` = ``LineQubit(q)``). Final measurements are dropped (we measure every qubit at the
    end); unsupported gates raise :class:`CircuitError` naming the gate.
    """
    cirq = _cirq()
    if qubits is None:
        found = circuit.all_qubits()
        if not all(isinstance(q, cirq.LineQubit) and q.x >= 0 for q in found):
            raise CircuitError("from_cirq maps LineQubit(q) to wire q; for other qubits pass "
                               "qubits=[...] in wire order")
        qubits = cirq.LineQubit.range(1 + max((q.x for q in found), default=0))
    index = {q: i for i, q in enumerate(qubits)}
    b = Circuit.builder(max(len(index), 1))
    measured: set[int] = set()
    phase = 0.0
    for op in circuit.all_operations():
        try:
            w = tuple(index[q] for q in op.qubits)
        except KeyError as e:
            raise CircuitError(f"qubit {e.args[0]} of {op} is not in qubits") from None
        gate = op.gate
        if gate is None:
            raise CircuitError(f"cannot import Cirq operation {op!r} (no gate); decompose it "
                               "first")
        if isinstance(gate, cirq.MeasurementGate):
            measured.update(w)
            continue
        if measured.intersection(w):
            raise CircuitError(f"{op} follows a measurement of its qubits; only final "
                               "measurements can be imported")
        phase += _import_op(gate, w, b)
    phase = math.remainder(phase, 2 * math.pi)
    if phase != 0.0:  # e^{i a} = P(2a) RZ(-2a)
        b.phase(0, 2 * phase).rz(0, -2 * phase)
    return b.build()


# -- the backend ---------------------------------------------------------------------------------
def _readout(probs: np.ndarray, noise_model: NoiseModel | None) -> np.ndarray:
    """Readout errors applied to big-endian probabilities over all wires."""
    return probs if noise_model is None else noise_model.apply_readout(probs)


class CirqSimulatorBackend(InProcessBackend):
    """Circuits run on Cirq's simulators (complex128).

    ``noise``: None (``cirq.Simulator``, pure states), a q_store :class:`NoiseModel` (converted
    exactly: its Kraus channels follow each gate as ``cirq.KrausChannel``; readout errors act
    through the measurement's confusion map when sampling and are applied exactly to exact
    probabilities), or a ``cirq.NoiseModel`` (passed to ``cirq.DensityMatrixSimulator``; for
    exact probabilities it acts on the gates only, as there is no measurement to act on).
    ``shots=None`` gives exact probabilities; shots are sampled by Cirq with a seed drawn from
    the job's seed (or from each circuit's own seed).
    """

    def __init__(self, name: str = "cirq", noise: NoiseModel | cirq.NoiseModel | None = None
                 ) -> None:
        super().__init__()
        cirq = _cirq()
        self.name = name
        self._ours: NoiseModel | None = None
        self._theirs: Any = None
        if isinstance(noise, NoiseModel):
            self._ours = None if noise.is_ideal else noise
        elif isinstance(noise, cirq.NoiseModel):
            self._theirs = noise
        elif noise is not None:
            raise ValidationError("noise must be a q_store NoiseModel or a cirq.NoiseModel, got "
                                  f"{type(noise).__name__}")

    @property
    def noisy(self) -> bool:
        return self._ours is not None or self._theirs is not None

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            max_qubits=MAX_DENSITY_QUBITS if self.noisy else MAX_STATEVECTOR_QUBITS,
            exact_expectations=True, noisy=self.noisy)

    def _simulator(self, seed: int | None) -> Any:
        cirq = _cirq()
        if self.noisy:
            return cirq.DensityMatrixSimulator(dtype=np.complex128, noise=self._theirs,
                                               seed=seed)
        return cirq.Simulator(dtype=np.complex128, seed=seed)

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        cirq = _cirq()
        out = []
        for c in circuits:
            n = c.n_qubits
            qubits = cirq.LineQubit.range(n)
            cc = to_cirq(c, self._ours)
            if shots is None:
                res = self._simulator(None).simulate(cc, qubit_order=qubits)
                if self.noisy:
                    p = np.einsum("ii->i", res.final_density_matrix).real
                else:
                    p = np.abs(res.final_state_vector) ** 2
                out.append(CircuitResult(_readout(np.clip(p, 0.0, None), self._ours)))
                continue
            confusion = {}
            for w in range(n):
                err = self._ours.readout(w) if self._ours is not None else None
                if err is not None:  # Cirq's confusion matrix is M[true, read]
                    confusion[(w,)] = err.matrix.T
            cc.append(cirq.measure(*qubits, key="m", confusion_map=confusion or None))
            sim = self._simulator(int(rng.integers(2**31 - 1)))
            bits = sim.run(cc, repetitions=shots).measurements["m"]
            idx = bits.astype(np.int64) @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64))
            hist = np.bincount(idx, minlength=2**n)
            nz = np.flatnonzero(hist)
            out.append(CircuitResult(hist / shots, shots, {int(k): int(hist[k]) for k in nz}))
        return out

    def __repr__(self) -> str:
        noise = self._ours if self._ours is not None else self._theirs
        return f"CirqSimulatorBackend(name={self.name!r}, noise={noise!r})"

