"""Synthetic Fashion-MNIST-shaped images (28x28 uint8) written as IDX files for tests.

:func:`write_mnist_dir` writes random images (to read back exactly). :func:`synthetic_images`
and :func:`write_synthetic_fashion` write learnable ones: class ``k`` is a bright 7x7 square in
cell ``k`` of a 4x4 grid of cells, on dim noise, easy to tell apart after any sensible
preprocessing and shaped exactly like the real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from q_store.datasets.idx import write_idx


def synthetic_images(n: int, n_classes: int = 10, seed: int = 0,
                     cells: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 28, 28) uint8, labels (n,) uint8)``, classes balanced and shuffled.
    ``cells`` picks the grid cell (0..15, row-major) of each class (default: 0, 1, 2, ...)."""
    rng = np.random.default_rng(seed)
    cells = tuple(range(n_classes)) if cells is None else cells
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.uint8)
    imgs = rng.integers(0, 60, size=(n, 28, 28)).astype(np.int64)
    for i, k in enumerate(labels):
        r, c = divmod(cells[k], 4)
        imgs[i, 7 * r : 7 * r + 7, 7 * c : 7 * c + 7] += rng.integers(150, 196)
    return np.clip(imgs, 0, 255).astype(np.uint8), labels


def write_synthetic_fashion(directory: Path, n_train: int = 60, n_test: int = 30,
                            n_classes: int = 10, seed: int = 0, compress: bool = True,
                            cells: tuple[int, ...] | None = None) -> Path:
    """Train and test IDX files under the standard Fashion-MNIST names in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for prefix, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        imgs, labels = synthetic_images(n, n_classes, s, cells)
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", imgs)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return directory


def write_mnist_dir(directory: Path, n_train: int = 30, n_test: int = 10, *,
                    shape: tuple[int, int] = (28, 28), compress: bool = True,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Random uint8 images and labels 0..9 under the standard file names; returns them."""
    rng = np.random.default_rng(seed)
    out = {}
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", imgs)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out[f"{prefix}_images"], out[f"{prefix}_labels"] = imgs, labels
    return out
