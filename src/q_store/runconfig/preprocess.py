"""Preprocessing of a run's data, fitted on the training split only and kept with the run.

Order: principal components (to fit the qubit budget), then scaling (``standard`` or
``minmax`` onto a range, e.g. ``[0, pi]`` for angle encodings); class labels are mapped to
``0..C-1``. The fitted values are saved in the run's directory (``preprocessing.npz``), so
``q-store evaluate`` and resumed runs transform data exactly as training did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import ValidationError
from q_store.ml.checkpoints import load_checkpoint_file, save_checkpoint_file

__all__ = ["Preprocessor", "encode_labels", "split_indices"]


@dataclass
class Preprocessor:
    """``fit`` on training features, then ``transform`` any split."""

    scale: str = "standard"
    minmax_range: tuple[float, float] = (0.0, float(np.pi))
    components: int | None = None  # principal components kept; None: no PCA
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def fit(self, x: np.ndarray) -> Preprocessor:
        x = np.asarray(x, dtype=float)
        a: dict[str, np.ndarray] = {}
        if self.components is not None:
            if self.components > min(x.shape):
                raise ValidationError(f"pca = {self.components} components need at least as "
                                      f"many samples and features; the training split is "
                                      f"{x.shape[0]} x {x.shape[1]}")
            a["pca_mean"] = x.mean(axis=0)
            # principal axes by SVD; signs fixed (largest entry positive) for reproducibility
            _, _, vt = np.linalg.svd(x - a["pca_mean"], full_matrices=False)
            vt = vt[: self.components]
            signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
            a["pca_axes"] = vt * signs[:, None]
            x = (x - a["pca_mean"]) @ a["pca_axes"].T
        if self.scale == "standard":
            a["mean"] = x.mean(axis=0)
            std = x.std(axis=0)
            a["std"] = np.where(std > 0, std, 1.0)
        elif self.scale == "minmax":
            a["min"] = x.min(axis=0)
            span = x.max(axis=0) - a["min"]
            a["span"] = np.where(span > 0, span, 1.0)
        self.arrays = a
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        a = self.arrays
        x = np.asarray(x, dtype=float)
        if "pca_axes" in a:
            if x.shape[1] != a["pca_axes"].shape[1]:
                raise ValidationError(f"data have {x.shape[1]} features; this run was trained "
                                      f"on {a['pca_axes'].shape[1]}")
            x = (x - a["pca_mean"]) @ a["pca_axes"].T
        if "mean" in a:
            x = (x - a["mean"]) / a["std"]
        elif "min" in a:
            lo, hi = self.minmax_range
            x = lo + (hi - lo) * (x - a["min"]) / a["span"]
        return x

    def save(self, path: str | os.PathLike[str], extra: dict[str, np.ndarray]) -> Path:
        meta: dict[str, Any] = {"format": "q_store.preprocessing/1", "scale": self.scale,
                                "minmax_range": list(self.minmax_range),
                                "components": self.components}
        return save_checkpoint_file(path, {**self.arrays, **extra}, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[Preprocessor, dict[str, np.ndarray]]:
        """The preprocessor and the extra arrays saved with it (e.g. ``classes``)."""
        arrays, meta = load_checkpoint_file(path)
        own = {k: v for k, v in arrays.items()
               if k in ("pca_mean", "pca_axes", "mean", "std", "min", "span")}
        extra = {k: v for k, v in arrays.items() if k not in own}
        pre = cls(meta["scale"], tuple(meta["minmax_range"]), meta["components"], own)
        return pre, extra


def encode_labels(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Labels as indices into ``classes``; a ValidationError naming an unknown label."""
    y = np.asarray(y).reshape(-1)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if bad.any():
        raise ValidationError(f"label {y[np.argmax(bad)]!r} was not among the training labels "
                              f"{classes.tolist()}")
    return idx


def split_indices(y: np.ndarray, fractions: tuple[float, float], *, seed: int,
                  stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, validation, test)`` index arrays; each class split in proportion when
    ``stratify`` (with at least one training sample per class)."""
    val_f, test_f = fractions
    if val_f + test_f >= 1.0:
        raise ValidationError(f"validation_fraction + test_fraction = {val_f + test_f} leaves "
                              "no training data; their sum must be below 1")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for g in groups:
        g = rng.permutation(g)
        n_test = round(test_f * len(g))
        n_val = round(val_f * len(g))
        if n_test + n_val >= len(g):
            n_test = min(n_test, max(0, len(g) - 1))
            n_val = min(n_val, max(0, len(g) - 1 - n_test))
        parts[2].append(g[:n_test])
        parts[1].append(g[n_test : n_test + n_val])
        parts[0].append(g[n_test + n_val :])
    out = [np.sort(np.concatenate(p)) if p else np.zeros(0, int) for p in parts]
    return out[0], out[1], out[2]
