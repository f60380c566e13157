"""Training and validation data are checked before the first step: bad data fails fast with a
message that names it, and the weights (and, on hardware, the budget) are untouched."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.data import DataLoader
from q_store.errors import ValidationError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.inputs import check_targets


def blobs(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(size=(n, 4)) + y[:, None], y


def classifier() -> QuantumModel:
    return QuantumModel(4, 2, 1, task="classification", seed=0)


def fails_before_training(model: QuantumModel, match: str, *args: object) -> None:
    trainer = QuantumTrainer(TrainingConfig(epochs=2, batch_size=4))
    w0 = model.weights.copy()
    with pytest.raises(ValidationError, match=match):
        trainer.fit(model, *args)
    np.testing.assert_array_equal(model.weights, w0)
    assert trainer.step == 0 and trainer.history["losses"] == []


def test_nan_in_validation_features_fails_before_the_first_step():
    x, y = blobs()
    xv = x.copy()
    xv[3, 1] = np.nan
    fails_before_training(classifier(), r"validation data X contains NaN .*row 3", (x, y),
                          (xv, y))


def test_validation_lengths_that_differ_fail_before_the_first_step():
    x, y = blobs()
    fails_before_training(classifier(), "validation data y has 11 targets but X has 12",
                          (x, y), (x, y[:-1]))


def test_nan_labels_are_named_before_any_cast():
    x, y = blobs()
    yf = y.astype(float)
    yf[2] = np.nan
    fails_before_training(classifier(), "labels contain NaN", (x, yf))


def test_fractional_labels_are_refused_not_truncated():
    x, _ = blobs(4)
    fails_before_training(classifier(), r"whole numbers; got \[0.7, 1.9\]",
                          (x, np.array([0.0, 0.7, 1.9, 1.0])))


def test_labels_out_of_range_name_the_class_count():
    x, y = blobs()
    fails_before_training(classifier(), r"labels must lie in \[0, 2\)", (x, y + 1))


def test_a_regression_model_given_class_labels_suggests_classification():
    x, y = blobs()
    fails_before_training(QuantumModel(4, 2, 1, seed=0), "task='classification'", (x, y))


def test_features_of_the_wrong_width_or_kind():
    x, y = blobs()
    fails_before_training(classifier(), r"shape \(samples, 4\)", (x[:, :3], y))
    fails_before_training(classifier(), "real numeric", (x.astype(str), y))


def test_a_none_batch_in_a_list_of_batches():
    x, y = blobs(8)
    fails_before_training(classifier(), "batch 1: expected a batch",
                          [(x[:4], y[:4]), None])


def test_none_as_data():
    fails_before_training(classifier(), "got None", None)


def test_a_one_shot_stream_is_checked_batch_by_batch():
    """A generator can be read once: its batches are checked as they arrive, before each
    step."""
    x, y = blobs(8)
    bad = y[4:].astype(float)
    bad[0] = np.nan

    def stream():
        yield x[:4], y[:4]
        yield x[4:], bad

    trainer = QuantumTrainer(TrainingConfig(epochs=1))
    with pytest.raises(ValidationError, match="training batch y: labels contain NaN"):
        trainer.fit(classifier(), stream())
    assert trainer.step == 1  # the good first batch was a step


def test_valid_data_of_every_shape_trains():
    x, y = blobs(8)
    loaders = [(x, y), DataLoader(x, y, 4), [(x[:4], y[:4]), (x[4:], y[4:])],
               [{"inputs": x, "targets": y}], (x, y.astype(float))]
    for loader in loaders:
        hist = QuantumTrainer(TrainingConfig(epochs=1)).fit(classifier(), loader)
        assert np.isfinite(hist["losses"][0])


def test_regression_targets_as_vector_or_matrix():
    y = check_targets(np.arange(3.0), "regression", 1, 3)
    assert y.shape == (3, 1)
    with pytest.raises(ValidationError, match="infinity"):
        check_targets(np.array([[1.0], [np.inf]]), "regression", 1, 2)
