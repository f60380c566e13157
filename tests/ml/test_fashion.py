"""QuantumFashionClassifier: the spec's constructor, end-to-end training on IDX files, the
preprocessing path cross-checked against a plain QuantumModel, and bad inputs."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from q_store import QuantumTrainer, TrainingConfig, datasets
from q_store.data.loaders import DataLoader
from q_store.datasets import Dataset
from q_store.datasets.preprocessing import _area_weights
from q_store.errors import CheckpointError, ConfigError, StateError, ValidationError
from q_store.ml.layers import QuantumLayer
from q_store.ml.models import QuantumModel
from q_store.ml.readouts import ProjectorReadout
from q_store.models import DEFAULTS, FashionClassifierDefaults, QuantumFashionClassifier
from tests.synthetic_images import synthetic_images, write_synthetic_fashion

TWO_CLASSES = ("left", "right")


def _two_class_idx(tmp_path: Path) -> tuple[Dataset, Dataset]:
    """Bright square left of centre (class 0) or right of it (class 1), from IDX files."""
    write_synthetic_fashion(tmp_path, 48, 40, n_classes=2, cells=(4, 7))
    train = datasets.load("fashion_mnist", path=tmp_path)
    test = datasets.load("fashion_mnist", path=tmp_path, split="test")
    return tuple(dataclasses.replace(d, class_names=TWO_CLASSES)  # type: ignore[return-value]
                 for d in (train, test))


def test_spec_constructor_and_import_path() -> None:
    model = QuantumFashionClassifier(n_qubits=6, circuit_depth=4, n_classes=10)
    assert isinstance(model, QuantumModel)
    assert (model.n_qubits, model.circuit_depth, model.n_classes) == (6, 4, 10)
    assert model.input_dim == 28 * 28 and model.n_features == 64
    assert model.n_parameters == 6 * 4 * len(DEFAULTS.rotations)
    assert model.describe()["preprocessing"].startswith("area-downsample 28x28 -> 8x8")
    default = QuantumFashionClassifier()
    assert (default.n_qubits, default.circuit_depth, default.n_classes) == (
        DEFAULTS.n_qubits, DEFAULTS.circuit_depth, DEFAULTS.n_classes)
    assert "parameters=24" in repr(model)


def test_defaults_live_in_one_dataclass() -> None:
    mine = FashionClassifierDefaults(circuit_depth=2, learning_rate=0.2, epochs=3,
                                     entanglement="linear", rotations=("RY", "RZ"))
    model = QuantumFashionClassifier(defaults=mine)
    assert model.circuit_depth == 2 and model.n_parameters == 6 * 2 * 2
    cfg = model.training_config()
    assert (cfg.learning_rate, cfg.epochs, cfg.batch_size) == (0.2, 3, DEFAULTS.batch_size)
    assert cfg.learning_rate_schedule == DEFAULTS.learning_rate_schedule
    assert model.training_config(epochs=7).epochs == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.epochs = 1  # type: ignore[misc]


def test_defaults_are_the_cross_validated_configuration() -> None:
    """The 6-qubit defaults chosen by benchmarks/bench_digits.py --select: 300 RY weights
    (depth 50, circular CNOTs), class projectors through a softmax with temperature 40."""
    model = QuantumFashionClassifier(image_shape=(8, 8))
    assert model.count_parameters() == 300 == 6 * DEFAULTS.circuit_depth
    assert model.circuit.count_ops()["CNOT"] == 50 * 6 and set(DEFAULTS.rotations) == {"RY"}
    assert isinstance(model.readout, ProjectorReadout)
    assert model.readout.temperature == DEFAULTS.readout_temperature == 40.0
    assert len(model.observables) == 10
    cfg = model.training_config()
    assert (cfg.epochs, cfg.learning_rate, cfg.learning_rate_schedule) == (
        45, 0.05, "exponential")
    x = datasets.load("digits").X[:5]
    plain = QuantumFashionClassifier(image_shape=(8, 8), readout_temperature=None)
    p = plain.predict(x)  # renormalised projector probabilities, the same weights (seed 0)
    z = np.exp(40.0 * p)
    np.testing.assert_allclose(model.predict(x), z / z.sum(axis=1, keepdims=True), rtol=1e-10)
    groups = QuantumFashionClassifier(image_shape=(8, 8), readout="basis_groups")
    assert len(groups.observables) == 64 and groups.count_parameters() == 300


def test_classifier_equals_a_quantum_model_on_preprocessed_features() -> None:
    """Same weights, same layers: the classifier on pixels = QuantumModel on the features it
    derives, and those features are the normalised area-averaged image."""
    imgs, _ = synthetic_images(6, seed=3)
    model = QuantumFashionClassifier(circuit_depth=3, seed=1)
    flat = imgs.reshape(6, -1).astype(float)
    rows = _area_weights(28, 8)
    small = np.einsum("ai,nij,bj->nab", rows, imgs.astype(float), rows).reshape(6, -1)
    features = small / np.linalg.norm(small, axis=1, keepdims=True)
    np.testing.assert_allclose(model.preprocessing.transform(flat), features, atol=1e-12)
    plain = QuantumModel(64, 10, encoding="amplitude", task="classification", n_qubits=6,
                         layers=[QuantumLayer(6, depth=3, entanglement=DEFAULTS.entanglement,
                                              rotations=DEFAULTS.rotations)],
                         readout=DEFAULTS.readout,
                         readout_options={"temperature": DEFAULTS.readout_temperature})
    plain.weights = model.weights
    np.testing.assert_allclose(model.predict(flat), plain.predict(features), atol=1e-12)
    np.testing.assert_allclose(model.predict(imgs), model.predict(flat), atol=0)  # (B, 28, 28)


def test_trains_end_to_end_on_idx_files_with_the_spec_trainer(tmp_path: Path) -> None:
    """The spec's loop, ``await trainer.train(model, train_loader, val_loader)``, on raw
    28x28 pixels read from IDX files: well above chance (0.5) on held-out images."""
    train, test = _two_class_idx(tmp_path)
    model = QuantumFashionClassifier(n_qubits=6, circuit_depth=4, n_classes=2)
    before = model.evaluate(test)
    config = model.training_config(epochs=10, batch_size=8)
    trainer = QuantumTrainer(config)
    history = asyncio.run(trainer.train(model, train.loader(8, seed=0),
                                        DataLoader(test.X, test.y, batch_size=40, shuffle=False)))
    after = model.evaluate(test)
    assert len(history["losses"]) == 10
    assert history["val_losses"][-1] < history["val_losses"][0]
    assert after["loss"] < before["loss"]
    assert after["accuracy"] >= 0.9
    np.testing.assert_allclose(after["loss"], history["val_losses"][-1], rtol=1e-9)


def test_fit_predict_evaluate_shapes_on_ten_classes(tmp_path: Path) -> None:
    write_synthetic_fashion(tmp_path, 40, 20, n_classes=10)
    train = datasets.load("fashion_mnist", path=tmp_path)
    test = datasets.load("fashion_mnist", path=tmp_path, split="test")
    model = QuantumFashionClassifier.for_dataset(train, circuit_depth=2)
    history = model.fit(train, validation_data=test, epochs=2)
    assert len(history["losses"]) == 2 and len(history["val_accuracy"]) == 2
    proba = model.predict(test.X)
    assert proba.shape == (20, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    classes = model.predict_classes(test.images)
    assert classes.shape == (20,) and classes.min() >= 0 and classes.max() < 10
    np.testing.assert_array_equal(classes, np.argmax(proba, axis=1))
    scores = model.evaluate(test.X, test.y)
    assert set(scores) == {"loss", "accuracy"}
    assert scores["accuracy"] == pytest.approx(np.mean(classes == test.y))
    assert model.fit(test.X, test.y, epochs=1)["losses"]


def test_pca_angle_variant_needs_fitted_preprocessing(tmp_path: Path) -> None:
    imgs, labels = synthetic_images(30, n_classes=2, cells=(4, 7))
    flat = imgs.reshape(30, -1)
    model = QuantumFashionClassifier(n_qubits=4, circuit_depth=2, n_classes=2,
                                     encoding="angle", reduce="pca")
    assert model.n_features == 4
    with pytest.raises(ValidationError, match="fit_preprocessing"):
        model.predict(flat)
    model.fit_preprocessing(flat)
    assert "PCA to 4 components" in model.describe()["preprocessing"]
    assert model.predict(flat).shape == (30, 2)
    fresh = QuantumFashionClassifier(n_qubits=4, circuit_depth=2, n_classes=2,
                                     encoding="angle", reduce="pca")
    fresh.fit(flat, labels, epochs=1)  # fit fits the preprocessing first
    assert fresh.preprocessing.fitted


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    imgs, labels = synthetic_images(16, n_classes=2, cells=(4, 7))
    model = QuantumFashionClassifier(n_classes=2, circuit_depth=2)
    cfg = model.training_config(epochs=1, batch_size=8, checkpoint_dir=str(tmp_path))
    trainer = QuantumTrainer(cfg)
    trainer.fit(model, (imgs.reshape(16, -1), labels))
    other = QuantumFashionClassifier(n_classes=2, circuit_depth=2, seed=9)
    assert not np.allclose(other.weights, model.weights)
    QuantumTrainer(cfg).restore(tmp_path / "latest.npz", other)
    np.testing.assert_array_equal(other.weights, model.weights)
    wrong = QuantumFashionClassifier(n_classes=2, circuit_depth=2, image_shape=(8, 8))
    with pytest.raises(CheckpointError, match="different architecture"):
        QuantumTrainer(cfg).restore(tmp_path / "latest.npz", wrong)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ConfigError, match="n_classes must be an integer >= 2"):
        QuantumFashionClassifier(n_classes=1)
    with pytest.raises(ConfigError, match="read from 7 qubits"):
        QuantumFashionClassifier(n_qubits=6, n_classes=100)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['epochs'\]"):
        QuantumFashionClassifier(epochs=3)
    with pytest.raises(ConfigError, match="circuit_depth"):
        QuantumFashionClassifier(circuit_depth=0)
    with pytest.raises(ConfigError, match="image_shape"):
        QuantumFashionClassifier(image_shape=(28,))
    with pytest.raises(ConfigError, match="encoding"):
        QuantumFashionClassifier(encoding="basis")


def test_bad_inputs() -> None:
    model = QuantumFashionClassifier(n_classes=2, circuit_depth=1)
    imgs, labels = synthetic_images(8, n_classes=2)
    flat = imgs.reshape(8, -1)
    with pytest.raises(ValidationError, match=r"\(samples, 784\)"):
        model.predict(flat[:, :100])
    with pytest.raises(ValidationError, match=r"labels must lie in \[0, 2\)"):
        model.evaluate(flat, labels + 5)
    with pytest.raises(ValidationError, match="labels are missing"):
        model.fit(flat)
    with pytest.raises(ValidationError, match="NaN"):
        model.predict(np.full((1, 784), np.nan))
    with pytest.raises(StateError, match="zero vector"):
        model.predict(np.zeros((2, 784)))
    with pytest.raises(ConfigError, match="either config or training options"):
        model.fit(flat, labels, config=TrainingConfig(), epochs=2)
    digits = datasets.load("digits")
    with pytest.raises(ValidationError, match=r"image_shape=\(8, 8\)"):
        model.predict(digits)
    with pytest.raises(ValidationError, match="10 classes"):
        QuantumFashionClassifier(n_classes=2, image_shape=(8, 8)).evaluate(digits)
    with pytest.raises(ValidationError, match="validation_data"):
        model.fit(flat, labels, validation_data=flat, epochs=1)
