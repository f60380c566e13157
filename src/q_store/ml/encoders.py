"""Data encoders: classical feature vectors to quantum states.

Template encoders (:class:`AngleEncoder`, :class:`BasisEncoder`, :class:`ZZFeatureMap`) give a
circuit over inputs ``x[0..n_features-1]`` and no weights, plus :meth:`inputs` turning a data
batch into the values to bind. :class:`AmplitudeEncoder` gives the exact states (simulators start
from them via ``initial_state``) and, for hardware, an exact state-preparation circuit per sample.
:class:`QuantumDataEncoder` is the spec's facade (``await encoder.encode_batch(X, method=...)``).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from q_store.circuit.expr import x
from q_store.circuit.ir import Circuit, CircuitBuilder
from q_store.errors import ConfigError, StateError, ValidationError
from q_store.ml._state_prep import prepare_state_circuit

__all__ = [
    "METHODS",
    "AmplitudeEncoder",
    "AngleEncoder",
    "BasisEncoder",
    "EncodedBatch",
    "Encoder",
    "QuantumDataEncoder",
    "ZZFeatureMap",
    "get_encoder",
]


def _check_n_qubits(n: object) -> None:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"n_qubits must be a positive integer, got {n!r}")


def _as_batch(data: object, n_features: int, what: str, complex_ok: bool = False) -> np.ndarray:
    """``data`` as a finite ``(B, n_features)`` array (a 1-D vector becomes a batch of one)."""
    try:
        arr = np.asarray(data)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"got dtype {arr.dtype}")
        if np.iscomplexobj(arr) and not complex_ok:
            raise TypeError("got complex values")
        arr = arr.astype(complex if complex_ok and np.iscomplexobj(arr) else float)
    except (TypeError, ValueError) as e:
        kind = "numbers" if complex_ok else "real numbers"
        raise ValidationError(f"{what} input must be an array of {kind}: {e}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValidationError(f"{what} input must have shape (n_features,) or (B, n_features) "
                              f"with B >= 1, got {np.shape(data)}")
    if arr.shape[1] != n_features:
        raise ValidationError(f"{what} takes {n_features} features per sample, "
                              f"got {arr.shape[1]}")
    bad = ~np.isfinite(arr)
    if bad.any():
        b, j = np.argwhere(bad)[0]
        raise ValidationError(f"{what} input must be finite; sample {b} feature {j} is "
                              f"{arr[b, j].item()!r}")
    return arr


@lru_cache(maxsize=256)
def _template(encoder: Encoder) -> Circuit:
    return encoder._build()


@dataclass(frozen=True)
class Encoder:
    """Common interface of every encoder (frozen, hashable values)."""

    n_qubits: int
    method: ClassVar[str] = ""
    uses_initial_state: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_n_qubits(self.n_qubits)

    @property
    def n_features(self) -> int:
        return self.n_qubits

    def circuit(self) -> Circuit:
        """The encoding circuit template over ``x[0..n_features-1]`` (no weights); cached."""
        return _template(self)

    def _build(self) -> Circuit:  # pragma: no cover - overridden
        raise NotImplementedError

    def inputs(self, data: object) -> np.ndarray:
        """Validated values ``(B, n_features)`` to bind to :meth:`circuit`."""
        return _as_batch(data, self.n_features, f"{self.method} encoding")

    def states(self, data: object, simulator: Any = None) -> np.ndarray:
        """Encoded states ``(B, 2**n_qubits)``, by simulating the template."""
        if simulator is None:
            from q_store.sim.statevector import StatevectorSimulator

            simulator = StatevectorSimulator()
        return simulator.state(self.circuit(), inputs=self.inputs(data))

    def state_preparation(self, sample: object) -> Circuit:
        """A bound circuit preparing the encoded state of one sample from |0...0>."""
        xs = self.inputs(sample)
        if xs.shape[0] != 1:
            raise ValidationError(f"state_preparation takes one sample, got {xs.shape[0]}")
        return self.circuit().bind(inputs=xs[0])


@dataclass(frozen=True)
class AngleEncoder(Encoder):
    """Qubit ``q`` gets ``R_axis(scaling * x_q)``; for ``rotation='Z'`` an H comes first.

    :meth:`inputs` applies ``scaling``; the template binds ``x[q]`` directly."""

    rotation: str = "X"
    scaling: float = 1.0
    method: ClassVar[str] = "angle"

    def __post_init__(self) -> None:
        super().__post_init__()
        rot = self.rotation.upper() if isinstance(self.rotation, str) else self.rotation
        if rot not in ("X", "Y", "Z"):
            raise ConfigError(f"rotation must be 'X', 'Y' or 'Z', got {self.rotation!r}")
        object.__setattr__(self, "rotation", rot)
        s = self.scaling
        if not isinstance(s, numbers.Real) or isinstance(s, bool) or not np.isfinite(s):
            raise ConfigError(f"scaling must be a finite real number, got {s!r}")
        object.__setattr__(self, "scaling", float(s))

    def _build(self) -> Circuit:
        b = CircuitBuilder(self.n_qubits)
        for q in range(self.n_qubits):
            if self.rotation == "Z":
                b.h(q)
            b.append("R" + self.rotation, q, x[q])
        return b.build(n_inputs=self.n_features)

    def inputs(self, data: object) -> np.ndarray:
        return self.scaling * super().inputs(data)


@dataclass(frozen=True)
class BasisEncoder(Encoder):
    """Binary features: qubit ``q`` is flipped when ``x_q = 1``.

    The template is ``RX(pi * x[q])``: on 0/1 inputs that is I or ``X`` up to a global phase
    ``-i`` (``RX(pi) = -iX``), so the state is the basis state ``|x_0 x_1 ...>`` times ``(-i)**k``
    for ``k`` ones. Any other value is rejected."""

    method: ClassVar[str] = "basis"

    def _build(self) -> Circuit:
        b = CircuitBuilder(self.n_qubits)
        for q in range(self.n_qubits):
            b.rx(q, np.pi * x[q])
        return b.build(n_inputs=self.n_features)

    def inputs(self, data: object) -> np.ndarray:
        arr = super().inputs(data)
        bad = (arr != 0.0) & (arr != 1.0)
        if bad.any():
            b, j = np.argwhere(bad)[0]
            raise ValidationError(f"basis encoding takes binary features (0 or 1); sample {b} "
                                  f"feature {j} is {arr[b, j].item()!r}")
        return arr


@dataclass(frozen=True)
class ZZFeatureMap(Encoder):
    """Havlicek et al. (Nature 567, 209 (2019)) second-order Pauli-Z map, as Qiskit's
    ``ZZFeatureMap``: per rep, H on all qubits, ``P(2 x_i)`` on each, and for every pair
    ``(i, j)``: CNOT(i, j), ``P(2 (pi - x_i)(pi - x_j))`` on j, CNOT(i, j). Pairs: all ``i < j``
    (``'full'``) or neighbours (``'linear'``)."""

    reps: int = 2
    entanglement: str = "full"
    method: ClassVar[str] = "zz_feature_map"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.reps, numbers.Integral) or isinstance(self.reps, bool) \
                or self.reps < 1:
            raise ConfigError(f"reps must be a positive integer, got {self.reps!r}")
        if self.entanglement not in ("full", "linear"):
            raise ConfigError(f"entanglement must be 'full' or 'linear', "
                              f"got {self.entanglement!r}")

    def pairs(self) -> list[tuple[int, int]]:
        n = self.n_qubits
        if self.entanglement == "linear":
            return [(i, i + 1) for i in range(n - 1)]
        return [(i, j) for i in range(n) for j in range(i + 1, n)]

    def _build(self) -> Circuit:
        b = CircuitBuilder(self.n_qubits)
        for _ in range(self.reps):
            for q in range(self.n_qubits):
                b.h(q)
            for q in range(self.n_qubits):
                b.phase(q, 2.0 * x[q])
            for i, j in self.pairs():
                b.cnot(i, j)
                b.phase(j, 2.0 * (np.pi - x[i]) * (np.pi - x[j]))
                b.cnot(i, j)
        return b.build(n_inputs=self.n_features)


@dataclass(frozen=True)
class AmplitudeEncoder(Encoder):
    """``n_features <= 2**n_qubits`` values as the amplitudes of ``n_qubits`` qubits: zero-padded
    to ``2**n`` and normalised (complex input keeps its phases). The template is empty; the
    state enters as ``initial_state`` (:meth:`states`) or, on hardware, through the exact
    Möttönen state-preparation circuit of :meth:`state_preparation`."""

    n_features: int | None = None  # type: ignore[assignment]
    method: ClassVar[str] = "amplitude"
    uses_initial_state: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        dim = 2**self.n_qubits
        nf = dim if self.n_features is None else self.n_features
        if not isinstance(nf, numbers.Integral) or isinstance(nf, bool) or not 1 <= nf <= dim:
            raise ConfigError(f"amplitude encoding on {self.n_qubits} qubits holds 1 to {dim} "
                              f"features, got n_features={nf!r}")
        object.__setattr__(self, "n_features", int(nf))

    def _build(self) -> Circuit:
        return Circuit(self.n_qubits)

    def inputs(self, data: object) -> np.ndarray:
        """Validated raw features ``(B, n_features)`` (complex allowed; not normalised)."""
        return _as_batch(data, self.n_features, "amplitude encoding", complex_ok=True)

    def states(self, data: object, simulator: Any = None) -> np.ndarray:
        """Normalised, zero-padded states ``(B, 2**n_qubits)``; StateError for zero vectors."""
        arr = self.inputs(data)
        norms = np.linalg.norm(arr, axis=1)
        if not (norms > 1e-300).all():
            zero = np.flatnonzero(~(norms > 1e-300))
            raise StateError(f"amplitude encoding needs a non-zero feature vector; sample "
                             f"{zero[0]} has norm {norms[zero[0]]!r}")
        out = np.zeros((arr.shape[0], 2**self.n_qubits), dtype=np.complex128)
        out[:, : self.n_features] = arr / norms[:, None]
        return out

    def state_preparation(self, sample: object) -> Circuit:
        """Exact preparation of one sample's state from |0...0> (up to a global phase): CNOT,
        RY and (complex input only) RZ gates."""
        st = self.states(sample)
        if st.shape[0] != 1:
            raise ValidationError(f"state_preparation takes one sample, got {st.shape[0]}")
        return prepare_state_circuit(st[0])


_ENCODERS: dict[str, type[Encoder]] = {
    "angle": AngleEncoder,
    "basis": BasisEncoder,
    "zz_feature_map": ZZFeatureMap,
    "zz": ZZFeatureMap,
    "amplitude": AmplitudeEncoder,
}
METHODS = tuple(_ENCODERS)

def _encoder_class(method: object) -> type[Encoder]:
    key = method.lower() if isinstance(method, str) else method
    if key not in _ENCODERS:
        raise ConfigError(f"unknown encoding method {method!r}; allowed: {', '.join(METHODS)}")
    return _ENCODERS[key]


def get_encoder(method: str, n_qubits: int, **options: Any) -> Encoder:
    """Encoder for ``method`` (see :data:`METHODS`) on ``n_qubits`` qubits."""
    cls = _encoder_class(method)
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "n_qubits"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for {cls.method} encoding; "
                          f"allowed: {allowed}")
    return cls(n_qubits, **options)


@dataclass(frozen=True, eq=False)
class EncodedBatch:
    """Encoded data: the template ``circuit`` with ``inputs`` ``(B, n_features)`` to bind, or
    (amplitude) the exact ``states`` ``(B, 2**n)`` to start from. Arrays are read-only."""

    method: str
    circuit: Circuit
    inputs: np.ndarray | None
    states: np.ndarray | None

    def __post_init__(self) -> None:
        for arr in (self.inputs, self.states):
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        arr = self.states if self.states is not None else self.inputs
        return 0 if arr is None else arr.shape[0]

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    def to_states(self, simulator: Any = None) -> np.ndarray:
        """The encoded states ``(B, 2**n)`` (templates: simulated on ``simulator``, default a
        :class:`~q_store.sim.StatevectorSimulator`)."""
        if self.states is not None:
            return np.array(self.states)
        if simulator is None:
            from q_store.sim.statevector import StatevectorSimulator

            simulator = StatevectorSimulator()
        return simulator.state(self.circuit, inputs=self.inputs)


def _shape(data: object) -> tuple[int, ...]:
    try:
        return np.shape(data)
    except ValueError as e:  # ragged nested lists
        raise ValidationError(f"encoder input must be a rectangular array: {e}") from None


class QuantumDataEncoder:
    """The spec's encoder facade: ``encoder = QuantumDataEncoder(n_qubits=4)``, then
    ``await encoder.encode_batch(X, method="amplitude")``.

    ``options`` configure the default ``method``'s encoder (e.g. ``reps=3`` for
    ``'zz_feature_map'``); other methods use their defaults. Amplitude encoding takes as many
    features as the data has (up to ``2**n_qubits``) unless ``n_features`` is given. The async
    methods compute directly (encoding is cheap and CPU-bound); they exist for the spec's API.
    """

    def __init__(self, n_qubits: int, method: str = "angle", **options: Any) -> None:
        _check_n_qubits(n_qubits)
        self.n_qubits = int(n_qubits)
        self.method = _encoder_class(method).method
        self.options = dict(options)
        get_encoder(self.method, self.n_qubits, **self.options)  # validate now

    def __repr__(self) -> str:
        return (f"QuantumDataEncoder(n_qubits={self.n_qubits}, method={self.method!r}"
                + "".join(f", {k}={v!r}" for k, v in self.options.items()) + ")")

    def encoder(self, method: str | None = None, n_features: int | None = None) -> Encoder:
        """The encoder used for ``method`` (default: this facade's method)."""
        cls = _encoder_class(self.method if method is None else method)
        opts = dict(self.options) if cls.method == self.method else {}
        if cls is AmplitudeEncoder and "n_features" not in opts and n_features:
            dim = 2**self.n_qubits
            if n_features > dim:
                need = int(np.ceil(np.log2(n_features)))
                raise ValidationError(f"amplitude encoding on {self.n_qubits} qubits holds at "
                                      f"most {dim} features, got {n_features}; use "
                                      f"n_qubits >= {need}")
            opts["n_features"] = n_features
        return get_encoder(cls.method, self.n_qubits, **opts)

    def encode_batch_sync(self, data: object, method: str | None = None) -> EncodedBatch:
        """Encode a batch ``(B, n_features)``."""
        shape = _shape(data)
        if len(shape) != 2:
            raise ValidationError(f"encode_batch takes a (B, n_features) batch, got shape "
                                  f"{shape}; use encode for a single sample")
        enc = self.encoder(method, n_features=shape[1])
        if isinstance(enc, AmplitudeEncoder):
            return EncodedBatch(enc.method, enc.circuit(), None, enc.states(data))
        return EncodedBatch(enc.method, enc.circuit(), enc.inputs(data), None)

    def encode_sync(self, data: object, method: str | None = None) -> EncodedBatch:
        """Encode one sample ``(n_features,)``: a batch of size 1."""
        shape = _shape(data)
        if len(shape) != 1:
            raise ValidationError(f"encode takes one sample of shape (n_features,), got shape "
                                  f"{shape}; use encode_batch for a batch")
        return self.encode_batch_sync(np.asarray(data)[None, :], method)

    async def encode_batch(self, data: object, method: str | None = None) -> EncodedBatch:
        """Async form of :meth:`encode_batch_sync` (the spec's API)."""
        return self.encode_batch_sync(data, method)

    async def encode(self, data: object, method: str | None = None) -> EncodedBatch:
        """Async form of :meth:`encode_sync` (the spec's API)."""
        return self.encode_sync(data, method)
