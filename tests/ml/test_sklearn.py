"""scikit-learn estimators: fit / predict, pipelines, cross-validation, cloning, errors."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from q_store.ml.models import QuantumModel  # noqa: E402
from q_store.ml.sklearn import QuantumClassifier, QuantumRegressor  # noqa: E402


def blobs(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 4 features, centred at -0.8 and +0.8 (std 0.35), string labels."""
    rng = np.random.default_rng(seed)
    half = n // 2
    x = np.concatenate([rng.normal(-0.8, 0.35, (half, 4)), rng.normal(0.8, 0.35, (n - half, 4))])
    y = np.array(["neg"] * half + ["pos"] * (n - half))
    order = rng.permutation(n)
    return x[order], y[order]


def fast_classifier(**kw: object) -> QuantumClassifier:
    params: dict[str, object] = {"n_layers": 2, "epochs": 8, "batch_size": 8,
                                 "learning_rate": 0.1, "seed": 0}
    params.update(kw)
    return QuantumClassifier(**params)


def test_classifier_fit_predict_separable_blobs() -> None:
    x, y = blobs(80, seed=0)
    x_test, y_test = blobs(60, seed=1)
    clf = fast_classifier().fit(x, y)
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.n_features_in_ == 4
    assert isinstance(clf.model_, QuantumModel)
    assert len(clf.history_["losses"]) == 8
    assert clf.history_["losses"][-1] < clf.history_["losses"][0]
    proba = clf.predict_proba(x_test)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = clf.predict(x_test)
    assert set(pred) <= {"neg", "pos"}
    assert np.array_equal(pred, clf.classes_[np.argmax(proba, axis=1)])
    assert clf.score(x_test, y_test) >= 0.95


def test_classifier_is_deterministic_for_a_seed() -> None:
    x, y = blobs(40, seed=2)
    a = fast_classifier(epochs=2).fit(x, y).predict_proba(x)
    b = fast_classifier(epochs=2).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)


def test_pipeline_and_cross_val_score() -> None:
    x, y = blobs(60, seed=3)
    pipe = make_pipeline(StandardScaler(), fast_classifier(epochs=5))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,)
    assert np.all(scores >= 0.85) and scores.mean() >= 0.9


def test_multiclass_labels_and_readout_qubits() -> None:
    rng = np.random.default_rng(4)
    centres = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    labels = rng.integers(0, 4, 80)
    x = centres[labels] + rng.normal(0.0, 0.2, (80, 2))
    clf = fast_classifier(epochs=20, n_layers=3).fit(x, labels * 10)
    assert list(clf.classes_) == [0, 10, 20, 30]
    assert clf.model_.n_qubits == 2 and clf.predict_proba(x).shape == (80, 4)
    assert clf.score(x, labels * 10) >= 0.95


def test_get_params_set_params_clone_round_trip() -> None:
    clf = QuantumClassifier(n_layers=3, encoding="angle", epochs=4, learning_rate=0.02,
                            validation_fraction=0.2, encoding_options={"rotation": "Y"})
    params = clf.get_params()
    assert params["n_layers"] == 3 and params["epochs"] == 4
    assert params["encoding_options"] == {"rotation": "Y"}
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == params
    assert twin.set_params(epochs=7) is twin and twin.epochs == 7 and clf.epochs == 4
    reg = QuantumRegressor(normalize_y=False, n_qubits=5)
    assert clone(reg).get_params() == reg.get_params()
    assert reg.get_params()["normalize_y"] is False


def test_clone_of_fitted_estimator_is_unfitted() -> None:
    x, y = blobs(20, seed=5)
    clf = fast_classifier(epochs=1).fit(x, y)
    twin = clone(clf)
    assert not hasattr(twin, "model_")
    with pytest.raises(NotFittedError):
        twin.predict(x)


def test_not_fitted_errors() -> None:
    x = np.zeros((3, 4))
    with pytest.raises(NotFittedError):
        QuantumClassifier().predict(x)
    with pytest.raises(NotFittedError):
        QuantumClassifier().predict_proba(x)
    with pytest.raises(NotFittedError):
        QuantumRegressor().predict(x)


def test_input_validation() -> None:
    x, y = blobs(20, seed=6)
    clf = fast_classifier(epochs=1).fit(x, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        fast_classifier().fit(x, y[:-1])
    with pytest.raises(ValueError, match="2 classes"):
        fast_classifier().fit(x, np.zeros(len(x)))
    with pytest.raises(ValueError):
        fast_classifier().fit(x, np.linspace(0.0, 1.0, len(x)))  # continuous labels
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        fast_classifier().fit(bad, y)


def test_validation_fraction_records_validation_history() -> None:
    x, y = blobs(40, seed=7)
    clf = fast_classifier(epochs=3, validation_fraction=0.25).fit(x, y)
    assert len(clf.history_["val_losses"]) == 3
    assert len(clf.history_["val_accuracy"]) == 3
    with pytest.raises(ValueError, match="validation_fraction"):
        fast_classifier(validation_fraction=1.5).fit(x, y)


def smooth_target(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``y = 3 + 2 sin(x0) cos(x1)`` on ``[-pi/2, pi/2]^2`` (outside [-1, 1], so the target map
    is exercised)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi / 2, np.pi / 2, (n, 2))
    return x, 3.0 + 2.0 * np.sin(x[:, 0]) * np.cos(x[:, 1])


def test_regressor_beats_the_mean_predictor() -> None:
    x, y = smooth_target(80, seed=0)
    x_test, y_test = smooth_target(60, seed=1)
    reg = QuantumRegressor(n_layers=2, epochs=15, batch_size=8, learning_rate=0.1, seed=0)
    reg.fit(x, y)
    pred = reg.predict(x_test)
    assert pred.shape == (60,)
    mse = float(np.mean((pred - y_test) ** 2))
    baseline = float(np.mean((np.mean(y) - y_test) ** 2))
    assert mse < 0.05 * baseline
    assert reg.score(x_test, y_test) > 0.95  # R^2
    assert reg.n_outputs_ == 1 and reg.history_["losses"][-1] < reg.history_["losses"][0]


def test_regressor_multi_output_and_pipeline() -> None:
    x, y = smooth_target(40, seed=2)
    y2 = np.column_stack([y, -y])
    reg = make_pipeline(StandardScaler(), QuantumRegressor(epochs=2, batch_size=8))
    reg.fit(x, y2)
    assert reg.predict(x).shape == (40, 2)
