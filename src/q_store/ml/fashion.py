"""``QuantumFashionClassifier``: the v3.5 image classifier, a :class:`QuantumModel` over raw pixels.

``QuantumFashionClassifier(n_qubits=6, circuit_depth=4, n_classes=10)`` takes flattened images
(``image_shape``, default Fashion-MNIST's 28x28) and brings them to its qubit budget with the
data-set preprocessing (:func:`q_store.datasets.qubit_budget`: by default area-downsampling to
``2**n_qubits`` pixels and amplitude encoding), then runs variational layers and reads class
probabilities like any classification ``QuantumModel``. It trains with ``QuantumTrainer``
(the spec's ``await trainer.train(model, train_loader, val_loader)`` with loaders of images,
or the convenience :meth:`~QuantumFashionClassifier.fit`), so there is one training path.

Every default (architecture and training schedule) lives in :class:`FashionClassifierDefaults`;
``DEFAULTS`` is the instance the class uses, so tuning changes one place. The defaults are the
configuration that 5-fold cross-validation on training folds chose for 6 qubits on scikit-learn's
digits (``benchmarks/bench_digits.py --select``; results in ``benchmarks/results/digits*.md``):
300 RY weights (depth 50, circular CNOTs), the class projectors read through a softmax with
temperature 40, 45 epochs of Adam with the learning rate decaying from 0.05 to 0.0025.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from q_store.data.loaders import DataLoader
from q_store.datasets.dataset import Dataset
from q_store.datasets.preprocessing import Pipeline, qubit_budget
from q_store.errors import ConfigError, ValidationError
from q_store.ml.config import TrainingConfig
from q_store.ml.inputs import check_features, check_targets
from q_store.ml.layers import QuantumLayer
from q_store.ml.losses import get_loss
from q_store.ml.models import QuantumModel

__all__ = ["DEFAULTS", "FashionClassifierDefaults", "QuantumFashionClassifier"]


@dataclass(frozen=True)
class FashionClassifierDefaults:
    """The classifier's defaults: architecture, preprocessing and training schedule.

    Architecture: ``n_qubits``, ``circuit_depth`` (layers of ``rotations`` on every qubit
    followed by ``entanglement`` CNOTs), ``n_classes``, ``image_shape``, ``encoding``
    (``amplitude``, ``angle`` or ``zz_feature_map``), ``reduce`` (``downsample`` or ``pca``
    when there are more pixels than the encoding takes), ``zero_vectors`` (amplitude encoding
    of an all-zero image: ``error`` or ``uniform``), ``readout`` (``basis_groups`` or
    ``projectors``, :mod:`q_store.ml.readouts`) with its softmax ``readout_temperature``
    (None: the class probabilities as measured), ``init_scale`` (initial weights uniform in
    ``[-init_scale, init_scale]``), ``seed``. Training (:meth:`~QuantumFashionClassifier.
    training_config`): ``epochs``, ``batch_size``, ``learning_rate``, ``optimizer``,
    ``learning_rate_schedule``, ``learning_rate_final_fraction``, ``gradient_method``."""

    n_qubits: int = 6
    circuit_depth: int = 50  # 6 qubits x 50 layers x 1 rotation = 300 weights
    n_classes: int = 10
    image_shape: tuple[int, int] = (28, 28)
    encoding: str = "amplitude"
    reduce: str = "downsample"
    zero_vectors: str = "error"
    rotations: tuple[str, ...] = ("RY",)  # real amplitudes stay real: suits pixel data
    entanglement: str = "circular"
    readout: str = "projectors"
    readout_temperature: float | None = 40.0
    init_scale: float = 1.0
    seed: int | None = 0
    epochs: int = 45
    batch_size: int = 16
    learning_rate: float = 0.05
    optimizer: str = "adam"
    learning_rate_schedule: str = "exponential"
    learning_rate_final_fraction: float = 0.05
    gradient_method: str = "adjoint"


DEFAULTS = FashionClassifierDefaults()
_TRAINING = ("epochs", "batch_size", "learning_rate", "optimizer", "learning_rate_schedule",
             "learning_rate_final_fraction", "gradient_method")
_MODEL = tuple(f.name for f in dataclasses.fields(FashionClassifierDefaults)
               if f.name not in _TRAINING)


def _positive_int(name: str, v: object, low: int = 1) -> int:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


class QuantumFashionClassifier(QuantumModel):
    """Variational quantum image classifier (the spec's v3.5 Fashion-MNIST model).

    ``n_qubits``, ``circuit_depth`` and ``n_classes`` default to ``defaults`` (6, 50, 10);
    ``options`` override the other architecture fields of :class:`FashionClassifierDefaults`
    (e.g. ``image_shape=(8, 8)`` for scikit-learn digits, ``encoding="angle"``,
    ``reduce="pca"``). Inputs are images ``(B, rows * cols)`` or ``(B, rows, cols)`` with
    any real pixel scale. Preprocessing that learns from data (PCA, angle scaling) must be
    fitted on training images first: :meth:`fit` does it, or :meth:`fit_preprocessing`
    before ``QuantumTrainer.train``.
    """

    def __init__(self, n_qubits: int | None = None, circuit_depth: int | None = None,
                 n_classes: int | None = None, *, backend: Any = None,
                 defaults: FashionClassifierDefaults = DEFAULTS, **options: Any) -> None:
        unknown = sorted(set(options) - set(_MODEL))
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown} for QuantumFashionClassifier; "
                              f"allowed: {', '.join(_MODEL)} (training options go to fit() "
                              "or training_config())")
        given = {"n_qubits": n_qubits, "circuit_depth": circuit_depth, "n_classes": n_classes}
        s = dataclasses.replace(defaults, **{k: v for k, v in given.items() if v is not None},
                                **options)
        n = _positive_int("n_qubits", s.n_qubits)
        depth = _positive_int("circuit_depth", s.circuit_depth)
        classes = _positive_int("n_classes", s.n_classes, 2)
        wires = math.ceil(math.log2(classes))
        if wires > n:
            raise ConfigError(f"{classes} classes are read from {wires} qubits, but the "
                              f"model has n_qubits={n}")
        shape = tuple(s.image_shape)
        if len(shape) != 2:
            raise ConfigError(f"image_shape must be (rows, columns), got {s.image_shape!r}")
        rows, cols = (_positive_int("image_shape", v) for v in shape)
        self.settings = dataclasses.replace(s, image_shape=(rows, cols))
        self.image_shape = (rows, cols)
        self._preprocessing_spec = qubit_budget(n, s.encoding, image_shape=(rows, cols),
                                                reduce=s.reduce, zero=s.zero_vectors)
        #: the preprocessing in use (fitted, or waiting for :meth:`fit_preprocessing`)
        self.preprocessing: Pipeline = self._preprocessing_spec
        n_features = self._preprocessing_spec.n_features_out(rows * cols)
        layer = QuantumLayer(n, depth=depth, entanglement=s.entanglement,
                             rotations=s.rotations)
        super().__init__(n_features, classes, depth, backend, n_qubits=n, encoding=s.encoding,
                         task="classification", layers=[layer], seed=s.seed,
                         init_scale=s.init_scale, readout=s.readout,
                         readout_options={"temperature": s.readout_temperature})
        self.n_features = n_features
        self.input_dim = rows * cols  # the model takes pixels; the encoder takes features

    @classmethod
    def for_dataset(cls, data: Dataset, **kw: Any) -> QuantumFashionClassifier:
        """A classifier shaped for ``data``: its ``image_shape`` and number of classes."""
        if data.image_shape is None or len(data.image_shape) != 2:
            raise ValidationError(f"{data.name} is not an image data set (no 2-D image_shape)")
        kw.setdefault("n_classes", data.n_classes)
        kw.setdefault("image_shape", data.image_shape)
        return cls(**kw)

    @property
    def circuit_depth(self) -> int:
        return self.n_layers

    @property
    def n_classes(self) -> int:
        return self.output_dim

    # -- inputs ----------------------------------------------------------------------------------
    def _pixels(self, x: object, where: str = "images") -> np.ndarray:
        """Images as a checked ``(B, rows * cols)`` real array. Integer pixels keep their
        dtype (a 60,000-image uint8 set is not copied to float64 here; batches are)."""
        if isinstance(x, Dataset):
            if x.image_shape is not None and x.image_shape != self.image_shape:
                raise ValidationError(f"{x.name} holds {x.image_shape} images but the "
                                      f"classifier takes {self.image_shape}; build it with "
                                      f"image_shape={x.image_shape}")
            x = x.X
        arr = np.asarray(x)
        if arr.ndim == 3 and arr.shape[1:] == self.image_shape:
            arr = arr.reshape(len(arr), -1)
        elif arr.ndim == 1:
            arr = arr[None, :]
        what = f"{where} (flattened {self.image_shape[0]}x{self.image_shape[1]} images)"
        if arr.dtype.kind in "biu" and arr.ndim == 2 and arr.shape[1] == self.input_dim \
                and len(arr) > 0:
            return arr  # integers are finite: nothing to check, nothing to copy
        return check_features(arr, self.input_dim, what)

    def _data(self, x: object, y: object, where: str) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(x, Dataset):
            if y is not None:
                raise ValidationError(f"{where}: pass a Dataset alone (it holds its labels) "
                                      "or images and labels")
            if x.n_classes != self.n_classes:
                raise ValidationError(f"{x.name} has {x.n_classes} classes, the classifier "
                                      f"{self.n_classes}")
            y = x.y
        elif y is None:
            raise ValidationError(f"{where}: labels are missing; pass images and labels, or a "
                                  "Dataset")
        pixels = self._pixels(x, f"{where} images")
        return pixels, check_targets(y, "classification", self.n_classes, len(pixels),
                                     f"{where} labels")

    def fit_preprocessing(self, x: object) -> QuantumFashionClassifier:
        """Fit the preprocessing on training images (PCA, scaling; nothing to learn for
        downsampling with amplitude encoding). Refits from scratch when called again."""
        pixels = self._pixels(x, "training images")
        spec = self._preprocessing_spec
        self.preprocessing = spec if spec.fitted else spec.fit(pixels)
        return self

    def encode(self, x: object) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Images -> preprocessing -> the encoder's ``(inputs, initial_state)``."""
        pixels = self._pixels(x)
        if not self.preprocessing.fitted:
            raise ValidationError(f"the preprocessing ({self.preprocessing.describe()}) learns "
                                  "from data: call model.fit_preprocessing(training images) "
                                  "or model.fit(...) first")
        return self.encode_features(self.preprocessing.transform(pixels))

    # -- training and evaluation -----------------------------------------------------------------
    def training_config(self, **overrides: Any) -> TrainingConfig:
        """The default :class:`TrainingConfig` for this classifier (schedule from the
        defaults), with ``overrides`` (any TrainingConfig field) applied."""
        s = self.settings
        kw: dict[str, Any] = {k: getattr(s, k) for k in _TRAINING}
        kw.update(seed=s.seed, n_qubits=self.n_qubits, circuit_depth=self.circuit_depth,
                  entanglement=s.entanglement, hardware_efficient_ansatz=False)
        kw.update(overrides)
        return TrainingConfig(**kw)

    def fit(self, x: object, y: object = None, *, validation_data: Any = None,
            config: TrainingConfig | None = None, **training: Any) -> dict[str, list[Any]]:
        """Train with :class:`QuantumTrainer` on images ``x`` and labels ``y`` (or a
        :class:`Dataset`); ``validation_data`` is ``(images, labels)`` or a Dataset. The
        config is ``config`` or :meth:`training_config` with ``training`` overrides. The
        preprocessing is fitted on ``x`` if it is not fitted yet. Returns the history."""
        from q_store.ml.trainer import QuantumTrainer

        if config is not None and training:
            raise ConfigError(f"pass either config or training options, not both (got "
                              f"{sorted(training)})")
        pixels, labels = self._data(x, y, "training data")
        cfg = config if config is not None else self.training_config(**training)
        val = None
        if validation_data is not None:
            vx, vy = (validation_data, None) if isinstance(validation_data, Dataset) \
                else _pair(validation_data)
            val = self._data(vx, vy, "validation data")
        if not self.preprocessing.fitted:
            self.fit_preprocessing(pixels)
        loader = DataLoader(pixels, labels, batch_size=cfg.batch_size, shuffle=cfg.shuffle,
                            seed=cfg.seed)
        trainer = QuantumTrainer(cfg)
        try:
            return trainer.fit(self, loader, val_loader=val)
        finally:
            trainer.close()

    def predict_classes(self, x: object) -> np.ndarray:
        """Class indices ``(B,)`` (``predict`` gives the probabilities ``(B, n_classes)``)."""
        return np.argmax(self.predict(self._pixels(x)), axis=1)

    def evaluate(self, x: object, y: object = None) -> dict[str, float]:
        """``{"loss": cross-entropy, "accuracy": fraction correct}`` on images and labels
        (or a Dataset)."""
        pixels, labels = self._data(x, y, "evaluation data")
        proba = self.predict(pixels)
        loss, _ = get_loss("cross_entropy")(proba, labels)
        return {"loss": float(loss),
                "accuracy": float(np.mean(np.argmax(proba, axis=1) == labels))}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "image_shape": list(self.image_shape),
                "preprocessing": self.preprocessing.describe()}

    def __repr__(self) -> str:
        return (f"QuantumFashionClassifier(n_qubits={self.n_qubits}, circuit_depth="
                f"{self.circuit_depth}, n_classes={self.n_classes}, image_shape="
                f"{self.image_shape}, encoding={self.encoder.method!r}, parameters="
                f"{self.n_parameters})")


def _pair(data: Any) -> tuple[Any, Any]:
    if isinstance(data, tuple | list) and len(data) == 2:
        return data[0], data[1]
    raise ValidationError("validation_data must be (images, labels) or a Dataset, got "
                          f"{type(data).__name__}")
