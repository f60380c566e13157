"""Seeded, stratified splits: train/test index splits, subsamples and k folds.

Plain numpy (no scikit-learn needed). Stratified means every class is split in the same
proportion: the test part takes ``round(test_size * n)`` samples in total, shared among the
classes by largest remainder, so each class's test count is within one of its exact share.
Everything is a function of ``(labels, sizes, seed)``: the same seed gives the same split.
"""

from __future__ import annotations

import numbers

import numpy as np

from q_store.errors import ConfigError, DatasetError

__all__ = ["stratified_kfold", "train_test_indices"]


def _labels(y: object) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise DatasetError(f"labels must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


def _test_count(n: int, test_size: object) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise ConfigError(f"test_size must be a fraction in (0, 1) or a sample count, got "
                          f"{test_size!r}")
    if isinstance(test_size, numbers.Integral):
        k = int(test_size)
    elif 0.0 < float(test_size) < 1.0:
        k = round(float(test_size) * n)
    else:
        raise ConfigError(f"test_size must be a fraction in (0, 1) or a sample count, got "
                          f"{test_size!r}")
    if not 1 <= k <= n - 1:
        raise ConfigError(f"test_size={test_size!r} leaves {k} of {n} samples for the test "
                          "part; both parts need at least one sample")
    return k


def _shares(counts: np.ndarray, total: int) -> np.ndarray:
    """Integer shares of ``total`` proportional to ``counts`` (largest remainder; ties go to
    the earlier class)."""
    exact = counts * (total / counts.sum())
    base = np.floor(exact).astype(np.int64)
    rest = total - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return base


def train_test_indices(y: object, test_size: float | int = 0.3, *, seed: int | None = 0,
                       stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` index arrays (sorted, disjoint, covering all samples).

    ``test_size`` is a fraction in (0, 1) or a number of samples. With ``stratify`` (every
    class needs two samples) each class's test count is within one of its exact share,
    ``test count * class count / n``."""
    labels = _labels(y)
    n = len(labels)
    k = _test_count(n, test_size)
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n)
        return np.sort(perm[k:]), np.sort(perm[:k])
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if np.any(counts < 2):
        lone = classes[counts < 2][0]
        raise DatasetError(f"class {lone!r} has a single sample; a stratified split needs at "
                           "least two per class (or use stratify=False)")
    share = _shares(counts, k)
    test = []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        test.append(members[: share[c]])
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(n, dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def stratified_kfold(y: object, k: int = 5, *, seed: int | None = 0
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` pairs ``(train, validation)`` of sorted index arrays: every sample is in exactly
    one validation fold; each class is spread over the folds evenly (per-class and total fold
    sizes differ by at most one)."""
    labels = _labels(y)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
        raise ConfigError(f"k must be an integer >= 2, got {k!r}")
    k = int(k)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if np.any(counts < k):
        small = classes[counts < k][0]
        raise DatasetError(f"class {small!r} has {int(counts[counts < k][0])} samples, fewer "
                           f"than k={k} folds")
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(inverse == c))
                            for c in range(len(classes))])
    fold_of = np.empty(len(labels), dtype=np.int64)
    fold_of[order] = np.arange(len(order)) % k
    folds = []
    for f in range(k):
        folds.append((np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)))
    return folds
