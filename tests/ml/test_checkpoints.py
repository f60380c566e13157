"""Training checkpoints: restore is all or nothing, values are checked, only plain data is
stored, old epoch files and crashed writers' temp files are cleaned up, no key is ever written."""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from q_store.errors import CheckpointError, ConfigError, ValidationError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.checkpoints import clean_stale_temp_files
from q_store.ml.optimizers import state_to_arrays
from tests.ml.test_checkpoints_files import read_raw, write_raw

KW: dict[str, Any] = dict(batch_size=8, learning_rate=0.05, seed=11, gradient_method="spsa",
                          early_stopping_patience=4)


def data(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.integers(0, 2, n)


def model(seed: int = 2) -> QuantumModel:
    return QuantumModel(4, 2, 2, task="classification", hardware_efficient=True, seed=seed)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ckpt")
    m = model()
    m.quantum_layer.freeze_parameters([1])
    QuantumTrainer(TrainingConfig(epochs=2, checkpoint_dir=str(d), **KW)).fit(m, data())
    return d / "latest.npz"


def trained(seed: int = 7) -> tuple[QuantumTrainer, QuantumModel]:
    """A trainer and model in a state of their own (not the checkpoint's)."""
    trainer, m = QuantumTrainer(TrainingConfig(epochs=1, **{**KW, "seed": seed})), model(seed)
    trainer.fit(m, data(seed=seed))
    return trainer, m


def snapshot(trainer: QuantumTrainer, m: QuantumModel) -> dict[str, Any]:
    return {"weights": m.weights.copy(), "mask": m.trainable_mask.copy(),
            "epoch": trainer.epoch, "step": trainer.step,
            "rng": copy.deepcopy(trainer.rng.bit_generator.state),
            "method_state": trainer.method_state,
            "opt": {k: v.copy() for k, v in state_to_arrays(trainer.opt_state).items()},
            "history": copy.deepcopy(trainer.history),
            "early": copy.deepcopy(trainer._early),
            "best": None if trainer._best_weights is None else trainer._best_weights.copy(),
            "stats": copy.deepcopy(trainer._stats)}


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        elif k == "opt":
            assert a[k].keys() == b[k].keys()
            for name in a[k]:
                np.testing.assert_array_equal(a[k][name], b[k][name], err_msg=name)
        else:
            assert a[k] == b[k], k


# -- restore is atomic ----------------------------------------------------------------------------

def _drop_meta(key: str):
    return lambda arrays, meta: meta.pop(key)


def _set_meta(key: str, value: Any):
    return lambda arrays, meta: meta.__setitem__(key, value)


def _drop_array(name: str):
    return lambda arrays, meta: arrays.pop(name)


def _set_array(name: str, fn):
    return lambda arrays, meta: arrays.__setitem__(name, fn(arrays[name]))


CORRUPTIONS = {
    "no_rng": _drop_meta("rng"),
    "no_epoch": _drop_meta("epoch"),
    "no_method": _drop_meta("method"),
    "no_step": _drop_meta("step"),
    "no_history": _drop_meta("history"),
    "no_stats": _drop_meta("stats"),
    "no_opt_entry": _drop_array("opt.0.mu"),
    "no_weights": _drop_array("weights"),
    "negative_epoch": _set_meta("epoch", -5),
    "float_epoch": _set_meta("epoch", 2.5),
    "string_step": _set_meta("step", "7"),
    "bool_spsa_k": lambda a, m: m["method"]["state"].__setitem__("k", True),
    "negative_spsa_k": lambda a, m: m["method"]["state"].__setitem__("k", -1),
    "spsa_state_fields": lambda a, m: m["method"]["state"].pop("key"),
    "other_method": lambda a, m: m["method"].__setitem__("name", "adaptive"),
    "bad_rng": _set_meta("rng", {"bit_generator": "PCG64", "state": {}}),
    "rng_of_another_generator": _set_meta("rng", {"bit_generator": "MT19937", "state": {
        "key": [0] * 624, "pos": 0}}),
    "bad_early": _set_meta("early", {"best": "low", "stall": 0}),
    "history_entry": lambda a, m: m["history"]["losses"].append("nan"),
    "history_keys": lambda a, m: m["history"].pop("val_losses"),
    "architecture": lambda a, m: m["model"].__setitem__("n_qubits", 9),
    "short_mask": _set_array("trainable", lambda v: v[:-1]),
    "float_mask": _set_array("trainable", lambda v: v.astype(float)),
    "long_weights": _set_array("weights", lambda v: np.append(v, 0.0)),
    "nan_weights": _set_array("weights", lambda v: np.full_like(v, np.nan)),
    "complex_weights": _set_array("weights", lambda v: v + 1j),
    "opt_shape": _set_array("opt.0.mu", lambda v: v[:3]),
    "extra_array": lambda a, m: a.__setitem__("surprise", np.zeros(3)),
    "format": _set_meta("format", "q_store.checkpoint/0"),
    "user_dict": lambda a, m: m.__setitem__("user", {"x": 1}),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_bad_checkpoint_changes_nothing(ckpt, tmp_path, corrupt) -> None:
    """The old restore overwrote the weights and epoch, then raised a raw KeyError/TypeError
    (or accepted the value: a short mask, epoch=-5)."""
    arrays, meta = read_raw(ckpt)
    corrupt(arrays, meta)
    bad = write_raw(tmp_path / "bad.npz", arrays, meta)
    trainer, m = trained()
    before = snapshot(trainer, m)
    with pytest.raises(CheckpointError) as err:
        trainer.restore(bad, m)
    assert str(bad) in str(err.value)
    assert_same(snapshot(trainer, m), before)


def test_the_messages_say_what_is_wrong(ckpt, tmp_path) -> None:
    cases = {"negative_epoch": "epoch must be a non-negative integer, got -5",
             "no_rng": "missing 'rng'", "short_mask": "'trainable' has shape (15,)",
             "no_opt_entry": "missing array(s) ['opt.0.mu']",
             "bad_rng": "rng is not a PCG64 state", "architecture": "different architecture"}
    for name, text in cases.items():
        arrays, meta = read_raw(ckpt)
        CORRUPTIONS[name](arrays, meta)
        bad = write_raw(tmp_path / f"{name}.npz", arrays, meta)
        with pytest.raises(CheckpointError) as err:
            QuantumTrainer(TrainingConfig(**KW)).restore(bad, model())
        assert text in str(err.value), (name, str(err.value))


def test_a_good_checkpoint_restores_everything(ckpt) -> None:
    trainer, m = trained()
    trainer.restore(ckpt, m)
    assert trainer.epoch == 2 and trainer.step == 6 and trainer.method_state.k == 6
    assert len(trainer.history["losses"]) == 2 and not m.trainable_mask[1]
    arrays, meta = read_raw(ckpt)
    np.testing.assert_array_equal(m.weights, arrays["weights"])
    assert trainer.rng.bit_generator.state == meta["rng"]


def test_load_checkpoint_checks_the_training_fields(ckpt, tmp_path) -> None:
    arrays, meta = read_raw(ckpt)
    meta["epoch"] = -5
    with pytest.raises(CheckpointError, match="epoch must be a non-negative integer"):
        QuantumTrainer(TrainingConfig()).load_checkpoint(write_raw(tmp_path / "a.npz", arrays,
                                                                   meta))
    arrays, meta = read_raw(ckpt)
    arrays["trainable"] = arrays["trainable"][:-2]
    with pytest.raises(CheckpointError, match=r"'trainable' has shape \(14,\); expected \(16,\)"):
        QuantumTrainer(TrainingConfig()).load_checkpoint(write_raw(tmp_path / "b.npz", arrays,
                                                                   meta))


# -- only plain data is stored --------------------------------------------------------------------

class Thing:
    def __str__(self) -> str:
        return "a thing"


@pytest.mark.parametrize("ckpt_dict,where,type_name", [
    ({"obj": Thing()}, "obj", "Thing"),
    ({"model_state": {"opt": {"lr": Thing()}}}, "model_state.opt.lr", "Thing"),
    ({"seen": {1, 2}}, "seen", "set"),
    ({"fn": len}, "fn", "builtin_function_or_method"),
    ({"items": [1, Thing()]}, r"items\[1\]", "Thing"),
    ({"z": 1 + 2j}, "z", "complex"),
    ({"names": np.array(["a", "b"])}, "names", "dtype <U1"),
    ({"objs": np.array([Thing()], dtype=object)}, "objs", "dtype object"),
    ({"when": np.datetime64("2020-01-01")}, "when", "datetime64"),
    ({"d": {3: "x"}}, "d", "key 3 is a int"),
], ids=["object", "nested", "set", "function", "in_list", "complex", "str_array",
        "object_array", "datetime", "int_key"])
def test_unstorable_values_are_refused_by_name_and_type(tmp_path, ckpt_dict, where,
                                                        type_name) -> None:
    """The old save stored them as their str() (e.g. 'a thing')."""
    path = tmp_path / "c.npz"
    with pytest.raises(ValidationError, match=rf"{where}.*{type_name}") as err:
        QuantumTrainer(TrainingConfig()).save_checkpoint(ckpt_dict, path)
    assert "allowed" in str(err.value) or "keys must be strings" in str(err.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_plain_values_and_numeric_arrays_round_trip(tmp_path) -> None:
    m = model()
    value = {"epoch": 3, "loss": 0.25, "nan": float("nan"), "name": "run", "ok": True,
             "none": None, "np_scalar": np.float32(1.5), "np_int": np.int64(7),
             "nested": {"list": [1, [2, {"deep": "x"}]], "tuple": (1, 2)},
             "model_state": m.get_state(), "complex": np.array([1 + 2j]),
             "in_list": [np.arange(3), {"a": np.ones((2, 2), dtype=np.float32)}]}
    trainer = QuantumTrainer(TrainingConfig())
    back = trainer.load_checkpoint(trainer.save_checkpoint(value, tmp_path / "c.npz"))
    assert back["epoch"] == 3 and back["loss"] == 0.25 and np.isnan(back["nan"])
    assert back["np_scalar"] == 1.5 and back["np_int"] == 7 and back["ok"] is True
    assert back["nested"] == {"list": [1, [2, {"deep": "x"}]], "tuple": [1, 2]}
    np.testing.assert_array_equal(back["model_state"]["weights"], m.weights)
    assert back["model_state"]["trainable"].dtype == bool
    np.testing.assert_array_equal(back["complex"], [1 + 2j])
    np.testing.assert_array_equal(back["in_list"][0], np.arange(3))
    assert back["in_list"][1]["a"].dtype == np.float32


def test_a_self_referencing_dict_is_refused(tmp_path) -> None:
    d: dict[str, Any] = {}
    d["me"] = d
    with pytest.raises(ValidationError, match="nested deeper than"):
        QuantumTrainer(TrainingConfig()).save_checkpoint(d, tmp_path / "c.npz")


# -- retention, temp files, resume --------------------------------------------------------------

def files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("keep,expected", [
    (2, ["epoch_0009.npz", "epoch_0010.npz", "latest.npz"]),
    (0, ["latest.npz"]),
    (None, [f"epoch_{i:04d}.npz" for i in range(1, 11)] + ["latest.npz"]),
])
def test_keep_last_retains_the_newest_epoch_files(tmp_path, keep, expected) -> None:
    cfg = TrainingConfig(epochs=10, checkpoint_dir=str(tmp_path), checkpoint_keep_last=keep,
                         **{**KW, "early_stopping_patience": None})
    trainer, m = QuantumTrainer(cfg), model()
    trainer.fit(m, data(16))
    assert files(tmp_path) == expected
    for name in expected:  # every kept file resumes
        other = QuantumTrainer(cfg)
        other.restore(tmp_path / name, model(9))
        epoch = 10 if name == "latest.npz" else int(name[6:10])
        assert other.epoch == epoch and len(other.history["losses"]) == epoch
    again = QuantumTrainer(cfg)
    again.restore(tmp_path / "latest.npz", restored := model(9))
    np.testing.assert_array_equal(restored.weights, m.weights)


def test_disk_use_grows_linearly_not_quadratically(tmp_path) -> None:
    """Each checkpoint holds the history (tens of bytes per epoch) and at most keep_last + 1
    files exist, so the folder grows linearly with the epochs (it grew quadratically: one
    full-history file per epoch, none removed)."""
    cfg = TrainingConfig(epochs=40, checkpoint_dir=str(tmp_path), checkpoint_keep_last=2,
                         batch_size=16, seed=1, gradient_method="spsa")
    sizes = {}
    trainer, m = QuantumTrainer(cfg), model()
    for stop in (10, 20, 40):
        trainer.fit(m, data(16), epochs=stop - trainer.epoch)
        inodes = {p.stat().st_ino: p.stat().st_size for p in tmp_path.iterdir()}
        sizes[stop] = (sum(inodes.values()), (tmp_path / "latest.npz").stat().st_size)
    per_epoch = (sizes[40][1] - sizes[20][1]) / 20
    assert per_epoch == pytest.approx((sizes[20][1] - sizes[10][1]) / 10, rel=0.5)
    assert per_epoch < 300
    for total, one in sizes.values():
        assert total <= 3 * one


def test_latest_is_written_once_as_a_link_to_the_epoch_file(tmp_path) -> None:
    cfg = TrainingConfig(epochs=2, checkpoint_dir=str(tmp_path), **KW)
    QuantumTrainer(cfg).fit(model(), data(16))
    assert os.path.samefile(tmp_path / "latest.npz", tmp_path / "epoch_0002.npz")


def test_keep_last_is_validated() -> None:
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="checkpoint_keep_last"):
            TrainingConfig(checkpoint_keep_last=bad)
    assert TrainingConfig().checkpoint_keep_last == 3


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_this_writer_are_removed_on_save(tmp_path) -> None:
    old = time.time() - 2 * 3600
    dead, alive = _dead_pid(), os.getppid()

    def make(name: str, content: bytes = b"PK\x03\x04...", mtime: float | None = None) -> None:
        (tmp_path / name).write_bytes(content)
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))

    orphans = [f".latest.npz.qstore-{dead}.abcd1234.tmp",      # writer gone
               f".epoch_0003.npz.qstore-{alive}.zz_9xy12.tmp",  # over an hour old
               ".latest.npz.k3j4h5g6.tmp"]                      # old-style name, old
    make(orphans[0])
    make(orphans[1], mtime=old)
    make(orphans[2], mtime=old)
    kept = [f".latest.npz.qstore-{alive}.abcd1234.tmp",  # a live writer, recent
            ".latest.npz.k3j4h5g7.tmp",                  # old-style, recent
            ".notes.txt.k3j4h5g6.tmp",                   # old-style, old, but not a zip
            ".notes.tmp", "data.tmp", "epoch_0001.npz.tmp",
            f".x.qstore-{dead}.abc.tmp"]                 # not our random-name length
    make(kept[0])
    make(kept[1])
    make(kept[2], b"my notes", mtime=old)
    for name in kept[3:]:
        make(name, mtime=old)
    QuantumTrainer(TrainingConfig()).save_checkpoint(tmp_path / "latest.npz", model=model())
    assert files(tmp_path) == sorted([*kept, "latest.npz"])
    assert clean_stale_temp_files(tmp_path) == []


