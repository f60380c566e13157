"""``QuantumModel``: an encoder, trainable layers and a readout, over one circuit template.

The readout (:mod:`q_store.ml.readouts`) says what is measured and how it becomes outputs. By
default regression reads ``<Z>`` of the first ``output_dim`` active wires and classification
reads class probabilities from basis-state measurements of the first ``ceil(log2 C)`` active
wires (one projector per class), renormalised over the ``C`` classes when ``C`` is not a power
of two; ``readout="basis_groups"`` and a softmax ``temperature`` are the alternatives.
The circuit is built once; every call binds new weights and inputs to it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit import Circuit, Observable
from q_store.circuit.params import as_real_array
from q_store.errors import ConfigError, ValidationError
from q_store.ml.encoders import Encoder, get_encoder
from q_store.ml.layers import HardwareEfficientQuantumLayer, Layer, QuantumLayer
from q_store.ml.readouts import Readout, get_readout
from q_store.sim import StatevectorSimulator

__all__ = ["QuantumModel"]

_TASKS = ("regression", "classification")


class QuantumModel:
    """A variational quantum model.

    ``QuantumModel(input_dim, output_dim, n_layers=2, backend=None)`` as in the spec; options:
    ``n_qubits`` (default: ``input_dim`` for angle/basis/ZZ encodings, ``ceil(log2 input_dim)``
    for amplitude encoding), ``encoding``, ``task``, ``hardware_efficient`` or ``layer_class``,
    ``entanglement``, ``layers`` (a custom list, e.g. convolution and pooling), ``seed``,
    ``readout`` (a :class:`~q_store.ml.readouts.Readout` or its name, built with
    ``readout_options`` such as ``{"temperature": 40}``; default: the task's).
    """

    def __init__(self, input_dim: int, output_dim: int, n_layers: int = 2, backend: Any = None,
                 *, n_qubits: int | None = None, encoding: str = "angle",
                 encoding_options: dict[str, Any] | None = None, task: str = "regression",
                 hardware_efficient: bool = False, layer_class: type[Layer] | None = None,
                 entanglement: str = "circular", layers: Sequence[Layer] | None = None,
                 seed: int | None = None, init_scale: float = math.pi / 2,
                 readout: str | Readout | None = None,
                 readout_options: dict[str, Any] | None = None) -> None:
        for name, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if task not in _TASKS:
            raise ConfigError(f"task={task!r} is not allowed; choose one of {', '.join(_TASKS)}")
        self.input_dim, self.output_dim, self.task = input_dim, output_dim, task
        self.readout: Readout = get_readout(readout, task, output_dim, **(readout_options or {}))
        self.backend = backend
        self.encoding = encoding
        amplitude = str(encoding).lower() == "amplitude"
        if n_qubits is None:
            n_qubits = max(1, math.ceil(math.log2(input_dim))) if amplitude else input_dim
        opts = dict(encoding_options or {})
        if amplitude:
            opts.setdefault("n_features", input_dim)
        self.encoder: Encoder = get_encoder(encoding, n_qubits, **opts)
        if not amplitude and input_dim > self.encoder.n_features:
            raise ConfigError(f"{encoding} encoding on {n_qubits} qubits takes at most "
                              f"{self.encoder.n_features} features, got input_dim={input_dim}")
        self.n_qubits = n_qubits
        if layers is None:
            if layer_class is None:
                layer_class = HardwareEfficientQuantumLayer if hardware_efficient else QuantumLayer
            layers = [layer_class(n_qubits, depth=n_layers, entanglement=entanglement,
                                  backend=backend)]
        self.layers = list(layers)
        self.n_layers = n_layers
        self._build()
        self.init_parameters(np.random.default_rng(seed), init_scale)

    @classmethod
    def from_config(cls, config: Any, input_dim: int, output_dim: int, **options: Any
                    ) -> QuantumModel:
        """A model shaped by a :class:`~q_store.ml.config.TrainingConfig`: ``n_qubits``,
        ``circuit_depth`` (layers; ``min_circuit_depth`` with ``adaptive_circuit_depth``),
        ``hardware_efficient_ansatz``, ``entanglement``, ``seed`` (explicit ``options``
        win)."""
        kw: dict[str, Any] = {"n_qubits": config.n_qubits,
                              "hardware_efficient": config.hardware_efficient_ansatz,
                              "entanglement": config.entanglement, "seed": config.seed}
        if str(options.get("encoding", "angle")).lower() == "amplitude":
            kw.pop("n_qubits")
        kw.update(options)
        depth = (config.min_circuit_depth if getattr(config, "adaptive_circuit_depth", False)
                 else config.circuit_depth)  # adaptive depth grows it during training
        n_layers = kw.pop("n_layers", depth)
        return cls(input_dim, output_dim, n_layers, **kw)

    # -- structure -------------------------------------------------------------------------------
    def _build(self) -> None:
        b = Circuit.builder(self.n_qubits).extend(self.encoder.circuit().operations)
        wires: tuple[int, ...] = tuple(range(self.n_qubits))
        offset = 0
        self._offsets = []
        for layer in self.layers:
            if layer.n_qubits != len(wires):
                raise ConfigError(f"{type(layer).__name__} expects {layer.n_qubits} qubits but "
                                  f"{len(wires)} carry information at that point")
            self._offsets.append(offset)
            wires = layer.append_to(b, wires, offset)
            offset += layer.n_parameters
        self.readout_wires = wires
        self.n_parameters = offset
        n_x = self.encoder.n_features if not self.encoder.uses_initial_state else 0
        self.circuit: Circuit = b.build(n_weights=offset, n_inputs=n_x)
        # what training steps run: the circuit, or (adaptive depth) the circuit without the
        # blocks not grown yet, which are the identity (q_store.ml.depth)
        self.training_circuit: Circuit = self.circuit
        self.observables: tuple[Observable, ...] = self.readout.observables(wires)

    @property
    def quantum_layer(self) -> Layer:
        """The first trainable layer (the spec's ``model.quantum_layer``)."""
        return self.layers[0]

    # -- parameters ------------------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        return np.concatenate([layer.parameters for layer in self.layers]) if self.layers \
            else np.zeros(0)

    @weights.setter
    def weights(self, values: np.ndarray) -> None:
        w = self._check_weights(values)
        for layer, off in zip(self.layers, self._offsets, strict=True):
            layer.parameters = w[off : off + layer.n_parameters].copy()

    def _check_weights(self, values: object) -> np.ndarray:
        """``values`` as ``n_parameters`` finite real numbers, or a ValidationError."""
        w = as_real_array(values, "weights", ValidationError)
        if w.shape != (self.n_parameters,) or not np.isfinite(w).all():
            raise ValidationError(f"weights must be {self.n_parameters} finite real numbers, "
                                  f"got shape {w.shape}")
        return w

    def _check_mask(self, values: object) -> np.ndarray:
        """A trainable mask: ``n_parameters`` booleans (or 0/1), or a ValidationError."""
        raw = np.asarray(values)
        if raw.shape != (self.n_parameters,) or raw.dtype.kind not in "biu" or (
                raw.dtype.kind != "b" and not np.all((raw == 0) | (raw == 1))):
            raise ValidationError(f"trainable must be {self.n_parameters} booleans, got "
                                  f"{raw.dtype} array of shape {raw.shape}")
        return raw.astype(bool)

    @property
    def trainable_mask(self) -> np.ndarray:
        return np.concatenate([layer.trainable_mask for layer in self.layers])

    def init_parameters(self, rng: np.random.Generator, scale: float = math.pi / 2) -> None:
        for layer in self.layers:
            layer.init_parameters(rng, scale)

    def count_parameters(self) -> int:
        """Number of trainable (not frozen) weights."""
        return int(self.trainable_mask.sum())

    def get_state(self) -> dict[str, Any]:
        """Weights and frozen flags (arrays) plus the architecture description."""
        return {"weights": self.weights, "trainable": self.trainable_mask,
                "architecture": self.describe()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Set weights (and frozen flags) from :meth:`get_state`'s dict. Everything is checked
        first (architecture, weight count, real and finite values, mask length), so a bad
        state raises ValidationError and leaves the model unchanged."""
        if not isinstance(state, dict) or "weights" not in state:
            raise ValidationError("state must be a dict with 'weights' (and optionally "
                                  "'trainable' and 'architecture'), as from get_state()")
        arch = state.get("architecture")
        if arch is not None and arch != self.describe():
            raise ValidationError(f"state is for a different architecture: {arch} "
                                  f"(this model: {self.describe()})")
        w = self._check_weights(state["weights"])
        mask = self._check_mask(state["trainable"]) if "trainable" in state else None
        self.weights = w
        if mask is not None:
            for layer, off in zip(self.layers, self._offsets, strict=True):
                layer.unfreeze_parameters()
                frozen = np.flatnonzero(~mask[off : off + layer.n_parameters])
                if len(frozen):
                    layer.freeze_parameters(frozen)

    def describe(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "n_qubits": self.n_qubits, "task": self.task, "encoding": self.encoder.method,
                "layers": [repr(layer) for layer in self.layers],
                "readout": self.readout.describe(), "n_parameters": self.n_parameters}

    # -- evaluation ------------------------------------------------------------------------------
    def encode(self, x: object) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(inputs, initial_state)`` for a batch of raw features ``(B, input_dim)``."""
        arr = np.asarray(x)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.input_dim:
            raise ValidationError(f"expected inputs of shape (B, {self.input_dim}), got "
                                  f"{np.shape(x)}")
        return self.encode_features(arr)

    def encode_features(self, arr: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(inputs, initial_state)`` for features ``(B, d)`` that the encoder takes (``d`` at
        most its feature count; shorter rows are zero-padded). Models whose raw inputs need
        preprocessing first (:class:`~q_store.ml.fashion.QuantumFashionClassifier`) override
        :meth:`encode` and call this."""
        if self.encoder.uses_initial_state:
            return None, self.encoder.states(arr)
        if arr.shape[1] < self.encoder.n_features:
            arr = np.pad(arr, ((0, 0), (0, self.encoder.n_features - arr.shape[1])))
        return self.encoder.inputs(arr), None

    def postprocess(self, raw: np.ndarray) -> np.ndarray:
        """Model outputs from the raw expectation values ``(B, K)`` (the readout's map)."""
        return self.readout.outputs(raw)

    def postprocess_vjp(self, raw: np.ndarray, d_out: np.ndarray) -> np.ndarray:
        """Chain rule through :meth:`postprocess`."""
        return self.readout.vjp(raw, d_out)

    def predict(self, x: object, simulator: StatevectorSimulator | None = None, *,
                executor: Any = None, shots: int | None = None) -> np.ndarray:
        """Outputs ``(B, output_dim)``: on the exact local simulator, or on the model's
        backend (or ``executor``) when that is a remote or noisy backend (``shots`` for
        backends that only sample)."""
        inputs, states = self.encode(x)
        own = executor is None and simulator is None
        if own:
            executor = _executor(self.backend, shots)
        if executor is not None:
            try:
                raw = executor.expectation(self.circuit, self.observables, self.weights,
                                           inputs, initial_state=states)
            finally:
                if own:
                    executor.close()
        else:
            sim = simulator or StatevectorSimulator()
            raw = sim.expectation(self.circuit, self.observables, self.weights, inputs,
                                  initial_state=states)
        return self.postprocess(np.atleast_2d(raw))

    __call__ = predict

    async def forward(self, x: object) -> np.ndarray:
        """The spec's ``await model.forward(inputs)``."""
        return await asyncio.to_thread(self.predict, x)

    def __repr__(self) -> str:
        return (f"QuantumModel(input_dim={self.input_dim}, output_dim={self.output_dim}, "
                f"n_qubits={self.n_qubits}, task={self.task!r}, encoding="
                f"{self.encoder.method!r}, parameters={self.n_parameters})")


def _executor(backend: Any, shots: int | None) -> Any:
    """An executor for the model's backend; None for the exact local simulator."""
    from q_store.backends.local import LocalSimulatorBackend, remote_backend
    from q_store.execution.backend_executor import BackendExecutor

    remote = remote_backend(backend)
    if remote is None:
        if shots is None:
            return None
        remote = (backend if isinstance(backend, LocalSimulatorBackend)
                  else LocalSimulatorBackend(simulator=backend))
    return BackendExecutor(remote, shots)

