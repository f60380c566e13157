"""Small IDX data sets written to temporary directories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from q_store.datasets.idx import write_idx


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
