"""scikit-learn's small data sets: digits, iris, breast cancer, two moons, two circles.

scikit-learn is optional (``pip install "q-store[sklearn]"``); it is imported only when one
of these is loaded, and its absence is reported as a :class:`NotSupportedError` naming the
extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from q_store.datasets.dataset import Dataset
from q_store.errors import ConfigError, NotSupportedError

__all__ = ["breast_cancer", "circles", "digits", "iris", "moons"]

_INSTALL = 'pip install "q-store[sklearn]"'


def _sklearn_datasets(name: str) -> Any:
    try:
        from sklearn import datasets
    except ImportError as e:
        raise NotSupportedError(f"the {name!r} data set comes from scikit-learn, which is not "
                                f"installed: {_INSTALL}") from e
    return datasets


def _bunch(name: str, loader: str, description: str, image_shape: tuple[int, int] | None = None
           ) -> Dataset:
    b = getattr(_sklearn_datasets(name), loader)()
    return Dataset(np.asarray(b.data, dtype=np.float64), np.asarray(b.target, dtype=np.int64),
                   tuple(str(t) for t in b.target_names), description, name=name,
                   image_shape=image_shape)


def digits() -> Dataset:
    """1,797 handwritten digits, 8x8 pixels with intensities 0-16, 10 classes."""
    return _bunch("digits", "load_digits", "8x8 pixel intensities 0-16, row-major", (8, 8))


def iris() -> Dataset:
    """150 iris flowers, 4 measurements (cm), 3 species."""
    ds = _sklearn_datasets("iris")
    names = ", ".join(ds.load_iris().feature_names)
    return _bunch("iris", "load_iris", names)


def breast_cancer() -> Dataset:
    """569 tumours, 30 real-valued features of cell nuclei, malignant or benign."""
    ds = _sklearn_datasets("breast_cancer")
    names = ", ".join(ds.load_breast_cancer().feature_names)
    return _bunch("breast_cancer", "load_breast_cancer", names)


def _check_synthetic(n_samples: int, noise: float) -> None:
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 4:
        raise ConfigError(f"n_samples must be an integer >= 4, got {n_samples!r}")
    if not isinstance(noise, int | float) or isinstance(noise, bool) or not noise >= 0:
        raise ConfigError(f"noise must be a non-negative number, got {noise!r}")


def moons(n_samples: int = 200, *, noise: float = 0.1, seed: int | None = 0) -> Dataset:
    """Two interleaving half circles in 2-D (scikit-learn's ``make_moons``), 2 classes."""
    _check_synthetic(n_samples, noise)
    x, y = _sklearn_datasets("moons").make_moons(n_samples=n_samples, noise=noise,
                                                 random_state=seed)
    return Dataset(x, y.astype(np.int64), ("0", "1"),
                   f"2-D points, two moons, noise {noise:g}", name="moons")


def circles(n_samples: int = 200, *, noise: float = 0.05, factor: float = 0.5,
            seed: int | None = 0) -> Dataset:
    """A small circle inside a large one in 2-D (``make_circles``), 2 classes (0: outer)."""
    _check_synthetic(n_samples, noise)
    if not isinstance(factor, int | float) or isinstance(factor, bool) or not 0 < factor < 1:
        raise ConfigError(f"factor must lie in (0, 1), got {factor!r}")
    x, y = _sklearn_datasets("circles").make_circles(n_samples=n_samples, noise=noise,
                                                     factor=factor, random_state=seed)
    return Dataset(x, y.astype(np.int64), ("outer", "inner"),
                   f"2-D points, two circles (radius ratio {factor:g}), noise {noise:g}",
                   name="circles")
