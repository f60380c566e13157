"""The kernel warm-up (q_store.warmup): after it, the demo compiles nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from q_store.circuit.gates import GATES
from q_store.warmup import _all_gates_circuit

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_warmup_circuit_has_every_gate_kind():
    c = _all_gates_circuit(3)
    assert {op.gate for op in c.operations} == set(GATES)


def _python(code: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH"))
                                         if p)}
    return subprocess.run([sys.executable, *code], env=env, capture_output=True, text=True,
                          check=False, timeout=1800)


def test_after_the_warmup_the_demo_compiles_nothing(tmp_path):
    cache = tmp_path / "numba-cache"
    warm = _python(["-m", "q_store.warmup", "--no-large", "--quiet"], cache)
    assert warm.returncode == 0, warm.stderr
    assert "compilations" in warm.stdout and any(cache.rglob("*.nbi"))
    demo = _python(["-c", "from q_store.warmup import count_compilations\n"
                          "from q_store.demo import run_demo\n"
                          "with count_compilations() as c:\n"
                          "    run_demo(n_samples=40, epochs=2, log=lambda s: None)\n"
                          "print(c['compiled'], c['loaded'])"], cache)
    assert demo.returncode == 0, demo.stderr
    compiled, loaded = map(int, demo.stdout.split())
    assert compiled == 0 and loaded > 0
