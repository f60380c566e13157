"""IDX reading and writing: exact round trips, and every corruption refused with the file named."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from q_store.datasets.idx import read_idx, write_idx
from q_store.errors import DatasetError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
HEADER_3D = bytes([0, 0, 0x08, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes()


def _values(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(7)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.normal(size=shape).astype(dtype) * 1e3


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (5, 3, 4), (2, 1, 3, 2)])
def test_round_trip_is_exact(tmp_path: Path, dtype: type, shape: tuple[int, ...],
                             suffix: str) -> None:
    data = _values(dtype, shape)
    path = write_idx(tmp_path / f"a-idx{len(shape)}{suffix}", data)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, data)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_standard_header_bytes(tmp_path: Path) -> None:
    """The bytes match the published format: 0x00000803, big-endian dims, raw pixels."""
    imgs = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "x-idx3-ubyte", imgs).read_bytes()
    assert raw == HEADER_3D + bytes(range(24))
    labels = write_idx(tmp_path / "y-idx1-ubyte", np.array([3, 1], np.uint8)).read_bytes()
    assert labels == bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 1])
    ints = write_idx(tmp_path / "z", np.array([1, -2], np.int32)).read_bytes()
    assert ints[2] == 0x0C and ints[8:] == bytes([0, 0, 0, 1, 255, 255, 255, 254])


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    data = np.arange(6, dtype=np.uint8)
    p = write_idx(tmp_path / "no-suffix", data, compress=True)
    np.testing.assert_array_equal(read_idx(p), data)
    q = write_idx(tmp_path / "looks.gz", data, compress=False)
    np.testing.assert_array_equal(read_idx(q), data)


def _write(path: Path, payload: bytes, compress: bool) -> Path:
    path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)
    return path


def _error(path: Path, **kw: object) -> str:
    with pytest.raises(DatasetError) as info:
        read_idx(path, **kw)  # type: ignore[arg-type]
    msg = str(info.value)
    assert str(path) in msg
    return msg


@pytest.mark.parametrize("compress", [False, True])
class TestCorruptFiles:
    def test_bad_magic(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", b"\x01\x02\x08\x01" + bytes(8), compress)
        assert "bad magic number 0x01020801" in _error(p)

    def test_unknown_dtype_code(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]), compress)
        msg = _error(p)
        assert "unknown data type code 0x0A" in msg and "0x08 (unsigned byte)" in msg

    def test_zero_dimensions(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", bytes([0, 0, 8, 0]), compress)
        assert "0 dimensions" in _error(p)

    def test_truncated_header(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", bytes([0, 0, 8]), compress)
        assert "truncated header" in _error(p)
        q = _write(tmp_path / "g", bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]), compress)
        assert "truncated header: 3 dimensions declared" in _error(q)

    def test_truncated_data(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", HEADER_3D + bytes(23), compress)
        msg = _error(p)
        assert "truncated data" in msg and "24 bytes" in msg and "23" in msg

    def test_trailing_data(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", HEADER_3D + bytes(25), compress)
        msg = _error(p)
        assert ("unexpected data" in msg) if not compress else ("longer than" in msg)

    def test_declared_size_above_limit(self, tmp_path: Path, compress: bool) -> None:
        p = _write(tmp_path / "f", HEADER_3D + bytes(24), compress)
        assert "more than max_bytes=10" in _error(p, max_bytes=10)
        assert read_idx(p, max_bytes=24).shape == (2, 3, 4)


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot open" in _error(tmp_path / "absent-idx1-ubyte")


def test_corrupt_gzip_stream(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(HEADER_3D + bytes(range(24)), mtime=0))
    blob[-6] ^= 0xFF  # inside the CRC-32 trailer
    p = tmp_path / "f.gz"
    p.write_bytes(bytes(blob))
    assert "corrupt gzip data" in _error(p)


def test_gzip_cut_short(tmp_path: Path) -> None:
    blob = gzip.compress(HEADER_3D + bytes(range(24)), mtime=0)
    p = tmp_path / "f.gz"
    p.write_bytes(blob[: len(blob) - 10])
    msg = _error(p)
    assert "corrupt gzip data" in msg or "truncated" in msg


def test_impossible_declared_size_is_refused_before_allocating(tmp_path: Path) -> None:
    """A tiny gzip file whose header declares 1 GiB: refused from the sizes alone."""
    header = bytes([0, 0, 8, 3]) + np.array([1024, 1024, 1024], dtype=">u4").tobytes()
    p = _write(tmp_path / "f.gz", header + bytes(100), compress=True)
    tracemalloc.start()
    try:
        msg = _error(p, max_bytes=1 << 31)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than a gzip file of" in msg
    assert peak < 4 << 20


def test_decompression_bomb_is_bounded_by_the_declared_size(tmp_path: Path) -> None:
    """The header declares 24 bytes, the stream inflates to 64 MiB: refused after reading at
    most the declared size plus a chunk, without inflating the rest."""
    p = tmp_path / "bomb.gz"
    with gzip.open(p, "wb", compresslevel=9) as gz:
        gz.write(HEADER_3D)
        zeros = bytes(1 << 20)
        for _ in range(64):
            gz.write(zeros)
    assert p.stat().st_size < 200_000
    tracemalloc.start()
    try:
        msg = _error(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "longer than" in msg and "decompression bomb" in msg
    assert peak < 8 << 20


def test_write_refuses_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot store dtype"):
        write_idx(tmp_path / "f", np.zeros(3, dtype=np.uint16))
    with pytest.raises(DatasetError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "f", np.uint8(3))
