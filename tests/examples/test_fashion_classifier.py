"""examples/fashion_classifier.py runs as a user runs it (a subprocess) and learns: on generated
Fashion-MNIST-shaped IDX files and on scikit-learn's digits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import q_store
from q_store.models import DEFAULTS
from tests.synthetic_images import write_synthetic_fashion

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fashion_classifier.py"


def _run(*args: str) -> str:
    env = dict(os.environ)
    src = str(Path(q_store.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _accuracy(out: str) -> tuple[float, float]:
    m = re.search(r"^test accuracy: ([0-9.]+) \(chance ([0-9.]+)\)$", out, re.M)
    assert m, out
    return float(m.group(1)), float(m.group(2))


def test_example_on_generated_idx_files(tmp_path: Path) -> None:
    write_synthetic_fashion(tmp_path, 200, 100, n_classes=10, seed=0)
    out = _run("--data", str(tmp_path), "--epochs", "5")
    assert "data: 180 train / 20 validation / 100 test images, 28x28, 10 classes" in out
    assert "area-downsample 28x28 -> 8x8 -> amplitude-normalise" in out
    assert len(re.findall(r"^epoch \d/5: loss", out, re.M)) == 5
    assert re.search(rf"^weights: {6 * DEFAULTS.circuit_depth}$", out, re.M)
    acc, chance = _accuracy(out)
    assert chance == 0.1 and acc >= 3 * chance


def test_example_on_digits() -> None:
    out = _run("--digits", "--epochs", "3")
    assert "8x8, 10 classes" in out and "preprocessing: amplitude-normalise" in out
    acc, chance = _accuracy(out)
    assert acc >= 2 * chance


def test_example_reports_missing_files(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(q_store.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, str(EXAMPLE), "--data", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode != 0
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert "train-images-idx3-ubyte" in done.stderr and "never downloads" in done.stderr
