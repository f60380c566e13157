"""``Dataset``: a labelled data set as one immutable value.

``X`` is a 2-D array (samples, features) in the dtype the source stores (IDX images stay
``uint8``, 0-255), ``y`` holds class indices ``0..C-1`` (int64), ``class_names`` names them.
Image data sets also carry ``image_shape`` (``X`` holds the flattened pixels, row-major).
Splits, folds and preprocessing return new values; arrays are read-only views.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from q_store.datasets.splits import stratified_kfold, train_test_indices
from q_store.errors import DatasetError

__all__ = ["Dataset"]


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``X`` (n, d), labels ``y`` (n,), class names, and what the features are."""

    X: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    feature_description: str
    name: str = "data"
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.X)
        if x.ndim != 2 or x.dtype.kind not in "biuf":
            raise DatasetError(f"{self.name}: X must be a real 2-D array (samples, features), "
                               f"got {x.dtype} array of shape {x.shape}")
        y = np.asarray(self.y)
        if y.shape != (len(x),):
            raise DatasetError(f"{self.name}: y must have shape ({len(x)},) to match X, got "
                               f"{y.shape}")
        if y.dtype.kind not in "iu":
            raise DatasetError(f"{self.name}: y must hold integer class indices, got {y.dtype}")
        names = tuple(str(c) for c in self.class_names)
        if y.size and (y.min() < 0 or y.max() >= len(names)):
            raise DatasetError(f"{self.name}: labels must lie in [0, {len(names)}) for "
                               f"{len(names)} class names, got {int(y.min())}..{int(y.max())}")
        shape = None if self.image_shape is None else tuple(int(s) for s in self.image_shape)
        if shape is not None and int(np.prod(shape)) != x.shape[1]:
            raise DatasetError(f"{self.name}: image_shape {shape} holds {int(np.prod(shape))} "
                               f"pixels but X has {x.shape[1]} features")
        object.__setattr__(self, "X", _readonly(x))
        object.__setattr__(self, "y", _readonly(y.astype(np.int64, copy=False)))
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "image_shape", shape)

    # -- views -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def images(self) -> np.ndarray:
        """``X`` as images ``(n, *image_shape)``."""
        if self.image_shape is None:
            raise DatasetError(f"{self.name} is not an image data set (no image_shape)")
        return self.X.reshape((len(self), *self.image_shape))

    def class_counts(self) -> np.ndarray:
        """Samples per class ``(n_classes,)``."""
        return np.bincount(self.y, minlength=self.n_classes)

    def __repr__(self) -> str:
        img = "" if self.image_shape is None else f", image_shape={self.image_shape}"
        return (f"Dataset({self.name!r}, samples={len(self)}, features={self.n_features}, "
                f"classes={self.n_classes}{img})")

    # -- new values ------------------------------------------------------------------------------
    def subset(self, indices: object, name: str | None = None) -> Dataset:
        """The samples at ``indices`` (same classes and description)."""
        idx = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(self, X=self.X[idx], y=self.y[idx],
                                   name=name or self.name)

    def split(self, test_size: float | int = 0.3, *, seed: int | None = 0,
              stratify: bool = True) -> tuple[Dataset, Dataset]:
        """``(train, test)``: a seeded, by default stratified split
        (see :func:`~q_store.datasets.splits.train_test_indices`)."""
        tr, te = train_test_indices(self.y, test_size, seed=seed, stratify=stratify)
        return self.subset(tr, f"{self.name}[train]"), self.subset(te, f"{self.name}[test]")

    def sample(self, n: int, *, seed: int | None = 0, stratify: bool = True) -> Dataset:
        """``n`` samples drawn without replacement (stratified: class proportions kept)."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise DatasetError(f"sample size must be a positive integer, got {n!r}")
        if n >= len(self):
            if n == len(self):
                return self
            raise DatasetError(f"cannot sample {n} of the {len(self)} samples of {self.name}")
        _, picked = train_test_indices(self.y, n, seed=seed, stratify=stratify)
        return self.subset(picked)

    def kfold(self, k: int = 5, *, seed: int | None = 0) -> Iterator[tuple[Dataset, Dataset]]:
        """``k`` stratified ``(train, validation)`` pairs for cross-validation."""
        for i, (tr, va) in enumerate(stratified_kfold(self.y, k, seed=seed)):
            yield (self.subset(tr, f"{self.name}[fold {i} train]"),
                   self.subset(va, f"{self.name}[fold {i} validation]"))

    def map(self, transform: Any) -> Dataset:
        """Features replaced by ``transform.transform(X)`` (a fitted preprocessing step or
        pipeline, see :mod:`q_store.datasets.preprocessing`); the description records it and
        ``image_shape`` follows it (downsampled images stay images, PCA output does not)."""
        x = transform.transform(self.X)
        shape = transform.image_shape_after(self.image_shape)
        desc = f"{self.feature_description} -> {transform.describe()}"
        return dataclasses.replace(self, X=x, feature_description=desc, image_shape=shape)

    def loader(self, batch_size: int = 10, *, shuffle: bool = True, seed: int | None = 0,
               drop_last: bool = False) -> Any:
        """A :class:`~q_store.data.DataLoader` over ``(X, y)`` for ``QuantumTrainer``."""
        from q_store.data.loaders import DataLoader

        return DataLoader(self.X, self.y, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          drop_last=drop_last)
