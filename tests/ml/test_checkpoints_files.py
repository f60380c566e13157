"""Damaged and hostile checkpoint files: every one is a CheckpointError, and none can make the
loader allocate more than the model needs. Also the helpers that build such files."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from q_store.errors import CheckpointError, QStoreError, ValidationError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

META = "__meta__"
MIB = 2**20


def read_raw(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path, allow_pickle=False) as d:
        items = {k: d[k] for k in d.files}
    return items, json.loads(items.pop(META).tobytes())


def write_raw(path: Path, arrays: dict[str, np.ndarray], meta: Any = None, *,
              meta_bytes: bytes | None = None) -> Path:
    """A checkpoint-shaped .npz written without any of q_store's checks."""
    raw = meta_bytes if meta_bytes is not None else json.dumps(meta).encode()
    with open(path, "wb") as f:
        np.savez(f, **arrays, **{META: np.frombuffer(raw, dtype=np.uint8)})
    return path


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _zip(path: Path, members: list[tuple[str, int, int, bytes, int]]) -> None:
    """Write a zip of ``(name, method, crc, data, uncompressed_size)`` members by hand (so a
    member's data can be a deflate stream built without inflating it first)."""
    out, central = bytearray(), bytearray()
    for name, method, crc, data, usize in members:
        fname = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data),
                           usize, len(fname), 0) + fname + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                               crc, len(data), usize, len(fname), 0, 0, 0, 0, 0,
                               offset) + fname
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       len(out), 0)
    path.write_bytes(bytes(out + central + eocd))


