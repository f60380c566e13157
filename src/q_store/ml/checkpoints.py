"""Checkpoint files: a safe format, written atomically, read defensively.

A checkpoint is one NumPy ``.npz`` archive (a zip of ``.npy`` arrays): named numeric arrays plus
one JSON document under ``__meta__``. Nothing is pickled and no API key is ever stored.

Writing: to a temporary file in the target folder (``.<name>.qstore-<pid>.<random>.tmp``),
flushed to disk and renamed over the target, so a crash leaves either the old or the new
checkpoint, never a torn one. Temporary files that an earlier crash left behind are removed on
the next save in that folder: only files of this writer's pattern, and only stale ones (their
writer process is gone, or they are over an hour old).

Reading (:func:`load_checkpoint_file`) never trusts the file: every failure (not a zip, truncated,
bad CRC, bad JSON, non-UTF-8 metadata, nesting too deep, object arrays) is a
:class:`~q_store.errors.CheckpointError`, and the declared size of every member (the zip entry's
uncompressed size and the ``.npy`` header's shape and dtype) is checked against what the caller
expects, or a cap, *before* any array is read, so a small decompression bomb cannot allocate
gigabytes. Retention (:func:`prune_epoch_checkpoints`) keeps the newest ``keep_last`` epoch files.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import CheckpointError, ValidationError
from q_store.sim.memory import check_memory

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "MAX_META_BYTES",
    "ArraySpec",
    "CheckpointError",
    "clean_stale_temp_files",
    "load_checkpoint_file",
    "prune_epoch_checkpoints",
    "save_checkpoint_file",
]

META = "__meta__"
MAX_CHECKPOINT_BYTES = 2**30  # arrays of a checkpoint whose sizes nobody declared in advance
MAX_META_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 64
STALE_TEMP_SECONDS = 3600.0
NUMERIC_KINDS = "biufc"
_TEMP = re.compile(r"^\..+\.qstore-(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # before the pid was in the name
_EPOCH = re.compile(r"^epoch_(?P<epoch>\d+)\.npz$")


@dataclass(frozen=True)
class ArraySpec:
    """What an array in a checkpoint may be: an exact ``shape`` (None: any), the allowed dtype
    kinds, at most ``max_elements`` elements; ``required``: the checkpoint must hold it."""

    shape: tuple[int, ...] | None = None
    kinds: str = NUMERIC_KINDS
    max_elements: int | None = None
    required: bool = True


Expected = Callable[[dict[str, Any]], Mapping[str, ArraySpec] | None]


# -- writing ------------------------------------------------------------------------------------

def save_checkpoint_file(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                         meta: dict[str, Any]) -> Path:
    """Atomically write numeric ``arrays`` and the JSON-ready ``meta`` to ``path``."""
    target = Path(path)
    if META in arrays:
        raise ValidationError(f"array name {META!r} is reserved")
    payload: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.fields is not None:
            raise ValidationError(f"checkpoint array {name!r} has dtype {arr.dtype}; only "
                                  "numeric and boolean arrays can be stored")
        payload[name] = arr
    try:
        doc = json.dumps(meta, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValidationError(f"checkpoint metadata must be plain JSON: {e}") from None
    payload[META] = np.frombuffer(doc.encode(), dtype=np.uint8)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_files(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.qstore-{os.getpid()}.", suffix=".tmp",
                               dir=target.parent)
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


def _process_gone(pid: int) -> bool:
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return False
    return False


def clean_stale_temp_files(folder: str | os.PathLike[str], *,
                           older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove temporary files that an interrupted :func:`save_checkpoint_file` left in
    ``folder``: only names of its pattern, and only when their writer process is gone or they
    were last modified over ``older_than`` seconds ago (a writer in progress keeps its file).
    Returns the removed paths."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        legacy = m is None and _LEGACY_TEMP.match(entry.name) is not None
        if (m is None and not legacy) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if legacy and not _looks_like_ours(entry.path):
                continue
            stale = age > older_than or (m is not None and int(m["pid"]) != os.getpid()
                                         and _process_gone(int(m["pid"])))
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # removed meanwhile, or not ours to remove
            continue
    return removed


def _looks_like_ours(path: str) -> bool:
    """An old-style temp file is ours if it is empty or a zip (``np.savez`` output)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head in (b"", b"PK\x03\x04")


def prune_epoch_checkpoints(folder: str | os.PathLike[str], keep_last: int | None,
                            epoch: int) -> list[Path]:
    """Keep the newest ``keep_last`` ``epoch_NNNN.npz`` files up to ``epoch`` and remove older
    ones (None keeps all). Other files, ``latest.npz`` among them, are never touched; epoch
    files after ``epoch`` (from a run that was resumed from an earlier checkpoint) are left
    alone."""
    if keep_last is None:
        return []
    found = []
    for entry in os.scandir(folder):
        m = _EPOCH.match(entry.name)
        if m is not None and int(m["epoch"]) <= epoch and entry.is_file():
            found.append((int(m["epoch"]), Path(entry.path)))
    found.sort(reverse=True)
    removed = []
    for _, path in found[keep_last:]:
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


# -- reading ------------------------------------------------------------------------------------

