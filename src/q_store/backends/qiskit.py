"""Qiskit interop and the Qiskit Aer backend.

- :func:`to_qiskit` / :func:`from_qiskit` convert circuits gate by gate; the unitary is kept
  exactly, global phase included. Qubit ``q`` of ours is qubit ``q`` of theirs. IonQ's native
  gates become small Qiskit gates (``gpi``, ``gpi2``, ``ms``, ``zz``; angles in turns) whose
  definitions use standard gates. Symbolic circuits export with Qiskit ``ParameterVector``\\ s
  named ``theta`` and ``x``, and import back from them.
- :func:`to_aer_noise_model` turns our :class:`~q_store.sim.noise.NoiseModel` into an Aer one.
- :class:`QiskitAerBackend` runs jobs on ``qiskit_aer.AerSimulator``.

Qiskit is little-endian (its qubit 0 is the least significant bit); everything returned here is
in our big-endian order (wire 0 is the most significant bit). Qiskit is imported only when a
function needs it; without it they raise :class:`NotSupportedError` naming the pip extra.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from q_store.backends.base import BackendCapabilities, CircuitResult, InProcessBackend
from q_store.circuit.expr import Add, Const, Expr, Func, Mul, Pow, Symbol
from q_store.circuit.gates import GATES
from q_store.circuit.ir import Circuit, Operation
from q_store.errors import BackendError, CircuitError, NotSupportedError, ValidationError
from q_store.sim.noise import KrausChannel, NoiseModel

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit_aer.noise import NoiseModel as AerNoiseModel

__all__ = ["QiskitAerBackend", "from_qiskit", "native_gates", "to_aer_noise_model", "to_qiskit"]

_INSTALL = 'pip install "q-store[qiskit]"'

#: our gate name -> Qiskit instruction name (IonQ natives: our own small gates / Aer labels)
QISKIT_NAMES: dict[str, str] = {
    "I": "id", "X": "x", "Y": "y", "Z": "z", "H": "h", "S": "s", "Sdg": "sdg", "T": "t",
    "Tdg": "tdg", "SX": "sx", "RX": "rx", "RY": "ry", "RZ": "rz", "PhaseShift": "p", "U3": "u",
    "CNOT": "cx", "CZ": "cz", "SWAP": "swap", "RXX": "rxx", "RYY": "ryy", "RZZ": "rzz",
    "CRX": "crx", "CRY": "cry", "CRZ": "crz", "Toffoli": "ccx",
    "GPI": "gpi", "GPI2": "gpi2", "MS": "ms", "ZZ": "zz",
}
_NATIVE = ("GPI", "GPI2", "MS", "ZZ")
_FROM_QISKIT = {v: k for k, v in QISKIT_NAMES.items() if k not in _NATIVE}
_FROM_QISKIT.update({"u1": "PhaseShift", "u3": "U3"})
_SKIPPED = ("barrier", "measure")
_SYMBOL = re.compile(r"^(theta|x)\[(\d+)\]$")
_SYMPY_FUNCS = {"sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log",
                "asin": "arcsin", "acos": "arccos", "atan": "arctan"}


# -- imports -------------------------------------------------------------------------------------
def _qiskit() -> Any:
    try:
        import qiskit
    except ImportError as e:
        raise NotSupportedError(f"Qiskit support needs the qiskit package: {_INSTALL}") from e
    return qiskit


def _aer() -> Any:
    _qiskit()
    try:
        import qiskit_aer
    except ImportError as e:
        raise NotSupportedError(f"the Qiskit Aer backend needs qiskit-aer: {_INSTALL}") from e
    return qiskit_aer


# -- bit order -----------------------------------------------------------------------------------
def reverse_qubits(matrix: np.ndarray) -> np.ndarray:
    """A ``(2**k, 2**k)`` operator with its qubit order reversed (big- <-> little-endian)."""
    k = int(matrix.shape[0]).bit_length() - 1
    rev = (*range(k - 1, -1, -1), *range(2 * k - 1, k - 1, -1))
    return np.asarray(matrix).reshape((2,) * 2 * k).transpose(rev).reshape(matrix.shape)


def big_endian_probabilities(probs: np.ndarray, n: int) -> np.ndarray:
    """Qiskit's little-endian basis-state probabilities in our order."""
    return np.asarray(probs, dtype=float).reshape((2,) * n).transpose(
        tuple(range(n - 1, -1, -1))).reshape(-1)


