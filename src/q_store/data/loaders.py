"""Mini-batch loaders over arrays: plain iterables, async iterables (the spec's
``async for`` loops), and reproducible shuffling keyed by ``(seed, epoch)`` so that a run
resumed at epoch ``e`` sees exactly the batches the uninterrupted run saw."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import numpy as np

from q_store.errors import ValidationError

__all__ = ["DataBatch", "DataLoader"]


class DataBatch(NamedTuple):
    """``(inputs, targets)``; also readable as ``batch['inputs']`` / ``batch['targets']``."""

    inputs: np.ndarray
    targets: np.ndarray

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            if key not in self._fields:
                raise KeyError(f"{key!r}; a batch has 'inputs' and 'targets'")
            return getattr(self, key)
        return tuple.__getitem__(self, key)


class DataLoader:
    """Batches of ``(X, y)``; ``shuffle`` reorders every epoch from ``seed`` and the epoch."""

    def __init__(self, x: object, y: object, batch_size: int = 10, *, shuffle: bool = True,
                 seed: int | None = 0, drop_last: bool = False) -> None:
        xs = np.asarray(x)
        ys = np.asarray(y)
        if xs.ndim != 2:
            raise ValidationError(f"X must be a 2-D array (samples, features), got {xs.shape}")
        if len(ys) != len(xs):
            raise ValidationError(f"X has {len(xs)} samples but y has {len(ys)}")
        if len(xs) == 0:
            raise ValidationError("the data set is empty")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
        if np.issubdtype(xs.dtype, np.number) and not np.all(np.isfinite(xs)):
            raise ValidationError("X contains NaN or infinity")
        self.x, self.y = xs, ys
        self.batch_size, self.shuffle, self.seed, self.drop_last = (batch_size, shuffle, seed,
                                                                    drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffled order the next iteration uses."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        n = len(self.x)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed or 0, self.epoch]).permutation(n)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[DataBatch]:
        idx = self.order()
        for i in range(len(self)):
            sel = idx[i * self.batch_size : (i + 1) * self.batch_size]
            yield DataBatch(self.x[sel], self.y[sel])

    async def __aiter__(self) -> AsyncIterator[DataBatch]:
        for batch in self:
            yield batch
