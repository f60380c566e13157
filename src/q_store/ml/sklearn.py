"""scikit-learn estimators over :class:`~q_store.ml.models.QuantumModel`.

:class:`QuantumClassifier` and :class:`QuantumRegressor` follow scikit-learn's conventions:
constructor arguments are stored verbatim (so ``clone``, ``get_params`` / ``set_params``, grid
search and ``cross_val_score`` work), everything learned ends in ``_``, and ``fit`` validates
its inputs with :mod:`sklearn.utils.validation`. ``fit`` builds a ``QuantumModel``, a
``TrainingConfig`` and a ``QuantumTrainer`` and trains on the exact local simulator.

Classification labels may be any values; they are encoded to ``0..C-1`` (``classes_`` holds the
originals, sorted). Regression reads ``<Z>`` of the first wires, which lies in ``[-1, 1]``; with
``normalize_y=True`` (the default) the targets are mapped linearly onto ``[-1, 1]`` for
training and predictions are mapped back.

scikit-learn is imported by this module only: ``import q_store`` does not need it
(``pip install "q-store[sklearn]"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.model_selection import train_test_split
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_is_fitted, check_X_y
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("q_store.ml.sklearn needs scikit-learn: pip install "
                      "'q-store[sklearn]' (or scikit-learn>=1.3)") from exc

from q_store.data.loaders import DataLoader
from q_store.ml.config import TrainingConfig
from q_store.ml.models import QuantumModel
from q_store.ml.trainer import QuantumTrainer

__all__ = ["QuantumClassifier", "QuantumRegressor"]

_DEFAULT_INIT_SCALE = math.pi / 2


class _QuantumEstimatorBase(BaseEstimator):
    """Shared parameters, model construction and training."""

    _task = "regression"

    def __init__(self, n_layers: int = 2, encoding: str = "angle", n_qubits: int | None = None,
                 hardware_efficient: bool = True, entanglement: str = "circular",
                 encoding_options: dict[str, Any] | None = None, epochs: int = 20,
                 batch_size: int = 16, learning_rate: float = 0.05, optimizer: str = "adam",
                 gradient_method: str = "adjoint", loss: str | None = None,
                 seed: int | None = 0, init_scale: float = _DEFAULT_INIT_SCALE,
                 validation_fraction: float | None = None,
                 early_stopping_patience: int | None = None, shuffle: bool = True) -> None:
        self.n_layers = n_layers
        self.encoding = encoding
        self.n_qubits = n_qubits
        self.hardware_efficient = hardware_efficient
        self.entanglement = entanglement
        self.encoding_options = encoding_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.gradient_method = gradient_method
        self.loss = loss
        self.seed = seed
        self.init_scale = init_scale
        self.validation_fraction = validation_fraction
        self.early_stopping_patience = early_stopping_patience
        self.shuffle = shuffle

    # -- construction ----------------------------------------------------------------------------
    def _resolve_n_qubits(self, n_features: int, readout_wires: int) -> int:
        """The given ``n_qubits``, or the smallest that holds the features and the readout."""
        if self.n_qubits is not None:
            return int(self.n_qubits)
        if str(self.encoding).lower() == "amplitude":
            held = max(1, math.ceil(math.log2(n_features)))
        else:
            held = n_features
        return max(held, readout_wires)

    def _build_model(self, n_features: int, output_dim: int, readout_wires: int
                     ) -> QuantumModel:
        return QuantumModel(
            n_features, output_dim, n_layers=self.n_layers,
            n_qubits=self._resolve_n_qubits(n_features, readout_wires),
            encoding=self.encoding, encoding_options=self.encoding_options, task=self._task,
            hardware_efficient=self.hardware_efficient, entanglement=self.entanglement,
            seed=self.seed, init_scale=self.init_scale)

    def _config(self) -> TrainingConfig:
        return TrainingConfig(
            learning_rate=self.learning_rate, epochs=self.epochs, batch_size=self.batch_size,
            optimizer=self.optimizer, gradient_method=self.gradient_method, loss=self.loss,
            seed=self.seed, shuffle=self.shuffle, entanglement=self.entanglement,
            circuit_depth=self.n_layers, hardware_efficient_ansatz=self.hardware_efficient,
            early_stopping_patience=self.early_stopping_patience)

    def _split(self, x: np.ndarray, y: np.ndarray, stratify: bool
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        frac = self.validation_fraction
        if frac is None:
            return x, y, None, None
        if not 0.0 < float(frac) < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1) or None, got {frac!r}")
        x_tr, x_val, y_tr, y_val = train_test_split(
            x, y, test_size=frac, random_state=self.seed, stratify=y if stratify else None)
        return x_tr, y_tr, x_val, y_val

    def _train(self, model: QuantumModel, x: np.ndarray, y: np.ndarray, stratify: bool
               ) -> dict[str, list[Any]]:
        x_tr, y_tr, x_val, y_val = self._split(x, y, stratify)
        config = self._config()
        loader = DataLoader(x_tr, y_tr, batch_size=int(self.batch_size), shuffle=self.shuffle,
                            seed=self.seed)
        val = None if x_val is None else DataLoader(x_val, y_val, batch_size=len(x_val),
                                                    shuffle=False)
        trainer = QuantumTrainer(config)
        history = trainer.fit(model, loader, val_loader=val)
        self.performance_stats_ = trainer.get_performance_stats()
        return history

    def _check_predict_input(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        arr = check_array(x, dtype=np.float64)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input")
        return arr


class QuantumClassifier(ClassifierMixin, _QuantumEstimatorBase):
    """Variational quantum classifier (cross-entropy on basis-state probabilities).

    Parameters are those of :class:`QuantumModel` (``n_layers``, ``encoding``, ``n_qubits``,
    ``hardware_efficient``, ``entanglement``, ``encoding_options``, ``init_scale``) and of
    :class:`TrainingConfig` (``epochs``, ``batch_size``, ``learning_rate``, ``optimizer``,
    ``gradient_method``, ``loss``, ``seed``, ``early_stopping_patience``, ``shuffle``).
    ``validation_fraction`` holds out a stratified part of the training data, reported in
    ``history_['val_losses']`` and monitored by early stopping (which then restores the best
    weights). ``n_qubits=None`` uses as many qubits as the encoding needs for the features, and
    at least ``ceil(log2 C)`` for the readout of ``C`` classes.

    Attributes after ``fit``: ``classes_``, ``n_features_in_``, ``model_`` (the trained
    ``QuantumModel``), ``history_`` (the trainer's history), ``performance_stats_``.
    """

    _task = "classification"

    def fit(self, X: Any, y: Any) -> QuantumClassifier:
        x_arr, y_arr = check_X_y(X, y, dtype=np.float64)
        check_classification_targets(y_arr)
        classes, encoded = np.unique(y_arr, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"QuantumClassifier needs samples of at least 2 classes; got 1 "
                             f"class: {classes[0]!r}")
        n_classes = len(classes)
        readout = max(1, math.ceil(math.log2(n_classes)))
        self.classes_ = classes
        self.n_features_in_ = x_arr.shape[1]
        self.model_ = self._build_model(x_arr.shape[1], n_classes, readout)
        self.history_ = self._train(self.model_, x_arr, encoded.astype(np.int64),
                                    stratify=self.validation_fraction is not None)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of
        ``classes_``."""
        arr = self._check_predict_input(X)
        proba = np.clip(self.model_.predict(arr), 0.0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class QuantumRegressor(RegressorMixin, _QuantumEstimatorBase):
    """Variational quantum regressor: ``<Z>`` of the first wire per output (mean squared error).

    Parameters as for :class:`QuantumClassifier`, plus ``normalize_y``: map the training
    targets (per output) linearly onto ``[-1, 1]``, the range of ``<Z>``, and predictions back.
    With ``normalize_y=False`` the targets must already lie in ``[-1, 1]`` to be reachable.

    Attributes after ``fit``: ``n_features_in_``, ``n_outputs_``, ``model_``, ``history_``,
    ``performance_stats_``, ``y_offset_`` and ``y_scale_`` (the target map).
    """

    _task = "regression"

    def __init__(self, n_layers: int = 2, encoding: str = "angle", n_qubits: int | None = None,
                 hardware_efficient: bool = True, entanglement: str = "circular",
                 encoding_options: dict[str, Any] | None = None, epochs: int = 20,
                 batch_size: int = 16, learning_rate: float = 0.05, optimizer: str = "adam",
                 gradient_method: str = "adjoint", loss: str | None = None,
                 seed: int | None = 0, init_scale: float = _DEFAULT_INIT_SCALE,
                 validation_fraction: float | None = None,
                 early_stopping_patience: int | None = None, shuffle: bool = True,
                 normalize_y: bool = True) -> None:
        super().__init__(n_layers=n_layers, encoding=encoding, n_qubits=n_qubits,
                         hardware_efficient=hardware_efficient, entanglement=entanglement,
                         encoding_options=encoding_options, epochs=epochs,
                         batch_size=batch_size, learning_rate=learning_rate,
                         optimizer=optimizer, gradient_method=gradient_method, loss=loss,
                         seed=seed, init_scale=init_scale,
                         validation_fraction=validation_fraction,
                         early_stopping_patience=early_stopping_patience, shuffle=shuffle)
        self.normalize_y = normalize_y

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": True}

    def fit(self, X: Any, y: Any) -> QuantumRegressor:
        x_arr, y_arr = check_X_y(X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y2 = y_arr.reshape(len(y_arr), -1)
        self.n_features_in_ = x_arr.shape[1]
        self.n_outputs_ = y2.shape[1]
        self.y_offset_, self.y_scale_ = _target_map(y2, bool(self.normalize_y))
        self.model_ = self._build_model(x_arr.shape[1], self.n_outputs_, self.n_outputs_)
        scaled = (y2 - self.y_offset_) / self.y_scale_
        target = scaled[:, 0] if y_arr.ndim == 1 else scaled
        self.history_ = self._train(self.model_, x_arr, target, stratify=False)
        self._y_was_1d = y_arr.ndim == 1
        return self

    def predict(self, X: Any) -> np.ndarray:
        arr = self._check_predict_input(X)
        out = self.model_.predict(arr) * self.y_scale_ + self.y_offset_
        return out[:, 0] if self._y_was_1d else out


def _target_map(y: np.ndarray, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, scale)`` per output such that ``(y - offset) / scale`` spans ``[-1, 1]``."""
    if not normalize:
        return np.zeros(y.shape[1]), np.ones(y.shape[1])
    lo, hi = y.min(axis=0), y.max(axis=0)
    half = (hi - lo) / 2.0
    return (hi + lo) / 2.0, np.where(half > 0, half, 1.0)
