"""MNIST / Fashion-MNIST loaders over IDX files in a user directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from q_store import datasets
from q_store.datasets.idx import write_idx
from q_store.errors import ConfigError, DatasetError
from tests.synthetic_images import write_mnist_dir


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_reads_both_splits_exactly(tmp_path: Path, name: str, compress: bool) -> None:
    ref = write_mnist_dir(tmp_path, compress=compress)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ds = datasets.load(name, path=tmp_path, split=split)
        assert ds.image_shape == (28, 28) and ds.X.dtype == np.uint8
        np.testing.assert_array_equal(ds.images, ref[f"{prefix}_images"])
        np.testing.assert_array_equal(ds.y, ref[f"{prefix}_labels"])
        assert ds.n_classes == 10 and ds.name == f"{name}[{split}]"
    fashion = datasets.load("fashion_mnist", path=tmp_path)
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    assert datasets.load("mnist", path=tmp_path).class_names == tuple("0123456789")


def test_raw_file_preferred_when_both_exist(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, compress=True, seed=1)
    raw = write_mnist_dir(tmp_path, compress=False, seed=2)
    ds = datasets.load("mnist", path=tmp_path)
    np.testing.assert_array_equal(ds.images, raw["train_images"])


def test_non_square_images(tmp_path: Path) -> None:
    ref = write_mnist_dir(tmp_path, shape=(6, 4))
    ds = datasets.load("mnist", path=tmp_path)
    assert ds.image_shape == (6, 4) and ds.X.shape == (30, 24)
    np.testing.assert_array_equal(ds.images, ref["train_images"])


def test_missing_directory_and_files_name_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        datasets.load("mnist", path=tmp_path / "nope")
    with pytest.raises(DatasetError) as info:
        datasets.load("fashion_mnist", path=tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and "never downloads" in msg
    assert "Fashion-MNIST" in msg
    with pytest.raises(ConfigError, match="split='validation'"):
        datasets.load("mnist", path=tmp_path, split="validation")


def _error(directory: Path) -> str:
    with pytest.raises(DatasetError) as info:
        datasets.load("mnist", path=directory)
    return str(info.value)


def test_label_count_mismatch(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    msg = _error(tmp_path)
    assert "train-labels-idx1-ubyte.gz" in msg and "29 labels" in msg and "30 images" in msg


def test_labels_out_of_range(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path)
    labels = np.zeros(30, np.uint8)
    labels[17] = 12
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    msg = _error(tmp_path)
    assert "label 12 at index 17 is out of range" in msg and "0..9" in msg


def test_images_of_wrong_dtype(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((30, 28, 28), np.float32))
    msg = _error(tmp_path)
    assert "train-images-idx3-ubyte.gz" in msg and "float32" in msg
    assert "0x08 (unsigned byte)" in msg


def test_images_of_wrong_rank(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((30, 784), np.uint8))
    assert "3-D array" in _error(tmp_path)


def test_labels_of_wrong_dtype(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(30, np.int32))
    msg = _error(tmp_path)
    assert "train-labels-idx1-ubyte.gz" in msg and "int32" in msg


def test_truncated_image_file(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, compress=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    msg = _error(tmp_path)
    assert "train-images-idx3-ubyte" in msg and "truncated data" in msg