def load_checkpoint_file(path: str | os.PathLike[str], *, expected: Expected | None = None,
                         max_bytes: int = MAX_CHECKPOINT_BYTES
                         ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of a checkpoint written by :func:`save_checkpoint_file`.

    ``expected(meta)`` names every array the checkpoint may hold with its :class:`ArraySpec`
    (a name ending in ``*`` covers every name with that prefix; others are refused); without
    it, or when it returns None, any numeric arrays up to ``max_bytes`` in all. Sizes are
    checked before anything is read. Every failure is a :class:`CheckpointError`."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint at {p}")
    try:
        return _load(p, expected, max_bytes)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
            ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError,
            RuntimeError, NotImplementedError) as e:
        raise CheckpointError(f"{p} is not a readable q_store checkpoint: "
                              f"{type(e).__name__}: {e}") from None


def _load(p: Path, expected: Expected | None, max_bytes: int
          ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with zipfile.ZipFile(p) as zf:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if info.is_dir() or name == info.filename or name in members:
                raise CheckpointError(f"{p} is not a q_store checkpoint: unexpected member "
                                      f"{info.filename!r}")
            members[name] = info
        if META not in members:
            raise CheckpointError(f"{p} is not a q_store checkpoint (no metadata)")
        meta_info = members.pop(META)
        meta_spec = ArraySpec(None, "u", MAX_META_BYTES)
        meta = _decode_meta(p, _read(zf, meta_info, _header(p, zf, meta_info, META, meta_spec)))
        specs = expected(meta) if expected is not None else None
        headers = {}
        declared = 0
        for name, info in members.items():  # every size is checked before any array is read
            spec = _spec_for(p, name, specs)
            headers[name] = _header(p, zf, info, name, spec)
            declared += info.file_size
        if specs is None and declared > max_bytes:
            raise CheckpointError(f"{p}: its arrays declare {declared} bytes, more than the "
                                  f"{max_bytes} allowed")
        check_memory(declared, f"loading checkpoint {p}")
        missing = sorted(n for n, s in (specs or {}).items()
                         if s.required and not n.endswith("*") and n not in members)
        if missing:
            raise CheckpointError(f"{p} is missing array(s) {missing}: it is incomplete, or "
                                  "was written for another model or optimizer configuration")
        arrays = {name: _read(zf, members[name], headers[name]) for name in members}
    return arrays, meta


def _spec_for(p: Path, name: str, specs: Mapping[str, ArraySpec] | None) -> ArraySpec:
    if specs is None:
        return ArraySpec()
    spec = specs.get(name)
    if spec is None:  # "prefix*" names a family of arrays
        spec = next((s for k, s in specs.items() if k.endswith("*")
                     and name.startswith(k[:-1])), None)
    if spec is None:
        raise CheckpointError(f"{p} holds an unexpected array {name!r} (expected "
                              f"{sorted(specs)}): it was written for another kind of "
                              "checkpoint, model or optimizer configuration")
    return spec


@dataclass(frozen=True)
class _Header:
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype[Any]
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _header(p: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
            spec: ArraySpec) -> _Header:
    """Parse and check a member's ``.npy`` header without reading its data."""
    fmt = np.lib.format
    with zf.open(info) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise CheckpointError(f"{p}: array {name!r} uses unsupported .npy version "
                                  f"{version}")
        head = _Header(tuple(int(d) for d in shape), bool(fortran), dtype, f.tell())
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in spec.kinds:
        raise CheckpointError(f"{p}: array {name!r} has dtype {dtype}; allowed kinds here: "
                              f"{spec.kinds!r} (never object arrays)")
    if spec.shape is not None and head.shape != spec.shape:
        raise CheckpointError(f"{p}: array {name!r} has shape {head.shape}; expected "
                              f"{spec.shape}")
    count = math.prod(head.shape)
    if spec.max_elements is not None and count > spec.max_elements:
        raise CheckpointError(f"{p}: array {name!r} declares {count} elements; at most "
                              f"{spec.max_elements} allowed")
    if head.offset + head.nbytes != info.file_size:
        raise CheckpointError(f"{p}: array {name!r} declares {head.nbytes} bytes of data but "
                              f"its zip entry holds {info.file_size - head.offset}")
    return head


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, head: _Header) -> np.ndarray:
    """Read exactly the declared bytes into one preallocated array (checking the CRC)."""
    dtype = head.dtype
    shape = head.shape[::-1] if head.fortran else head.shape
    arr = np.empty(shape, dtype=dtype)
    view = memoryview(arr.reshape(-1).view(np.uint8))
    with zf.open(info) as f:
        f.seek(head.offset)
        done = 0
        while done < head.nbytes:
            n = f.readinto(view[done:])
            if not n:
                raise CheckpointError(f"array {info.filename!r} is truncated")
            done += n
        if f.read(1):  # also makes zipfile verify the CRC at the end of the entry
            raise CheckpointError(f"array {info.filename!r} has trailing data")
    if head.fortran:
        arr = arr.T
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _decode_meta(p: Path, raw: np.ndarray) -> dict[str, Any]:
    if raw.ndim != 1:
        raise CheckpointError(f"{p}: metadata must be a 1-D byte array, got shape {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{p}: metadata is not UTF-8 JSON: {type(e).__name__}: "
                              f"{str(e)[:200]}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p}: metadata must be a JSON object, got "
                              f"{type(meta).__name__}")
    if _depth(meta) > MAX_JSON_DEPTH:
        raise CheckpointError(f"{p}: metadata is nested deeper than {MAX_JSON_DEPTH} levels")
    return meta


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack.extend((c, d + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, d + 1) for c in v)
    return deepest