def write_bomb(path: Path, meta: dict[str, Any], name: str, *, zero_mib: int,
               declared_shape: tuple[int, ...] | None = None) -> Path:
    """A small .npz whose member ``name`` inflates to a .npy header plus ``zero_mib`` MiB of
    zeros: each MiB of zeros deflates to ~1 KB, repeated (full flushes make the blocks
    independent). ``declared_shape`` lets the header claim a shape of its own."""
    shape = declared_shape if declared_shape is not None else (zero_mib * 2**20 // 8,)
    header = npy_header(shape)
    chunk = bytes(2**20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    data = head + block * zero_mib + comp.flush()
    crc = zlib.crc32(header)
    for _ in range(zero_mib):
        crc = zlib.crc32(chunk, crc)
    meta_npy = npy_bytes(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    _zip(path, [(f"{META}.npy", 0, zlib.crc32(meta_npy), meta_npy, len(meta_npy)),
                (f"{name}.npy", 8, crc, data, len(header) + zero_mib * 2**20)])
    return path


# -- the tests ------------------------------------------------------------------------------------

def small_model(seed: int = 0) -> QuantumModel:
    return QuantumModel(4, 2, 2, task="classification", seed=seed)


def config(**kw: Any) -> TrainingConfig:
    """The configuration the ``good`` checkpoint was written with."""
    return TrainingConfig(**{"epochs": 1, "batch_size": 8, "seed": 1,
                             "gradient_method": "spsa", **kw})


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A genuine training checkpoint (after one SPSA epoch)."""
    d = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)), rng.integers(0, 2, 16)
    QuantumTrainer(config(checkpoint_dir=str(d))).fit(small_model(), (x, y))
    return d / "latest.npz"


def both_readers(path: Path) -> list[Any]:
    """Errors from load_checkpoint and from restore into a fresh model."""
    trainer = QuantumTrainer(config())
    errors = []
    for call in (lambda: trainer.load_checkpoint(path),
                 lambda: trainer.restore(path, small_model(5))):
        with pytest.raises(CheckpointError) as err:
            call()
        errors.append(err.value)
    return errors


def test_checkpoint_error_lives_in_errors_and_is_reexported() -> None:
    from q_store.ml import checkpoints

    assert checkpoints.CheckpointError is CheckpointError
    assert issubclass(CheckpointError, ValidationError) and issubclass(CheckpointError,
                                                                       QStoreError)


def _truncated(good: Path, tmp: Path) -> Path:
    data = good.read_bytes()
    (tmp / "t.npz").write_bytes(data[: len(data) // 2])
    return tmp / "t.npz"


def _random_bytes(good: Path, tmp: Path) -> Path:
    (tmp / "r.npz").write_bytes(np.random.default_rng(1).bytes(4096))
    return tmp / "r.npz"


def _empty(good: Path, tmp: Path) -> Path:
    (tmp / "e.npz").write_bytes(b"")
    return tmp / "e.npz"


def _bad_crc(good: Path, tmp: Path) -> Path:
    data = bytearray(good.read_bytes())
    at = data.index(b"\x93NUMPY", data.index(b"weights.npy")) + 200  # inside the weights
    data[at] ^= 0xFF
    (tmp / "c.npz").write_bytes(bytes(data))
    return tmp / "c.npz"


def _meta_bytes(raw: bytes) -> Any:
    def make(good: Path, tmp: Path) -> Path:
        arrays, _ = read_raw(good)
        return write_raw(tmp / "m.npz", arrays, meta_bytes=raw)
    return make


def _pickled_member(good: Path, tmp: Path) -> Path:
    arrays, meta = read_raw(good)
    with open(tmp / "p.npz", "wb") as f:  # an object array is a pickle inside the .npy
        np.savez(f, **arrays, extra=np.array([{"a": 1}], dtype=object),
                 **{META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})
    return tmp / "p.npz"


def _no_meta(good: Path, tmp: Path) -> Path:
    arrays, _ = read_raw(good)
    with open(tmp / "n.npz", "wb") as f:
        np.savez(f, **arrays)
    return tmp / "n.npz"


def _pickle_file(good: Path, tmp: Path) -> Path:
    import pickle

    (tmp / "x.pkl").write_bytes(pickle.dumps({"epoch": 3}))
    return tmp / "x.pkl"


@pytest.mark.parametrize("make", [
    _truncated, _random_bytes, _empty, _bad_crc, _pickled_member, _no_meta, _pickle_file,
    _meta_bytes(b"{not json"), _meta_bytes(b"\xff\xfe\x00 not utf-8"),
    _meta_bytes(b"[" * 100_000 + b"]" * 100_000), _meta_bytes(b"[" * 200 + b"]" * 200),
    _meta_bytes(b"[1, 2, 3]"), _meta_bytes(b'{"format": "something/else"}'),
    _meta_bytes(b'{"format": "q_store.checkpoint/1"}'),
], ids=["truncated", "random_bytes", "empty", "bad_crc", "object_array", "no_meta", "pickle",
        "bad_json", "non_utf8", "deep_json", "nested_200", "json_list", "other_format",
        "missing_keys"])
def test_unreadable_files_raise_checkpoint_error(good, tmp_path, make) -> None:
    """The old loader raised raw BadZipFile, EOFError, JSONDecodeError, UnicodeDecodeError,
    RecursionError or KeyError for these."""
    path = make(good, tmp_path)
    for err in both_readers(path):
        assert str(path) in str(err)


def test_a_missing_file_is_a_checkpoint_error(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        QuantumTrainer(TrainingConfig()).load_checkpoint(tmp_path / "nope.npz")


@pytest.fixture(scope="module")
def meta_of_good(good) -> dict[str, Any]:
    return read_raw(good)[1]


def _peak(call) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        call()
        caught = None
    except BaseException as e:  # returned to the test
        caught = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return caught, peak


@pytest.fixture(scope="module")
def bomb(tmp_path_factory, meta_of_good) -> Path:
    """~1 MB on disk, 1 GiB of zeros as the model's weights."""
    path = tmp_path_factory.mktemp("bomb") / "latest.npz"
    return write_bomb(path, meta_of_good, "weights", zero_mib=1024)


def test_a_decompression_bomb_is_refused_before_it_is_inflated(bomb) -> None:
    assert bomb.stat().st_size < 1.5 * MIB
    trainer = QuantumTrainer(config())
    for call in (lambda: trainer.restore(bomb, small_model()),
                 lambda: trainer.load_checkpoint(bomb)):
        caught, peak = _peak(call)
        assert isinstance(caught, CheckpointError), caught
        assert "weights" in str(caught) and "shape" in str(caught)
        assert peak < 8 * MIB, peak  # the old loader inflated all 1 GiB (peak ~1.1 GB)


def test_a_bomb_in_a_spec_style_checkpoint_hits_the_size_cap(tmp_path) -> None:
    meta = {"format": "q_store.checkpoint/1", "user": {"x": {"__array__": "user.0"}}}
    path = write_bomb(tmp_path / "user.npz", meta, "user.0", zero_mib=1025)
    caught, peak = _peak(lambda: QuantumTrainer(TrainingConfig()).load_checkpoint(path))
    assert isinstance(caught, CheckpointError) and "more than the" in str(caught), caught
    assert peak < 8 * MIB, peak


def test_a_header_that_lies_about_its_size_is_refused(tmp_path, meta_of_good) -> None:
    n = meta_of_good["model"]["n_parameters"]
    # the header claims 2**40 weights; the entry holds 1 MiB
    path = write_bomb(tmp_path / "lie.npz", meta_of_good, "opt.0.mu", zero_mib=1,
                      declared_shape=(2**40,))
    caught, peak = _peak(lambda: QuantumTrainer(TrainingConfig()).load_checkpoint(path))
    assert isinstance(caught, CheckpointError) and "opt.0.mu" in str(caught), caught
    assert peak < 4 * MIB
    # a header whose shape fits but whose entry holds more data than it declares
    path = write_bomb(tmp_path / "lie2.npz", meta_of_good, "weights", zero_mib=1,
                      declared_shape=(n,))
    for err in both_readers(path):
        assert "declares" in str(err)


def test_object_arrays_are_refused_without_unpickling(tmp_path) -> None:
    meta = {"format": "q_store.checkpoint/1", "user": {"a": {"__array__": "a"}}}
    with open(tmp_path / "o.npz", "wb") as f:
        np.savez(f, a=np.array([{"x": 1}], dtype=object),
                 **{META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="never object arrays"):
        QuantumTrainer(TrainingConfig()).load_checkpoint(tmp_path / "o.npz")
