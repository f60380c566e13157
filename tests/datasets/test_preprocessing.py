"""Preprocessing steps: shapes, invariants, fitted-on-train-only, and the qubit budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from q_store.datasets import (
    PCA,
    AmplitudeNormalize,
    Downsample,
    MinMaxScale,
    Pipeline,
    Standardize,
    qubit_budget,
)
from q_store.errors import ConfigError, StateError, ValidationError

RNG = np.random.default_rng(3)


def test_downsample_is_block_mean_when_sizes_divide() -> None:
    imgs = RNG.uniform(0, 255, size=(5, 6, 8))
    out = Downsample((6, 8), (3, 2)).transform(imgs.reshape(5, -1))
    expected = imgs.reshape(5, 3, 2, 2, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(out, expected.reshape(5, -1), atol=1e-12)


def test_downsample_fractional_overlaps_preserve_the_mean_and_constants() -> None:
    ds = Downsample((28, 28), (8, 8))
    imgs = RNG.uniform(0, 1, size=(4, 784))
    out = ds.transform(imgs)
    assert out.shape == (4, 64)
    np.testing.assert_allclose(out.mean(axis=1), imgs.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(ds.transform(np.full((1, 784), 7.0)), 7.0, atol=1e-12)
    # a single bright pixel at (0, 0) lands in output cell (0, 0) only, weighted 1/3.5**2
    one = np.zeros((1, 784))
    one[0, 0] = 1.0
    cell = ds.transform(one).reshape(8, 8)
    assert cell[0, 0] == pytest.approx(1 / 3.5**2) and np.count_nonzero(cell) == 1


def test_amplitude_vectors_have_unit_norm_and_are_padded() -> None:
    x = RNG.normal(size=(10, 50))
    out = AmplitudeNormalize(6).transform(x)
    assert out.shape == (10, 64)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(out[:, :50] * np.linalg.norm(x, axis=1)[:, None], x,
                               atol=1e-12)
    assert not out[:, 50:].any()
    assert AmplitudeNormalize().transform(x).shape == (10, 64)


def test_zero_vectors_are_refused_or_handled_explicitly() -> None:
    x = np.ones((3, 4))
    x[1] = 0.0
    with pytest.raises(StateError, match="sample 1 is a zero vector"):
        AmplitudeNormalize(2).transform(x)
    out = AmplitudeNormalize(2, zero="uniform").transform(x)
    np.testing.assert_allclose(out[1], 0.5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0)
    with pytest.raises(ConfigError, match="zero='skip'"):
        AmplitudeNormalize(2, zero="skip")
    with pytest.raises(ValidationError, match="at most 4 features"):
        AmplitudeNormalize(2).transform(np.ones((1, 5)))


def test_pca_matches_an_independent_svd() -> None:
    x = RNG.normal(size=(200, 6)) @ RNG.normal(size=(6, 6))
    fitted = PCA(3).fit(x)
    _, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    for k in range(3):  # same directions up to sign
        assert abs(fitted.components[k] @ vt[k]) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(fitted.explained_variance_ratio, (s**2 / (s**2).sum())[:3],
                               rtol=1e-9)
    z = fitted.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.var(axis=0, ddof=1), s[:3] ** 2 / (len(x) - 1), rtol=1e-9)


def test_pca_is_fitted_on_train_only_and_transform_never_refits() -> None:
    train = RNG.normal(size=(100, 5)) * [5, 3, 1, 0.5, 0.1]
    test = RNG.normal(size=(40, 5)) * [0.1, 0.5, 1, 3, 5] + 10.0  # different statistics
    spec = PCA(2)
    fitted = spec.fit(train)
    before = (fitted.mean.copy(), fitted.components.copy())
    z = fitted.transform(test)
    np.testing.assert_array_equal(fitted.mean, before[0])
    np.testing.assert_array_equal(fitted.components, before[1])
    np.testing.assert_allclose(z, (test - train.mean(axis=0)) @ before[1].T, atol=1e-12)
    refit = spec.fit(test).transform(test)
    assert not np.allclose(np.abs(z), np.abs(refit), atol=1e-3)
    assert spec.components is None  # fit returned a new value
    with pytest.raises(ValidationError, match="PCA is not fitted"):
        spec.transform(test)
    with pytest.raises(ValidationError, match="fitted on 5 features, got 4"):
        fitted.transform(test[:, :4])


def test_pca_fit_is_deterministic() -> None:
    x = RNG.normal(size=(50, 8))
    a, b = PCA(4).fit(x), PCA(4).fit(x.copy())
    np.testing.assert_array_equal(a.components, b.components)
    assert a.describe() == b.describe() and "fit " in a.describe()


def test_standardize_and_minmax_use_training_statistics() -> None:
    train = RNG.normal(3.0, 2.0, size=(80, 3))
    train[:, 2] = 4.0  # constant feature
    test = RNG.normal(0.0, 5.0, size=(20, 3))
    st = Standardize().fit(train)
    z = st.transform(train)
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(z[:, 2], 0.0)
    np.testing.assert_allclose(st.transform(test)[:, 0], (test[:, 0] - train[:, 0].mean())
                               / train[:, 0].std())
    mm = MinMaxScale(0.0, math.pi).fit(train)
    a = mm.transform(train)
    np.testing.assert_allclose(a[:, :2].min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(a[:, :2].max(axis=0), math.pi, atol=1e-12)
    t = mm.transform(test)
    assert t.min() >= 0.0 and t.max() <= math.pi
    unclipped = MinMaxScale(0.0, 1.0, clip=False).fit(train).transform(test)
    assert unclipped.min() < 0.0 or unclipped.max() > 1.0
    with pytest.raises(ConfigError):
        MinMaxScale(1.0, 1.0)


def test_pipeline_fits_each_step_on_the_previous_output() -> None:
    x = RNG.uniform(0, 255, size=(60, 16))
    fitted = Pipeline((Standardize(), PCA(3), MinMaxScale(-1.0, 1.0))).fit(x)
    assert fitted.fitted and fitted.n_features_out(16) == 3
    by_hand = fitted.steps[0].transform(x)
    by_hand = fitted.steps[1].transform(by_hand)
    np.testing.assert_allclose(fitted.transform(x), fitted.steps[2].transform(by_hand))
    np.testing.assert_allclose(fitted.transform(x).min(axis=0), -1.0)


@pytest.mark.parametrize(("n_qubits", "encoding", "reduce", "features", "kinds"), [
    (6, "amplitude", "downsample", 64, ["Downsample", "AmplitudeNormalize"]),
    (5, "amplitude", "downsample", 32, ["Downsample", "AmplitudeNormalize"]),
    (6, "amplitude", "pca", 64, ["PCA", "AmplitudeNormalize"]),
    (10, "amplitude", "downsample", 1024, ["AmplitudeNormalize"]),
    (4, "angle", "pca", 4, ["PCA", "MinMaxScale"]),
    (6, "zz_feature_map", "downsample", 6, ["Downsample", "MinMaxScale"]),
])
def test_qubit_budget_for_28x28_images(n_qubits: int, encoding: str, reduce: str,
                                       features: int, kinds: list[str]) -> None:
    spec = qubit_budget(n_qubits, encoding, image_shape=(28, 28), reduce=reduce)
    assert [type(s).__name__ for s in spec.steps] == kinds
    assert spec.n_features_out(784) == features
    imgs = RNG.integers(0, 256, size=(100, 784)).astype(np.uint8)
    out = spec.fit(imgs).transform(imgs)
    assert out.shape == (100, features)
    if encoding == "amplitude":
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-12)
    else:
        assert out.min() >= 0.0 and out.max() <= math.pi


def test_qubit_budget_errors() -> None:
    with pytest.raises(ConfigError, match="needs image data"):
        qubit_budget(2, "amplitude", n_features=30)
    with pytest.raises(ConfigError, match="encoding"):
        qubit_budget(2, "basis", n_features=2)
    with pytest.raises(ConfigError, match="reduce="):
        qubit_budget(2, n_features=2, reduce="crop")
    with pytest.raises(ConfigError, match="image_shape"):
        qubit_budget(2)
    assert qubit_budget(2, n_features=30, reduce="pca").n_features_out(30) == 4