# -- IonQ native gates as Qiskit gates -----------------------------------------------------------
@functools.cache
def native_gates() -> dict[str, type]:
    """Qiskit gate classes for GPI, GPI2, MS and ZZ (angles in turns), built on first use.

    Each has the exact matrix (``__array__``, bound angles) and an exact definition in standard
    gates: ``GPI(p) = P(a) X P(-a)``, ``GPI2(p) = P(a) RX(pi/2) P(-a)`` with ``a = 2 pi p``,
    ``MS(p0, p1, t) = (P(a0) x P(a1)) RXX(2 pi t) (P(-a0) x P(-a1))``, ``ZZ(t) = RZZ(2 pi t)``.
    """
    from qiskit.circuit import Gate, QuantumCircuit

    def define(name: str, params: list[Any]) -> QuantumCircuit:
        k = GATES[name].num_wires
        qc = QuantumCircuit(k)
        if name == "ZZ":
            qc.rzz(2 * math.pi * params[0], 0, 1)
            return qc
        phases = params[:k]  # one phase per wire, conjugating a fixed core
        for w, p in enumerate(phases):
            qc.p(-2 * math.pi * p, w)
        if name == "GPI":
            qc.x(0)
        elif name == "GPI2":
            qc.rx(math.pi / 2, 0)
        else:
            qc.rxx(2 * math.pi * params[2], 0, 1)
        for w, p in enumerate(phases):
            qc.p(2 * math.pi * p, w)
        return qc

    classes: dict[str, type] = {}
    for our in _NATIVE:
        spec = GATES[our]

        def init(self: Any, *params: Any, label: str | None = None, _spec: Any = spec) -> None:
            Gate.__init__(self, _spec.name.lower(), _spec.num_wires, list(params), label=label)

        def array(self: Any, dtype: Any = None, copy: Any = None, _spec: Any = spec
                  ) -> np.ndarray:
            m = reverse_qubits(_spec.matrix(np.array([float(p) for p in self.params])))
            return m if dtype is None else m.astype(dtype)

        def _define(self: Any, _our: str = our) -> None:
            self.definition = define(_our, list(self.params))

        classes[our] = type(f"{our}Gate", (Gate,), {
            "__init__": init, "__array__": array, "_define": _define, "__module__": __name__,
            "__doc__": f"IonQ's native {our} gate (angles in turns), from q_store.",
        })
    return classes


