"""Checkpoints in a safe format, written atomically.

A checkpoint is one NumPy ``.npz`` archive (a zip of ``.npy`` arrays, read back with
``allow_pickle=False``): named arrays plus one JSON document under ``__meta__``. It is written to
a temporary file in the target folder, flushed to disk and renamed over the target, so a crash
leaves either the old or the new checkpoint, never a torn one. Nothing is pickled and no API key
is ever stored.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import QStoreError, ValidationError

__all__ = ["CheckpointError", "load_checkpoint_file", "save_checkpoint_file"]

_META = "__meta__"


class CheckpointError(QStoreError):
    """A checkpoint file is missing, unreadable or of the wrong kind."""


def save_checkpoint_file(path: str | os.PathLike[str], arrays: dict[str, np.ndarray],
                         meta: dict[str, Any]) -> Path:
    """Atomically write ``arrays`` and the JSON-serialisable ``meta`` to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if _META in arrays:
        raise ValidationError(f"array name {_META!r} is reserved")
    try:
        doc = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"checkpoint metadata must be plain JSON: {e}") from None
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise ValidationError(f"checkpoint array {k!r} has dtype object; only numeric data")
    payload[_META] = np.frombuffer(doc.encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray],
                                                                dict[str, Any]]:
    """``(arrays, meta)`` of a checkpoint written by :func:`save_checkpoint_file`."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint at {p}")
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{p} is not a q_store checkpoint: {e}") from None
    if _META not in arrays:
        raise CheckpointError(f"{p} is not a q_store checkpoint (no metadata)")
    meta = json.loads(arrays.pop(_META).tobytes().decode())
    return arrays, meta
