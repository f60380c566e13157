"""Stratified, seeded splits and folds."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.datasets import Dataset, stratified_kfold, train_test_indices
from q_store.errors import ConfigError, DatasetError

LABELS = np.repeat(np.arange(4), [50, 30, 17, 3])


@pytest.mark.parametrize("test_size", [0.3, 0.25, 0.5, 33])
def test_split_keeps_class_proportions(test_size: float) -> None:
    tr, te = train_test_indices(LABELS, test_size, seed=5)
    n_test = test_size if isinstance(test_size, int) else round(test_size * len(LABELS))
    assert len(te) == n_test and len(tr) + len(te) == len(LABELS)
    assert not set(tr) & set(te)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, te])), np.arange(len(LABELS)))
    counts = np.bincount(LABELS)
    share = np.bincount(LABELS[te], minlength=4)
    assert np.all(np.abs(share - counts * n_test / len(LABELS)) < 1.0)


def test_split_is_reproducible_by_seed() -> None:
    a = train_test_indices(LABELS, 0.3, seed=1)
    b = train_test_indices(LABELS, 0.3, seed=1)
    c = train_test_indices(LABELS, 0.3, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # proportions do not depend on the seed: the per-class counts are identical
    np.testing.assert_array_equal(np.bincount(LABELS[a[1]]), np.bincount(LABELS[c[1]]))


def test_unstratified_split() -> None:
    tr, te = train_test_indices(LABELS, 0.5, seed=0, stratify=False)
    assert len(te) == 50 and not set(tr) & set(te)


def test_split_errors() -> None:
    with pytest.raises(ConfigError, match="test_size"):
        train_test_indices(LABELS, 1.0)
    with pytest.raises(ConfigError, match="at least one sample"):
        train_test_indices(LABELS, len(LABELS))
    with pytest.raises(DatasetError, match="single sample"):
        train_test_indices(np.array([0, 0, 1]), 0.5)
    with pytest.raises(DatasetError, match="1-D"):
        train_test_indices(np.zeros((3, 2)), 0.5)


def test_kfold_partitions_and_stratifies() -> None:
    folds = stratified_kfold(LABELS, 3, seed=4)
    vals = [va for _, va in folds]
    np.testing.assert_array_equal(np.sort(np.concatenate(vals)), np.arange(len(LABELS)))
    sizes = [len(v) for v in vals]
    assert max(sizes) - min(sizes) <= 1
    for tr, va in folds:
        assert not set(tr) & set(va) and len(tr) + len(va) == len(LABELS)
        per_class = np.bincount(LABELS[va], minlength=4)
        assert np.all(np.abs(per_class - np.bincount(LABELS) / 3) < 1.0)
    again = stratified_kfold(LABELS, 3, seed=4)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    with pytest.raises(DatasetError, match="fewer than k=5"):
        stratified_kfold(LABELS, 5)
    with pytest.raises(ConfigError, match="k must be"):
        stratified_kfold(LABELS, 1)


def _dataset() -> Dataset:
    x = np.arange(len(LABELS) * 4, dtype=np.float64).reshape(-1, 4)
    return Dataset(x, LABELS, ("a", "b", "c", "d"), "counting", name="toy",
                   image_shape=(2, 2))


def test_dataset_split_sample_and_kfold_keep_rows_and_labels_together() -> None:
    ds = _dataset()
    train, test = ds.split(0.3, seed=0)
    for part in (train, test):
        rows = (part.X[:, 0] // 4).astype(int)  # which original row each sample is
        assert np.all(np.diff(rows) > 0)
        np.testing.assert_array_equal(part.y, LABELS[rows])
        assert part.class_names == ds.class_names and part.image_shape == (2, 2)
    assert len(train) + len(test) == len(ds) and test.name == "toy[test]"
    small = ds.sample(20, seed=1)
    assert len(small) == 20
    np.testing.assert_array_equal(np.bincount(small.y, minlength=4), [10, 6, 3, 1])
    folds = list(ds.kfold(3, seed=0))
    assert len(folds) == 3 and sum(len(v) for _, v in folds) == len(ds)
