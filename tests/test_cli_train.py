"""``q-store train`` end to end, as a user runs it (subprocesses): a small TOML config trains
and is recorded; ``runs show``, ``runs plot`` (a PNG of the requested size), ``evaluate``
(on the held-out split and on a file); a run interrupted by SIGINT mid-epoch and resumed ends
with exactly the weights of an uninterrupted run, and so does a run whose process was killed
(SIGKILL) mid-run; config errors name the file and the key; examples/digits.toml runs."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import q_store
from q_store.cli import main
from q_store.ml.checkpoints import load_checkpoint_file
from q_store.runconfig.preprocess import split_indices

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(q_store.__file__).resolve().parents[1])

CONFIG = """
[run]
name = "small"

[dataset]
name = "digits"
classes = [0, 1, 2, 3]

[split]
test_fraction = 0.5
validation_fraction = 0.1

[preprocessing]
scale = "none"
pca = false

[encoder]
method = "amplitude"

[training]
epochs = 3
batch_size = 8
learning_rate = 0.05
seed = 1
gradient_method = "parameter_shift"
circuit_depth = 2
"""
STEPS_PER_EPOCH = 36  # 288 training samples in batches of 8


def q_store_cmd(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "q_store.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=_env(), **kw)


def _env():
    env = {k: v for k, v in os.environ.items() if k != "QSTORE_DIR"}
    return {**env, "PYTHONPATH": SRC}


def _json(proc: subprocess.CompletedProcess):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def _weights(store: Path, run_id: str, name: str = "final.npz") -> np.ndarray:
    arrays, _ = load_checkpoint_file(store / "runs" / run_id / "checkpoints" / name)
    return arrays["weights"]


def _train_until(cwd: Path, name: str, step: int, sig: int) -> subprocess.Popen:
    """Start a run and send ``sig`` once it has reported ``step``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "q_store.cli", "train", "small.toml", "--store", "store",
         "--name", name, "--progress", "lines", "--json"], cwd=cwd, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(f"step {step} "):
            proc.send_signal(sig)
            break
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs of one config: uninterrupted; SIGINT at step 40 (epoch 2, batch 4 of 36),
    then resumed; SIGKILL at step 50, then resumed."""
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "small.toml").write_text(CONFIG)
    full = q_store_cmd("train", "small.toml", "--store", "store", "--name", "full", "--json",
                       "--progress", "none", cwd=cwd)
    assert full.returncode == 0, full.stderr
    cut = _train_until(cwd, "cut", 40, signal.SIGINT)
    cut_out, cut_err = cut.communicate(timeout=600)
    killed = _train_until(cwd, "killed", 50, signal.SIGKILL)
    killed.communicate(timeout=600)
    return {"cwd": cwd, "store": cwd / "store", "full": _json(full),
            "cut": (cut.returncode, json.loads(cut_out), cut_err),
            "killed_rc": killed.returncode}


def test_a_run_is_trained_and_recorded(runs):
    full = runs["full"]
    assert full["status"] == "completed" and full["epochs"] == 3
    assert full["steps"] == 3 * STEPS_PER_EPOCH
    assert full["test_accuracy"] > 0.5  # 4 classes: chance is 0.25
    show = _json(q_store_cmd("runs", "show", full["run_id"], "--json", "--store", "store",
                             cwd=runs["cwd"]))
    assert show["status"] == "completed" and show["name"] == "full"
    assert [e for e, _ in show["epoch_metrics"]["loss"]] == [1, 2, 3]
    assert show["epoch_metrics"]["val_accuracy"][-1][1] == full["val_accuracy"]
    assert show["config"]["file"]["training"]["gradient_method"] == "parameter_shift"
    files = {Path(c["path"]).name: c for c in show["checkpoints"]}
    assert {"epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz", "final.npz"} <= set(files)
    assert all(c["state"] == "ok" for c in files.values())
    assert files["final.npz"]["step"] == full["steps"]


def test_a_run_interrupted_mid_epoch_resumes_to_the_same_weights(runs):
    rc, cut, err = runs["cut"]
    assert rc == 130, err
    assert cut["status"] == "interrupted" and cut["stop_reason"] == "interrupted"
    assert "resume with: q-store train --resume" not in err  # --json prints only JSON
    store = runs["store"]
    _, meta = load_checkpoint_file(store / "runs" / cut["run_id"] / "checkpoints" / "latest.npz")
    assert meta["epoch"] == 1 and 0 < meta["partial"]["batches"] < STEPS_PER_EPOCH  # mid-epoch
    assert meta["step"] == cut["steps"] >= 40
    resumed = q_store_cmd("train", "--resume", "cut", "--store", "store", "--json",
                          "--progress", "none", cwd=runs["cwd"])
    assert resumed.returncode == 0, resumed.stderr
    done = _json(resumed)
    assert done["run_id"] == cut["run_id"] and done["status"] == "completed"
    assert done["steps"] == runs["full"]["steps"]
    np.testing.assert_array_equal(_weights(store, done["run_id"]),
                                  _weights(store, runs["full"]["run_id"]))
    assert done["test_accuracy"] == runs["full"]["test_accuracy"]
    assert done["loss"] == runs["full"]["loss"]


def test_a_killed_run_is_readable_and_resumes_from_its_last_epoch(runs):
    assert runs["killed_rc"] == -signal.SIGKILL
    cwd, store = runs["cwd"], runs["store"]
    listed = _json(q_store_cmd("runs", "--json", "--store", "store", cwd=cwd))
    killed = next(r for r in listed if r["name"] == "killed")
    assert killed["status"] == "running" and killed["writer_gone"]  # died without a word
    show = _json(q_store_cmd("runs", "show", killed["id"], "--json", "--store", "store",
                             cwd=cwd))
    assert len(show["epoch_metrics"]["loss"]) == 1  # epoch 1 was committed
    resumed = q_store_cmd("train", "--resume", killed["id"], "--store", "store", "--json",
                          "--progress", "none", cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr
    np.testing.assert_array_equal(_weights(store, killed["id"]),
                                  _weights(store, runs["full"]["run_id"]))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_runs_plot_draws_a_png_of_the_requested_size(runs):
    out = q_store_cmd("runs", "plot", "full", "-o", "curves.png", "--width", "900",
                      "--height", "700", "--store", "store", cwd=runs["cwd"])
    assert out.returncode == 0, out.stderr
    png = runs["cwd"] / "curves.png"
    assert _png_size(png) == (900, 700)
    from PIL import Image

    with Image.open(png) as img:
        assert img.size == (900, 700)
        pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.std() > 10  # curves, text and axes: not a blank canvas


def test_evaluate_on_the_held_out_split_and_on_a_file(runs):
    cwd, full = runs["cwd"], runs["full"]
    test = _json(q_store_cmd("evaluate", "full", "--json", "--store", "store", cwd=cwd))
    assert test["data"] == "test" and test["samples"] == 360
    assert test["accuracy"] == full["test_accuracy"]
    assert test["loss"] == pytest.approx(full["test_loss"], abs=1e-12)
    # the same held-out images as a file: prepared with the run's stored preprocessing
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    keep = y < 4
    x, y = x[keep], y[keep]
    idx = split_indices(y, (0.1, 0.5), seed=1, stratify=True)[2]
    np.savez(cwd / "held_out.npz", X=x[idx], y=y[idx])
    again = _json(q_store_cmd("evaluate", "full", "--data", "held_out.npz", "--json",
                              "--store", "store", cwd=cwd))
    assert again["samples"] == 360 and again["accuracy"] == test["accuracy"]


def test_config_errors_name_the_file_and_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[dataset]\nname = "iris"\n[training]\nlearning_rate = "fast"\n')
    assert main(["train", str(bad), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: training.learning_rate: learning_rate must be a positive finite" in err
    assert not (tmp_path / "s" / "runs").exists()  # no run is created for a bad file
    bad.write_text('[dataset]\nname = "iris"\nfeatures = 3\n')
    assert main(["train", str(bad), "--store", str(tmp_path / "s")]) == 2
    assert "'features' is not an option of data set 'iris'; allowed: classes" in \
        capsys.readouterr().err
    assert not (tmp_path / "s" / "runs").exists()  # nor for data that cannot be loaded


def test_a_yaml_run_list_compare_and_delete(tmp_path, capsys):
    cfg = tmp_path / "moons.yaml"
    cfg.write_text("dataset: {name: moons, n_samples: 60}\n"
                   "preprocessing: {scale: minmax}\n"
                   "training: {epochs: 2, batch_size: 10, n_qubits: 2, seed: 0}\n")
    store = str(tmp_path / "s")
    for lr in ("0.05", "0.2"):
        edited = cfg.read_text().replace("seed: 0", f"seed: 0, learning_rate: {lr}")
        cfg.write_text(edited)
        assert main(["train", str(cfg), "--store", store, "--json", "--progress",
                     "none"]) == 0
        cfg.write_text(cfg.read_text().replace(f", learning_rate: {lr}", ""))
    capsys.readouterr()
    assert main(["runs", "list", "--json", "--store", store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["moons", "moons"]
    assert all(r["status"] == "completed" and r["epochs"] == 2 for r in listed)
    ids = [r["id"] for r in listed]
    assert main(["runs", "compare", *ids, "--json", "--store", store]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert cmp["config_differences"] == {"training.learning_rate": [0.2, 0.05]}
    assert main(["runs", "delete", ids[0], "--store", store]) == 2  # not confirmed
    assert "pass --yes" in capsys.readouterr().err
    assert main(["runs", "delete", ids[0], "--yes", "--store", store]) == 0
    capsys.readouterr()
    assert main(["runs", "--json", "--store", store]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ids[1:]


def test_the_digits_example_runs(tmp_path, capsys):
    store = str(tmp_path / "s")
    assert main(["train", str(ROOT / "examples" / "digits.toml"), "--epochs", "1",
                 "--store", store, "--json", "--progress", "none"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["n_qubits"] == 6
    assert out["test_accuracy"] > 0.2  # ten classes, one epoch: well above chance (0.1)
    assert main(["runs", "show", "digits", "--store", store]) == 0
    assert "completed" in capsys.readouterr().out


MOONS = ('[dataset]\nname = "moons"\nn_samples = 40\n'
         "[training]\nepochs = 2\nbatch_size = 10\nn_qubits = 2\nseed = 0\n")


def test_tracking_with_mlflow(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "moons.toml"
    cfg.write_text(MOONS)
    store = str(tmp_path / "s")
    if importlib.util.find_spec("mlflow") is None:
        assert main(["train", str(cfg), "--tracking", "mlflow", "--store", store]) == 2
        assert "pip install 'q-store[mlflow]'" in capsys.readouterr().err
        assert not (tmp_path / "s" / "runs").exists()  # refused before a run was created
        return
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["train", str(cfg), "--tracking", "mlflow", "--store", store, "--json",
                 "--progress", "none"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert main(["runs", "show", out["run_id"], "--json", "--store", store]) == 0
    mlflow_id = json.loads(capsys.readouterr().out)["summary"]["mlflow_run_id"]
    run = MlflowClient(tracking_uri=uri).get_run(mlflow_id)
    assert run.info.status == "FINISHED" and run.data.tags["q_store.run_id"] == out["run_id"]
    assert run.data.params["training.epochs"] == "2" and run.data.params["dataset.name"] == \
        "moons"
    assert run.data.metrics["final_test_accuracy"] == out["test_accuracy"]
