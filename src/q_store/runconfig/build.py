"""From a checked :class:`RunConfig` to what training needs: split and preprocessed data, the
model and the ``TrainingConfig``. Problems are ConfigFileErrors naming the file and the key
that caused them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import ConfigError, ConfigFileError, ValidationError
from q_store.ml.config import TrainingConfig
from q_store.ml.layers import (
    HardwareEfficientQuantumLayer,
    Layer,
    QuantumConvolutionalLayer,
    QuantumLayer,
    QuantumPoolingLayer,
)
from q_store.ml.models import QuantumModel
from q_store.runconfig.datasets import DataArrays, load_dataset
from q_store.runconfig.load import RunConfig
from q_store.runconfig.preprocess import Preprocessor, encode_labels, split_indices

__all__ = ["PreparedData", "build_model", "prepare_data", "qubit_budget", "transform"]

_LAYERS: dict[str, type[Layer]] = {
    "quantum": QuantumLayer, "hardware_efficient": HardwareEfficientQuantumLayer,
    "convolution": QuantumConvolutionalLayer, "pooling": QuantumPoolingLayer}
_LAYER_OPTIONS = {"quantum": ("depth", "entanglement", "rotations"),
                  "hardware_efficient": ("depth", "entanglement"),
                  "convolution": (), "pooling": ()}
_MAX_CLASSES = 64  # integer labels with more distinct values are taken as regression targets


@dataclass
class PreparedData:
    """The splits after preprocessing; ``classes``: the original labels of classes 0..C-1."""

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None
    task: str
    output_dim: int
    classes: np.ndarray | None
    preprocessor: Preprocessor

    @property
    def n_features(self) -> int:
        return int(self.train[0].shape[1])


def _fail(cfg: RunConfig, key: str | None, exc: Exception) -> ConfigFileError:
    return ConfigFileError(cfg.source, key, str(exc))


def infer_task(data: DataArrays, requested: str) -> str:
    if requested != "auto":
        return requested
    if data.task is not None:
        return data.task
    y = np.asarray(data.y)
    integral = y.dtype.kind in "biu" or (y.dtype.kind == "f" and np.all(y == np.round(y)))
    if y.ndim == 1 and integral and len(np.unique(y)) <= _MAX_CLASSES:
        return "classification"
    return "regression"


def qubit_budget(cfg: RunConfig, tc: TrainingConfig, n_features: int) -> tuple[int, int | None]:
    """``(n_qubits, features the encoder takes)``: amplitude encoding takes ``2**n`` features
    on ``n`` qubits (``n`` from the data unless training.n_qubits is set); the others one
    feature per qubit."""
    explicit = "n_qubits" in cfg["training"]
    if cfg["encoder"]["method"] == "amplitude":
        if explicit:
            return tc.n_qubits, 2**tc.n_qubits
        return max(1, math.ceil(math.log2(max(n_features, 2)))), None
    return tc.n_qubits, tc.n_qubits


def prepare_data(cfg: RunConfig, tc: TrainingConfig,
                 stored: tuple[Preprocessor, np.ndarray | None] | None = None) -> PreparedData:
    """Load, split (seeded, stratified), fit preprocessing on the training split (or use the
    ``stored`` preprocessing and class labels of a run), transform."""
    ds = cfg["dataset"]
    options = {k: v for k, v in ds.items() if k != "name"}
    try:
        data = load_dataset(ds["name"], options, cfg.base_dir)
    except (ConfigError, ValidationError) as exc:
        raise _fail(cfg, "dataset", exc) from None
    task = infer_task(data, cfg["model"]["task"])
    y = np.asarray(data.y)
    classes = None
    if task == "classification":
        if y.ndim != 1:
            raise _fail(cfg, "model.task", ValidationError(
                f"classification needs one label per sample; the labels have shape {y.shape}"))
        classes = np.unique(y)
        if stored is not None and stored[1] is not None and not np.array_equal(
                stored[1], classes):
            raise _fail(cfg, "dataset", ValidationError(
                f"the labels are now {classes.tolist()}; the run was trained on "
                f"{stored[1].tolist()}"))
        y = encode_labels(y, classes)
        output_dim = len(classes)
    else:
        y = y.astype(float)
        output_dim = 1 if y.ndim == 1 else y.shape[1]
    if cfg["model"]["output_dim"] != "auto":
        output_dim = int(cfg["model"]["output_dim"])
    split = cfg["split"]
    seed = split["seed"] if split["seed"] is not None else (tc.seed or 0)
    stratify = split["stratify"] and task == "classification"
    idx = split_indices(y, (split["validation_fraction"], split["test_fraction"]), seed=seed,
                        stratify=stratify)
    x = data.x
    if stored is not None:
        pre = stored[0]
    else:
        pre = _preprocessor(cfg, tc, x.shape[1], len(idx[0]))
        try:
            pre.fit(x[idx[0]])
        except ValidationError as exc:
            raise _fail(cfg, "preprocessing.pca", exc) from None
    try:
        parts = [(pre.transform(x[i]), y[i]) if len(i) else None for i in idx]
    except ValidationError as exc:
        raise _fail(cfg, "dataset", exc) from None
    assert parts[0] is not None
    return PreparedData(parts[0], parts[1], parts[2], task, output_dim, classes, pre)


def _preprocessor(cfg: RunConfig, tc: TrainingConfig, n_features: int, n_train: int
                  ) -> Preprocessor:
    p = cfg["preprocessing"]
    _, takes = qubit_budget(cfg, tc, n_features)
    pca = p["pca"]
    components = None
    if pca == "auto":
        if takes is not None and n_features > takes:
            components = takes
    elif pca is not False:
        components = int(pca)
    if components is not None and components > min(n_features, n_train):
        raise ConfigFileError(cfg.source, "preprocessing.pca", f"{components} components from "
                              f"{n_features} features and {n_train} training samples; at "
                              f"most {min(n_features, n_train)}")
    return Preprocessor(p["scale"], tuple(p["minmax_range"]), components)


def transform(data: PreparedData, x: np.ndarray, y: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """New data (``q-store evaluate --data FILE``) as the training data were prepared."""
    xs = data.preprocessor.transform(x)
    if data.classes is not None:
        return xs, encode_labels(y, data.classes)
    return xs, np.asarray(y, dtype=float)


def build_model(cfg: RunConfig, tc: TrainingConfig, data: PreparedData) -> QuantumModel:
    """The QuantumModel the file describes, for the prepared data's width and task."""
    n_qubits, _ = qubit_budget(cfg, tc, data.n_features)
    enc = dict(cfg["encoder"])
    method = enc.pop("method")
    layers = None
    if cfg["layers"]:
        layers, n = [], n_qubits
        for i, spec in enumerate(cfg["layers"]):
            kind = spec["type"]
            opts = {k: spec[k] for k in _LAYER_OPTIONS[kind] if spec.get(k) is not None}
            unused = [k for k in ("depth", "entanglement", "rotations")
                      if spec.get(k) is not None and k not in opts]
            if unused:
                raise ConfigFileError(cfg.source, f"layers[{i}].{unused[0]}", f"a {kind} layer "
                                      f"takes {', '.join(_LAYER_OPTIONS[kind]) or 'no options'}")
            if kind in ("quantum", "hardware_efficient"):
                opts.setdefault("depth", tc.circuit_depth)
                opts.setdefault("entanglement", tc.entanglement)
            try:
                layer = _LAYERS[kind](n, **opts)
            except (ConfigError, ValidationError) as exc:
                raise _fail(cfg, f"layers[{i}]", exc) from None
            layers.append(layer)
            n = layer.output_qubits()
    try:
        return QuantumModel(
            data.n_features, data.output_dim, tc.circuit_depth, n_qubits=n_qubits,
            encoding=method, encoding_options=enc, task=data.task,
            hardware_efficient=tc.hardware_efficient_ansatz, entanglement=tc.entanglement,
            layers=layers, seed=tc.seed, init_scale=float(cfg["model"]["init_scale"]))
    except (ConfigError, ValidationError) as exc:
        key = "encoder" if "encod" in str(exc) or "option" in str(exc) else "model"
        raise _fail(cfg, key, exc) from None


def model_summary(model: QuantumModel) -> dict[str, Any]:
    """What the run store keeps about the model (plain values)."""
    return {"n_qubits": model.n_qubits, "n_parameters": model.n_parameters,
            "depth": model.circuit.depth, "task": model.task, "encoding": model.encoder.method,
            "input_dim": model.input_dim, "output_dim": model.output_dim,
            "layers": [repr(layer) for layer in model.layers],
            "gates": dict(model.circuit.count_ops())}


def run_paths(run_dir: Path) -> dict[str, Path]:
    return {"checkpoints": run_dir / "checkpoints",
            "preprocessing": run_dir / "preprocessing.npz"}
