"""MNIST and Fashion-MNIST from the standard IDX files in a directory the user gives.

Nothing is downloaded: the files must already be there, under their standard names
(``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``, gzip-compressed or not; the uncompressed file is read when both
exist). Images must be a 3-D array of unsigned bytes, labels a 1-D array of unsigned bytes
below 10 and as many as the images.
"""

from __future__ import annotations

import os
from pathlib import Path

from q_store.datasets.dataset import Dataset
from q_store.datasets.idx import DEFAULT_MAX_BYTES, read_idx, type_name
from q_store.errors import ConfigError, DatasetError

__all__ = ["FASHION_MNIST_CLASSES", "MNIST_CLASSES", "idx_file_names", "load_idx_images"]

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
_PREFIX = {"train": "train", "test": "t10k"}
_SOURCES = {"mnist": "MNIST (https://yann.lecun.com/exdb/mnist/)",
            "fashion_mnist": "Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist)"}


def idx_file_names(split: str) -> tuple[str, str]:
    """The standard (uncompressed) names of a split's image and label files."""
    if split not in _PREFIX:
        raise ConfigError(f"split={split!r} is not allowed; choose 'train' or 'test'")
    p = _PREFIX[split]
    return f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte"


def _find(directory: Path, stem: str, name: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{directory}: no {stem} or {stem}.gz; put the {_SOURCES[name]} IDX "
                       "files there under their standard names (q_store never downloads data)")


def load_idx_images(name: str, path: str | os.PathLike[str], split: str = "train", *,
                    class_names: tuple[str, ...], max_bytes: int = DEFAULT_MAX_BYTES
                    ) -> Dataset:
    """One split of an MNIST-format data set as a :class:`Dataset` (``uint8`` pixels)."""
    img_stem, lab_stem = idx_file_names(split)
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory; pass the directory holding the "
                           f"{_SOURCES[name]} IDX files")
    img_path, lab_path = _find(directory, img_stem, name), _find(directory, lab_stem, name)
    images = read_idx(img_path, max_bytes=max_bytes)
    labels = read_idx(lab_path, max_bytes=max_bytes)
    if images.dtype.kind != "u" or images.dtype.itemsize != 1 or images.ndim != 3:
        raise DatasetError(f"{img_path}: images must be a 3-D array (count, rows, columns) of "
                           f"{type_name(0x08)}; the file holds a {images.ndim}-D array of "
                           f"{images.dtype}")
    if labels.dtype.kind != "u" or labels.dtype.itemsize != 1 or labels.ndim != 1:
        raise DatasetError(f"{lab_path}: labels must be a 1-D array of {type_name(0x08)}; the "
                           f"file holds a {labels.ndim}-D array of {labels.dtype}")
    if len(labels) != len(images):
        raise DatasetError(f"{lab_path}: {len(labels)} labels but {img_path.name} holds "
                           f"{len(images)} images; the files do not belong together")
    if labels.size and int(labels.max()) >= len(class_names):
        bad = int(labels.argmax())
        raise DatasetError(f"{lab_path}: label {int(labels[bad])} at index {bad} is out of "
                           f"range; {name} labels lie in 0..{len(class_names) - 1}")
    rows, cols = images.shape[1:]
    return Dataset(images.reshape(len(images), rows * cols), labels.astype("int64"),
                   class_names, f"{rows}x{cols} pixel intensities 0-255 (uint8), row-major",
                   name=f"{name}[{split}]", image_shape=(rows, cols))


def mnist(path: str | os.PathLike[str], split: str = "train", *,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    """MNIST handwritten digits from the IDX files in ``path`` (``split``: train or test)."""
    return load_idx_images("mnist", path, split, class_names=MNIST_CLASSES,
                           max_bytes=max_bytes)


def fashion_mnist(path: str | os.PathLike[str], split: str = "train", *,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    """Fashion-MNIST from the IDX files in ``path`` (``split``: train or test)."""
    return load_idx_images("fashion_mnist", path, split, class_names=FASHION_MNIST_CLASSES,
                           max_bytes=max_bytes)