def test_a_crash_mid_write_leaves_a_temp_file_that_the_next_save_removes(tmp_path) -> None:
    """Simulate a process killed between writing the temp file and renaming it."""
    script = (
        "import os, numpy as np\n"
        "from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig\n"
        "np.savez = lambda f, **kw: os._exit(3)\n"
        f"QuantumTrainer(TrainingConfig()).save_checkpoint({str(tmp_path / 'latest.npz')!r}, "
        "model=QuantumModel(4, 1, 1, seed=0))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 3
    assert len(list(tmp_path.glob(".latest.npz.qstore-*.tmp"))) == 1
    QuantumTrainer(TrainingConfig()).save_checkpoint(tmp_path / "latest.npz", model=model())
    assert files(tmp_path) == ["latest.npz"]


# -- no key anywhere ------------------------------------------------------------------------------

def test_api_keys_stay_on_the_config_object_only(tmp_path, caplog) -> None:
    secret_a, secret_b = "pc-TOPSECRET-123", "ion-TOPSECRET-456"
    cfg = TrainingConfig(epochs=2, pinecone_api_key=secret_a, quantum_api_key=secret_b,
                         checkpoint_dir=str(tmp_path / "ck"), performance_log_dir=str(tmp_path),
                         debug_mode=True, **KW)
    assert cfg.pinecone_api_key == secret_a  # kept on the object (the docstring says so)
    assert cfg.replace(epochs=3).pinecone_api_key == secret_a
    for text in (repr(cfg), str(cfg), json.dumps(cfg.to_dict())):
        assert "TOPSECRET" not in text
    trainer = QuantumTrainer(cfg)
    with caplog.at_level(logging.DEBUG):
        trainer.fit(model(), data(16))
        trainer.save_checkpoint({"note": "x"}, tmp_path / "user.npz")
    assert caplog.records and all("TOPSECRET" not in r.getMessage() for r in caplog.records)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 4
    for p in written:
        assert b"TOPSECRET" not in p.read_bytes(), p
    assert "TOPSECRET" not in json.dumps(trainer.load_checkpoint(tmp_path / "ck" /
                                                                 "latest.npz")["config"])