def __getattr__(name: str) -> type:
    """``GPIGate``, ``GPI2Gate``, ``MSGate``, ``ZZGate`` by name (so circuits holding them
    pickle, e.g. for Qiskit's parallel transpiler)."""
    if name.endswith("Gate") and name[:-4] in _NATIVE:
        return native_gates()[name[:-4]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _standard_gates() -> dict[str, type]:
    from qiskit.circuit.library import get_standard_gate_name_mapping

    return {name: type(g) for name, g in get_standard_gate_name_mapping().items()}


def _qiskit_gate(op: Operation, params: list[Any]) -> Any:
    if op.gate in _NATIVE:
        return native_gates()[op.gate](*params)
    return _standard_gates()[QISKIT_NAMES[op.gate]](*params)


# -- angle expressions ---------------------------------------------------------------------------
def _to_parameter(e: Expr, vectors: Mapping[str, Any]) -> Any:
    """Our angle expression as a float or a Qiskit ParameterExpression."""
    if e.is_constant:
        return float(e)
    if isinstance(e, Symbol):
        return vectors[e.kind][e.index]
    if isinstance(e, Add):
        return sum((_to_parameter(t, vectors) for t in e.terms[1:]),
                   _to_parameter(e.terms[0], vectors))
    if isinstance(e, Mul):
        return functools.reduce(lambda a, b: a * b, (_to_parameter(f, vectors)
                                                     for f in e.factors))
    if isinstance(e, Pow):
        return _to_parameter(e.base, vectors) ** e.exponent
    if isinstance(e, Func):
        arg = _to_parameter(e.arg, vectors)
        return arg ** 0.5 if e.name == "sqrt" else getattr(arg, e.name)()
    raise CircuitError(f"cannot express angle {e} as a Qiskit parameter")  # pragma: no cover


def _from_parameter(p: Any) -> Expr | float:
    """A Qiskit gate parameter (number or ParameterExpression) as our angle."""
    if isinstance(p, numbers.Real):
        return float(p)
    if not getattr(p, "parameters", None):
        return float(p)
    try:
        return _from_sympy(p.sympify())
    except ImportError as e:
        raise NotSupportedError("importing symbolic Qiskit parameters needs sympy "
                                "(pip install sympy); or bind the parameters first") from e


def _from_sympy(s: Any) -> Expr:
    import sympy

    if s.is_number:  # numbers and constants such as pi
        return Const(float(s))
    if s.is_Symbol:
        m = _SYMBOL.match(s.name)
        if m is None:
            raise CircuitError(
                f"Qiskit parameter {s.name!r} has no q_store meaning; use ParameterVector('theta')"
                " for weights and ParameterVector('x') for inputs, or bind it first")
        return Symbol(m.group(1), int(m.group(2)))  # type: ignore[arg-type]
    if isinstance(s, sympy.Add):
        return functools.reduce(lambda a, b: a + b, (_from_sympy(a) for a in s.args))
    if isinstance(s, sympy.Mul):
        return functools.reduce(lambda a, b: a * b, (_from_sympy(a) for a in s.args))
    if isinstance(s, sympy.Pow) and s.exp.is_Number:
        return Pow(_from_sympy(s.base), float(s.exp))
    name = _SYMPY_FUNCS.get(type(s).__name__)
    if name is not None:
        return Func(name, _from_sympy(s.args[0]))
    raise CircuitError(f"cannot import the Qiskit angle expression {s}; allowed: + - * / ** "
                       f"and {sorted(_SYMPY_FUNCS)}")


# -- converters ----------------------------------------------------------------------------------
def to_qiskit(circuit: Circuit) -> QuantumCircuit:
    """A Qiskit circuit with exactly our unitary (global phase included).

    Free symbols become elements of ParameterVectors ``theta`` (``circuit.n_weights`` long) and
    ``x`` (``circuit.n_inputs``); bind with ``qc.assign_parameters({vec: values})``.
    """
    qiskit = _qiskit()
    from qiskit.circuit import ParameterVector

    qc = qiskit.QuantumCircuit(circuit.n_qubits)
    vectors = {"theta": ParameterVector("theta", circuit.n_weights or 0),
               "x": ParameterVector("x", circuit.n_inputs or 0)}
    for op in circuit.operations:
        params = [_to_parameter(p, vectors) for p in op.params]
        qc.append(_qiskit_gate(op, params), list(op.wires), copy=False)
    return qc


def from_qiskit(qc: QuantumCircuit) -> Circuit:
    """Our circuit for a Qiskit one: standard gates mapped to ours, Qiskit's global phase kept.

    Accepted: id x y z h s sdg t tdg sx rx ry rz p u1 u u3 cx cz cp swap rxx ryy rzz crx cry crz
    ccx, our gpi/gpi2/ms/zz gates, barriers and final measurements (every qubit is measured at
    the end anyway). Parameters named ``theta[i]`` / ``x[j]`` (ParameterVectors) become our
    symbols. Anything else raises :class:`CircuitError` naming the instruction.
    """
    _qiskit()
    natives = {cls: name for name, cls in native_gates().items()}
    standard = _standard_gates()
    b = Circuit.builder(max(qc.num_qubits, 1))
    measured: set[int] = set()
    for inst in qc.data:
        op, name = inst.operation, inst.operation.name
        wires = tuple(qc.find_bit(q).index for q in inst.qubits)
        if name in _SKIPPED:
            if name == "measure":
                measured.update(wires)
            continue
        if measured.intersection(wires):
            raise CircuitError(f"{name} on qubits {list(wires)} follows a measurement of them; "
                               "only final measurements can be imported")
        params = [_from_parameter(p) for p in op.params]
        ours = natives.get(type(op))
        if ours is None and name in standard and isinstance(op, standard[name]):
            ours = "CP" if name == "cp" else _FROM_QISKIT.get(name)
        if ours is None:
            raise CircuitError(
                f"cannot import Qiskit instruction {name!r}; supported: "
                f"{', '.join(sorted({*_FROM_QISKIT, 'cp', *_SKIPPED}))} and q_store's gpi, gpi2, "
                "ms, zz (transpile to these first)")
        if ours == "CP":  # diag(1, 1, 1, e^{i l}) = CRZ(l) then P(l/2) on the control
            b.crz(*wires, params[0]).phase(wires[0], params[0] * 0.5)
        else:
            b.append(ours, wires, *params)
    _add_global_phase(b, _from_parameter(qc.global_phase))
    return b.build()


def _add_global_phase(b: Any, phase: Expr | float) -> None:
    """Append ``e^{i phase}`` as ``P(2 phase) RZ(-2 phase)`` on wire 0 (our IR has no global
    phase gate): ``diag(1, e^{2ia}) diag(e^{ia}, e^{-ia}) = e^{ia} I``."""
    if isinstance(phase, float):
        phase = math.remainder(phase, 2 * math.pi)
        if phase == 0.0:
            return
    b.phase(0, phase * 2.0).rz(0, phase * -2.0)


# -- noise ---------------------------------------------------------------------------------------
def _quantum_error(channels: Sequence[tuple[KrausChannel, tuple[int, ...]]], k: int) -> Any:
    """One Aer QuantumError on ``k`` qubits: the channels (on gate positions) in order."""
    from qiskit.quantum_info import Kraus
    from qiskit_aer.noise import QuantumError

    err = QuantumError(Kraus(np.eye(2**k)))
    for ch, pos in channels:
        part = QuantumError(Kraus([reverse_qubits(op) for op in ch.operators]))
        err = err.compose(part, qargs=list(pos))
    return err


def to_aer_noise_model(noise_model: NoiseModel, n_qubits: int) -> AerNoiseModel:
    """The same noise as an Aer NoiseModel, for circuits on up to ``n_qubits`` qubits.

    For every gate and every ordered tuple of wires, the channels our model applies after it
    are composed (in order) into one Aer error on the gate's instruction name (IonQ natives and
    gates an Aer method lacks run as unitaries labelled with that name). Where the errors are
    the same on every wire tuple they become all-qubit errors, else local ones. Readout errors
    become Aer readout errors (they act on measurements, i.e. on sampled runs).
    """
    aer = _aer()
    if not isinstance(noise_model, NoiseModel):
        raise ValidationError(f"expected a q_store NoiseModel, got {type(noise_model).__name__}")
    if not isinstance(n_qubits, numbers.Integral) or n_qubits < 1:
        raise ValidationError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    out = aer.noise.NoiseModel(basis_gates=[*_FROM_QISKIT, "unitary"])
    chans: dict[int, KrausChannel] = {}
    errors: dict[tuple[Any, ...], Any] = {}

    def error(k: int, sig: tuple[Any, ...]) -> Any:
        if (k, sig) not in errors:
            errors[k, sig] = _quantum_error([(chans[i], p) for i, p in sig], k)
        return errors[k, sig]

    for name, spec in GATES.items():
        k = spec.num_wires
        if k > n_qubits:
            continue
        sigs: dict[tuple[int, ...], tuple[Any, ...]] = {}
        for ws in itertools.permutations(range(n_qubits), k):
            found = noise_model.channels_after(name, ws)
            chans.update((id(ch), ch) for ch, _ in found)
            sigs[ws] = tuple((id(ch), tuple(ws.index(w) for w in cws)) for ch, cws in found)
        distinct = set(sigs.values())
        if len(distinct) == 1:
            sig = distinct.pop()
            if sig:
                out.add_all_qubit_quantum_error(error(k, sig), QISKIT_NAMES[name],
                                                warnings=False)
            continue
        for ws, sig in sigs.items():
            if sig:
                out.add_quantum_error(error(k, sig), QISKIT_NAMES[name], list(ws),
                                      warnings=False)
    readout = [noise_model.readout(w) for w in range(n_qubits)]
    if readout[0] is not None and all(r == readout[0] for r in readout):
        out.add_all_qubit_readout_error(_aer_readout(readout[0]))
    else:
        for w, r in enumerate(readout):
            if r is not None:
                out.add_readout_error(_aer_readout(r), [w])
    return out


def _aer_readout(r: Any) -> Any:
    from qiskit_aer.noise import ReadoutError

    a, b = r.p0_given_1, r.p1_given_0
    return ReadoutError([[1.0 - b, b], [a, 1.0 - a]])


def _apply_readout(probs: np.ndarray, noise_model: NoiseModel | None) -> np.ndarray:
    """Readout errors applied to big-endian probabilities over all wires."""
    return probs if noise_model is None else noise_model.apply_readout(probs)


# -- the backend ---------------------------------------------------------------------------------
_METHODS = ("automatic", "statevector", "density_matrix", "matrix_product_state", "stabilizer",
            "extended_stabilizer")
_EXACT_NOISY = ("automatic", "density_matrix")
MAX_STATEVECTOR_QUBITS = 30
MAX_DENSITY_QUBITS = 15


@functools.cache
def _basis(method: str) -> frozenset[str]:
    """Instructions an Aer method runs natively (for ``automatic``: those every method we may
    land on runs, so noise always attaches to the same instruction)."""
    aer = _aer()
    if method == "automatic":
        return _basis("statevector") & _basis("density_matrix")
    return frozenset(aer.AerSimulator(method=method).configuration().basis_gates)


def _aer_circuit(circuit: Circuit, basis: frozenset[str]) -> QuantumCircuit:
    """A bound circuit for Aer: standard gates where the method has them, else a unitary
    labelled with the gate's Qiskit name (so noise models can address it)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UnitaryGate

    qc = QuantumCircuit(circuit.n_qubits)
    for op in circuit.operations:
        name = QISKIT_NAMES[op.gate]
        params = [float(p) for p in op.params]
        if name in basis:
            gate = _qiskit_gate(op, params)
        else:
            m = reverse_qubits(op.spec.matrix(np.array(params)))
            gate = UnitaryGate(m, label=name, check_input=False)
        qc.append(gate, list(op.wires), copy=False)
    return qc


class QiskitAerBackend(InProcessBackend):
    """Circuits run on Qiskit Aer's ``AerSimulator``.

    ``method`` and ``**options`` go to ``AerSimulator`` unchanged (``device="GPU"``,
    ``precision="single"``, ``max_parallel_threads``, ...); Aer's own errors surface as
    :class:`BackendError`. ``noise_model``: a q_store :class:`NoiseModel` (converted with
    :func:`to_aer_noise_model`, its readout errors applied exactly to exact probabilities) or an
    Aer ``NoiseModel``. ``shots=None`` gives exact probabilities (the density-matrix method when
    noisy); shots are sampled by Aer with a seed drawn from the job's seed (with one seed per
    circuit, each circuit is its own Aer run: Aer takes one seed per run).
    """

    def __init__(self, name: str = "qiskit_aer", method: str = "automatic",
                 noise_model: NoiseModel | AerNoiseModel | None = None, **options: Any) -> None:
        super().__init__()
        aer = _aer()
        if method not in _METHODS:
            raise BackendError(f"Aer method {method!r} cannot return measured probabilities; "
                               f"allowed: {', '.join(_METHODS)}")
        self.name = name
        self.method = method
        self._ours: NoiseModel | None = None
        self._theirs: AerNoiseModel | None = None
        if isinstance(noise_model, NoiseModel):
            self._ours = None if noise_model.is_ideal else noise_model
        elif isinstance(noise_model, aer.noise.NoiseModel):
            self._theirs = None if noise_model.is_ideal() else noise_model
        elif noise_model is not None:
            raise ValidationError("noise_model must be a q_store NoiseModel or a qiskit_aer "
                                  f"NoiseModel, got {type(noise_model).__name__}")
        try:
            self.simulator = aer.AerSimulator(method=method, **options)
            device = self.simulator.options.device
            available = self.simulator.available_devices()
        except Exception as e:  # Aer raises AerError, AttributeError, ValueError ...
            raise BackendError(f"Qiskit Aer rejected the options {options!r}: {e}") from e
        if device not in available:
            raise BackendError(f"Aer device {device!r} is not available here (available: "
                               f"{', '.join(available)}); GPU needs the qiskit-aer-gpu package "
                               "and a CUDA GPU")
        self._aer_noise: dict[int, AerNoiseModel] = {}

    @property
    def noisy(self) -> bool:
        return self._ours is not None or self._theirs is not None

    @property
    def capabilities(self) -> BackendCapabilities:
        density = self.method == "density_matrix" or (self.noisy and self.method == "automatic")
        exact = self.method != "extended_stabilizer" and (not self.noisy or (
            self.method in _EXACT_NOISY and (
                self._theirs is None or "measure" not in self._theirs.noise_instructions)))
        return BackendCapabilities(
            max_qubits=MAX_DENSITY_QUBITS if density else MAX_STATEVECTOR_QUBITS,
            exact_expectations=exact, noisy=self.noisy)

    def _noise_for(self, n: int) -> AerNoiseModel | None:
        if self._ours is None:
            return self._theirs
        if n not in self._aer_noise:
            self._aer_noise[n] = to_aer_noise_model(self._ours, n)
        return self._aer_noise[n]

    def _execute(self, circuits: list[Circuit], shots: int | None,
                 rng: np.random.Generator) -> list[CircuitResult]:
        method = self.method
        if shots is None and self.noisy:
            method = "density_matrix"  # the only method that evolves the exact mixed state
        basis = _basis(method)
        qcs = [_aer_circuit(c, basis) for c in circuits]
        for qc in qcs:
            if shots is None:
                qc.save_probabilities()
            else:
                qc.measure_all()
        run_options: dict[str, Any] = {"method": method,
                                       "noise_model": self._noise_for(max(c.n_qubits
                                                                          for c in circuits))}
        if shots is None:
            run_options["shots"] = 1
        else:
            run_options.update(shots=shots, seed_simulator=int(rng.integers(2**31 - 1)))
        try:
            result = self.simulator.run(qcs, **run_options).result()
        except Exception as e:  # AerError, QiskitError, RuntimeError from the C++ side
            raise BackendError(f"Qiskit Aer failed: {e}") from e
        if not result.success:
            raise BackendError(f"Qiskit Aer failed: {result.status}")
        out = []
        for i, c in enumerate(circuits):
            n = c.n_qubits
            if shots is None:
                p = big_endian_probabilities(result.data(i)["probabilities"], n)
                out.append(CircuitResult(_apply_readout(p, self._ours)))
                continue
            counts: dict[int, int] = {}
            for key, v in result.get_counts(i).items():
                idx = int(key.replace(" ", "")[::-1], 2)
                counts[idx] = counts.get(idx, 0) + int(v)
            probs = np.zeros(2**n)
            for k, v in counts.items():
                probs[k] = v / shots
            out.append(CircuitResult(probs, shots, dict(sorted(counts.items()))))
        return out

    def __repr__(self) -> str:
        noise = self._ours if self._ours is not None else (
            "aer" if self._theirs is not None else None)
        return (f"QiskitAerBackend(name={self.name!r}, method={self.method!r}, "
                f"noise_model={noise!r})")
