"""Reading and writing IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw.

An IDX file is a 4-byte magic number (two zero bytes, a data type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in big-endian C order.
Everything is checked before anything large is allocated: the header's declared size against
the file length (raw) or against what a gzip stream of that length can possibly hold, and a
cap (``max_bytes``). A gzip stream is decompressed incrementally and never past the declared
size plus one byte, so a decompression bomb costs no more memory than an honest file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from q_store.errors import DatasetError

__all__ = ["DEFAULT_MAX_BYTES", "IDX_DTYPES", "read_idx", "write_idx"]

#: IDX type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
          0x0D: "float32", 0x0E: "float64"}
#: the largest data section read by default (MNIST's biggest file is 47 MB)
DEFAULT_MAX_BYTES = 1 << 30
# deflate cannot expand by more than about 1032:1; with gzip's framing this is a safe bound
_MAX_DEFLATE_RATIO = 1040
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def type_name(code: int) -> str:
    """A readable name of an IDX type code."""
    return f"0x{code:02X} ({_NAMES.get(code, 'unknown')})"


def _allowed_codes() -> str:
    return ", ".join(type_name(c) for c in IDX_DTYPES)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _header(stream: BinaryIO, path: Path) -> tuple[int, tuple[int, ...], int]:
    """``(type code, dimensions, header length)``, checked."""
    magic = _read_exact(stream, 4)
    if len(magic) < 4:
        raise DatasetError(f"{path}: truncated header: {len(magic)} bytes, an IDX file starts "
                           "with a 4-byte magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(f"{path}: bad magic number 0x{magic.hex().upper()}: an IDX file "
                           "starts with two zero bytes, a type code and the number of "
                           "dimensions (e.g. 0x00000803 for MNIST images)")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise DatasetError(f"{path}: unknown data type code 0x{code:02X}; allowed: "
                           f"{_allowed_codes()}")
    if ndim == 0:
        raise DatasetError(f"{path}: the header declares 0 dimensions; an IDX array has at "
                           "least one")
    raw = _read_exact(stream, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise DatasetError(f"{path}: truncated header: {ndim} dimensions declared but only "
                           f"{len(raw)} of their {4 * ndim} bytes are present")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    return code, dims, 4 + 4 * ndim


def _declared_bytes(path: Path, code: int, dims: tuple[int, ...], max_bytes: int) -> int:
    n = IDX_DTYPES[code].itemsize * math.prod(dims)
    if n > max_bytes:
        raise DatasetError(f"{path}: the header declares a {'x'.join(map(str, dims))} array "
                           f"of {type_name(code)} = {n} bytes, more than max_bytes={max_bytes}; "
                           "pass a larger max_bytes if the file is genuine")
    return n


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
             ) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed or raw, recognised by content), in
    native byte order with the file's dtype and shape. Raises :class:`DatasetError` naming the
    file and the problem: missing, bad magic, unknown type code, truncated or trailing data,
    corrupt gzip stream, or more data than the header declares."""
    p = Path(path)
    try:
        size = p.stat().st_size
        fh = p.open("rb")
    except OSError as e:
        raise DatasetError(f"{p}: cannot open: {e.strerror or e}") from None
    with fh:
        gzipped = fh.read(2) == _GZIP_MAGIC
        fh.seek(0)
        if not gzipped:
            return _read_raw(fh, p, size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                return _read_gzip(gz, p, size, max_bytes)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{p}: corrupt gzip data: {e}") from None


def _read_raw(fh: BinaryIO, path: Path, size: int, max_bytes: int) -> np.ndarray:
    code, dims, head = _header(fh, path)
    n = _declared_bytes(path, code, dims, max_bytes)
    have = size - head
    if have < n:
        raise DatasetError(f"{path}: truncated data: the header declares {n} bytes "
                           f"({'x'.join(map(str, dims))} of {type_name(code)}), the file has "
                           f"{have}")
    if have > n:
        raise DatasetError(f"{path}: {have - n} bytes of unexpected data after the "
                           f"{'x'.join(map(str, dims))} array the header declares")
    out = np.empty(n, dtype=np.uint8)
    _fill(fh, out, path)
    return _as_native(out, code, dims)


def _read_gzip(gz: BinaryIO, path: Path, size: int, max_bytes: int) -> np.ndarray:
    code, dims, _ = _header(gz, path)
    n = _declared_bytes(path, code, dims, max_bytes)
    if n > _MAX_DEFLATE_RATIO * size:
        raise DatasetError(f"{path}: the header declares {n} bytes of data, more than a gzip "
                           f"file of {size} bytes can hold; the file is truncated or corrupt")
    out = np.empty(n, dtype=np.uint8)
    _fill(gz, out, path)
    if gz.read(1):  # also reaches the end of the stream, where gzip checks CRC and length
        raise DatasetError(f"{path}: the decompressed data is longer than the "
                           f"{'x'.join(map(str, dims))} array the header declares ({n} bytes); "
                           "refusing to read further (corrupt file or decompression bomb)")
    return _as_native(out, code, dims)


def _fill(stream: BinaryIO, out: np.ndarray, path: Path) -> None:
    view = memoryview(out)
    done = 0
    while done < len(out):
        got = stream.readinto(view[done : done + _CHUNK])  # type: ignore[attr-defined]
        if not got:
            raise DatasetError(f"{path}: truncated data: the header declares {len(out)} bytes, "
                               f"the file ends after {done}")
        done += got


def _as_native(buf: np.ndarray, code: int, dims: tuple[int, ...]) -> np.ndarray:
    dt = IDX_DTYPES[code]
    arr = buf.view(dt).reshape(dims)
    return arr.astype(dt.newbyteorder("="), copy=dt.itemsize > 1)


def write_idx(path: str | os.PathLike[str], array: object, *, compress: bool | None = None
              ) -> Path:
    """Write ``array`` as an IDX file (gzip when ``compress``, default: when the name ends
    in ``.gz``). Its dtype must be one IDX stores: uint8, int8, int16, int32, float32,
    float64."""
    arr = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in IDX_DTYPES.items()}
    code = codes.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise DatasetError(f"IDX cannot store dtype {arr.dtype}; allowed: uint8, int8, int16, "
                           "int32, float32, float64")
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise DatasetError(f"IDX stores 1 to 255 dimensions below 2**32, got shape {arr.shape}")
    p = Path(path)
    data = (bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
            + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes())
    if compress if compress is not None else p.name.endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(data)
        data = buf.getvalue()
    p.write_bytes(data)
    return p
