"""Checks of training and validation data at the trainer's boundary.

Everything a run will read is checked before its first step, so that bad data fails fast
instead of after an epoch has changed the weights (and, on hardware, spent money): features are
finite real matrices of the model's width, targets match the task, and every batch has the
``(X, y)`` shape. Loaders that can only be iterated once (async streams, generators) are
checked batch by batch as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import numpy as np

from q_store.data.loaders import DataLoader
from q_store.errors import ValidationError

__all__ = ["batches", "check_data", "check_features", "check_targets", "count_batches",
           "count_samples", "first_batch", "is_xy_pair", "split_batch"]


def split_batch(batch: Any, where: str = "batch") -> tuple[Any, Any]:
    """``(X, y)`` of one batch: a pair, a :class:`~q_store.data.DataBatch` or a mapping with
    ``inputs`` and ``targets``."""
    if isinstance(batch, Mapping):
        missing = {"inputs", "targets"} - set(batch)
        if missing:
            raise ValidationError(f"{where}: a dict batch needs keys 'inputs' and 'targets'; "
                                  f"missing {sorted(missing)}")
        return batch["inputs"], batch["targets"]
    if isinstance(batch, tuple | list) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValidationError(f"{where}: expected a batch (X, y) or {{'inputs', 'targets'}}, got "
                          f"{type(batch).__name__}")


def check_features(x: object, input_dim: int, where: str = "X") -> np.ndarray:
    """Features as a finite float matrix ``(B, input_dim)``."""
    arr = np.asarray(x) if x is not None else None
    if arr is None or arr.dtype.kind not in "biuf":
        kind = "None" if arr is None else f"dtype {arr.dtype}"
        raise ValidationError(f"{where} must be a real numeric array; got {kind}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != input_dim:
        raise ValidationError(f"{where} must have shape (samples, {input_dim}); got "
                              f"{np.shape(x)}")
    if len(arr) == 0:
        raise ValidationError(f"{where} is empty")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValidationError(f"{where} contains NaN or infinity (first in row {row})")
    return arr


def check_targets(y: object, task: str, output_dim: int, n_samples: int,
                  where: str = "y") -> np.ndarray:
    """Targets as the trainer uses them: class indices ``(B,)`` (int64) for classification,
    a finite float matrix ``(B, output_dim)`` for regression."""
    arr = np.asarray(y) if y is not None else None
    if arr is None or arr.dtype.kind not in "biuf":
        kind = "None" if arr is None else f"dtype {arr.dtype}"
        raise ValidationError(f"{where} must be a real numeric array; got {kind}")
    n_targets = len(arr) if arr.ndim else 0
    if n_targets != n_samples:
        raise ValidationError(f"{where} has {n_targets} targets but X has {n_samples} samples")
    if task == "classification":
        return _class_labels(arr, output_dim, where)
    vals = arr.astype(np.float64)
    if vals.ndim == 1:
        vals = vals[:, None]
    if vals.ndim != 2 or vals.shape[1] != output_dim:
        hint = ""
        if arr.ndim == 1 and arr.dtype.kind in "biu" and output_dim > 1:
            hint = (f"; these look like class labels: for classification build the model "
                    f"with task='classification' (output_dim={output_dim} classes)")
        raise ValidationError(f"{where} must have shape (samples, {output_dim}) for a "
                              f"regression model with {output_dim} outputs; got "
                              f"{arr.shape}{hint}")
    if not np.all(np.isfinite(vals)):
        raise ValidationError(f"{where} contains NaN or infinity")
    return vals


def _class_labels(arr: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    if arr.ndim != 1:
        raise ValidationError(f"{where}: classification targets must be class indices of "
                              f"shape (samples,); got {arr.shape}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValidationError(f"{where}: labels contain NaN")
        if not np.all(np.isfinite(arr)):
            raise ValidationError(f"{where}: labels contain infinity")
        frac = arr[arr != np.round(arr)]
        if frac.size:
            raise ValidationError(f"{where}: class labels must be whole numbers; got "
                                  f"{frac[:5].tolist()}")
    idx = arr.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_classes):
        raise ValidationError(f"{where}: labels must lie in [0, {n_classes}) for a model with "
                              f"{n_classes} classes; got values from {int(idx.min())} to "
                              f"{int(idx.max())}")
    return idx


def is_xy_pair(loader: Any) -> bool:
    """``(X, y)``: a whole data set as a pair of arrays (not a tuple of two batches)."""
    return isinstance(loader, tuple) and len(loader) == 2 and not isinstance(loader[0], tuple)


def check_data(loader: Any, input_dim: int, task: str, output_dim: int, where: str) -> bool:
    """Check every batch of ``loader`` now, if it can be read more than once (a DataLoader, an
    ``(X, y)`` pair, a list or tuple of batches); True if it was checked, False for one-shot
    streams, which the trainer checks batch by batch."""
    if loader is None:
        raise ValidationError(f"{where}: got None; expected a DataLoader, an (X, y) pair or "
                              "an iterable of (X, y) batches")
    if isinstance(loader, DataLoader) or is_xy_pair(loader):
        xs, ys = (loader.x, loader.y) if isinstance(loader, DataLoader) else loader
        x = check_features(xs, input_dim, f"{where} X")
        check_targets(ys, task, output_dim, len(x), f"{where} y")
        return True
    if isinstance(loader, list | tuple):
        for i, batch in enumerate(loader):
            xb, yb = split_batch(batch, f"{where} batch {i}")
            x = check_features(xb, input_dim, f"{where} batch {i} X")
            check_targets(yb, task, output_dim, len(x), f"{where} batch {i} y")
        if not loader:
            raise ValidationError(f"{where} has no batches")
        return True
    if not isinstance(loader, Iterable) and not hasattr(loader, "__aiter__"):
        raise ValidationError(f"{where}: expected a DataLoader, an (X, y) pair or an iterable "
                              f"of (X, y) batches; got {type(loader).__name__}")
    return False


async def batches(loader: Any, epoch: int | None, where: str
                  ) -> AsyncIterator[tuple[Any, Any]]:
    """Batches ``(X, y)`` from a DataLoader (set to ``epoch``'s order), an iterable or an async
    iterable."""
    if epoch is not None and hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    if hasattr(loader, "__aiter__") and not hasattr(loader, "__iter__"):
        async for batch in loader:
            yield split_batch(batch, where)
        return
    if not isinstance(loader, Iterable):
        raise ValidationError(f"expected a data loader or iterable of (X, y), got {loader!r}")
    for batch in loader:
        yield split_batch(batch, where)


def count_batches(loader: Any) -> int:
    """Batches per epoch where the loader says (0 where it cannot)."""
    try:
        return len(loader)
    except TypeError:
        return 0


def _sync_batches(loader: Any) -> list[tuple[Any, Any]]:
    if not isinstance(loader, Iterable):
        raise ValidationError("a cost estimate needs a loader that can be iterated "
                              f"synchronously (a DataLoader or an (X, y) pair), got {loader!r}")
    return [split_batch(b) for b in loader]


def first_batch(loader: Any) -> np.ndarray:
    for xb, _ in _sync_batches(loader):
        return np.atleast_2d(np.asarray(xb, dtype=float))
    raise ValidationError("the training loader produced no batches")


def count_samples(loader: Any) -> int:
    return sum(len(xb) for xb, _ in _sync_batches(loader))
