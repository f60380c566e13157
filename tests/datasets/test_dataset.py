"""The Dataset value, the load() registry and scikit-learn's data sets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from q_store import datasets
from q_store.datasets import Dataset
from q_store.errors import ConfigError, DatasetError, NotSupportedError
from tests.synthetic_images import write_mnist_dir


def test_dataset_validates_and_is_read_only() -> None:
    x = np.zeros((4, 6))
    ds = Dataset(x, np.array([0, 1, 1, 0]), ("a", "b"), "zeros", image_shape=(2, 3))
    assert ds.images.shape == (4, 2, 3) and ds.n_classes == 2
    np.testing.assert_array_equal(ds.class_counts(), [2, 2])
    with pytest.raises(ValueError):
        ds.X[0, 0] = 1.0
    x[0, 0] = 5.0  # a view: the data set does not copy
    with pytest.raises(DatasetError, match="labels must lie in"):
        Dataset(x, np.array([0, 1, 2, 0]), ("a", "b"), "")
    with pytest.raises(DatasetError, match="shape"):
        Dataset(x, np.array([0, 1]), ("a", "b"), "")
    with pytest.raises(DatasetError, match="integer class indices"):
        Dataset(x, np.array([0.0, 1.0, 1.0, 0.0]), ("a", "b"), "")
    with pytest.raises(DatasetError, match="image_shape"):
        Dataset(x, np.array([0, 1, 1, 0]), ("a", "b"), "", image_shape=(2, 2))
    with pytest.raises(DatasetError, match="not an image data set"):
        _ = Dataset(x, np.array([0, 1, 1, 0]), ("a", "b"), "").images


def test_map_applies_a_fitted_pipeline_and_tracks_image_shape() -> None:
    ds = datasets.load("digits")
    train, test = ds.split(0.3, seed=0)
    small = datasets.qubit_budget(4, image_shape=(8, 8)).fit(train.X)
    mapped = test.map(small)
    assert mapped.image_shape == (4, 4) and mapped.n_features == 16
    assert "area-downsample 8x8 -> 4x4" in mapped.feature_description
    np.testing.assert_allclose(np.linalg.norm(mapped.X, axis=1), 1.0)
    pca = datasets.qubit_budget(3, "angle", image_shape=(8, 8), reduce="pca").fit(train.X)
    assert test.map(pca).image_shape is None


@pytest.mark.parametrize(("name", "n", "d", "c"), [
    ("digits", 1797, 64, 10), ("iris", 150, 4, 3), ("breast_cancer", 569, 30, 2),
    ("moons", 200, 2, 2), ("circles", 200, 2, 2)])
def test_sklearn_data_sets(name: str, n: int, d: int, c: int) -> None:
    ds = datasets.load(name)
    assert (len(ds), ds.n_features, ds.n_classes) == (n, d, c)
    assert ds.y.dtype == np.int64 and ds.feature_description


def test_synthetic_options_and_seeds() -> None:
    a = datasets.load("moons", n_samples=50, noise=0.2, seed=3)
    b = datasets.load("make_moons", n_samples=50, noise=0.2, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert len(a) == 50
    c = datasets.load("circles", factor=0.3, seed=1)
    r = np.linalg.norm(c.X, axis=1)
    assert r[c.y == 1].mean() < r[c.y == 0].mean()
    with pytest.raises(ConfigError, match="factor"):
        datasets.load("circles", factor=1.5)
    with pytest.raises(ConfigError, match="n_samples"):
        datasets.load("moons", n_samples=2)


def test_registry(tmp_path: Path) -> None:
    assert set(datasets.names()) == {"digits", "iris", "breast_cancer", "moons", "circles",
                                     "mnist", "fashion_mnist"}
    with pytest.raises(ConfigError, match=r"unknown data set 'cifar'.*digits"):
        datasets.load("cifar")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['noize'\].*noise"):
        datasets.load("moons", noize=0.1)
    with pytest.raises(ConfigError, match=r"needs option\(s\) \['path'\]"):
        datasets.load("fashion_mnist")
    assert "path" in datasets.options("Fashion-MNIST")
    write_mnist_dir(tmp_path, n_train=20, n_test=10)
    assert len(datasets.load("Fashion-MNIST", path=str(tmp_path), split="test")) == 10


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(NotSupportedError, match=r"q-store\[sklearn\]"):
        datasets.load("digits")
