"""First run after a fresh install: ``q-store demo`` with and without the kernels compiled into
the wheel, side by side, in clean virtual environments.

What is measured
----------------
The project is copied from the working tree (sources, ``pyproject.toml``, ``setup.py``, README;
no build folders, no caches) and installed twice, non-editable, with ``pip install
--no-cache-dir COPY`` into two fresh virtual environments, as a user would:

* ``shipped cache``: the normal build, which compiles the simulator kernels into the wheel
  (``setup.py`` runs ``q_store.warmup``);
* ``no cache``: the same with ``Q_STORE_NO_WARMUP=1`` (the wheel of before: numba compiles
  every kernel on first use).

Each install is then snapshotted (its ``q_store`` folder), and every repeat restores the
snapshot, so each repeat's first run is a first run on a fresh install. Per repeat and variant
(variants alternate within a repeat, so load changes hit both): the first ``q-store demo``, a
second one, and ``python -c "import q_store"``; wall seconds and the CPU seconds of the child
(user + system, less sensitive to other processes on a busy machine). Steady-state speed after
start-up: the demo's own training time per epoch (it prints it) and, in a separate process per
variant, ``bench_simulator``'s 8-qubit q_store rows (spec workload, forward and adjoint gradient
per sample, batch 10 and 1000, median of repeats after an untimed call).

Cells are median (min-max) over the repeats. Installs are timed once each.

Usage::

    python benchmarks/bench_startup.py [--repeats 5] [--out PATH] [--keep DIR]

Writes ``benchmarks/results/startup.json`` and ``startup.md`` (or next to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchenv import environment, load_average, text_table

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "startup.json"
VARIANTS = {"shipped cache": {}, "no cache": {"Q_STORE_NO_WARMUP": "1"}}
PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md", "LICENSE")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "*.pyc")

# bench_simulator's 8-qubit q_store rows: spec workload, ms per sample
STEADY = r"""
import json, statistics, sys, time
import numpy as np
from q_store.circuit import Z
from q_store.demo import hardware_efficient_circuit
from q_store.gradients import AdjointGradient
from q_store.sim import StatevectorSimulator
sim = StatevectorSimulator(); grad = AdjointGradient(sim)
c = hardware_efficient_circuit(8, 2); rng = np.random.default_rng(1234)
out = {}
for batch, reps in ((10, 200), (1000, 10)):
    x = rng.uniform(-np.pi, np.pi, (batch, 8)); w = rng.normal(size=c.n_weights)
    fwd = lambda: sim.expectation(c, Z(0), w, x)
    gr = lambda: grad.vjp(c, [Z(0)], w, x, np.ones((batch, 1))).weights.sum(0)
    for name, f in (("forward", fwd), ("gradient", gr)):
        f()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
        out[f"8x{batch} {name}"] = 1e3 * statistics.median(ts) / batch
print(json.dumps(out))
"""


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH", "VIRTUAL_ENV", "Q_STORE_NO_WARMUP")}
    env.update(extra or {})
    return env


def _timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None
           ) -> tuple[float, float, str]:
    """Run ``cmd``; (wall seconds, child CPU seconds, stdout). Raises on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n"
                           f"{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


class Install:
    """One variant: a fresh venv with the project installed from a clean copy."""

    def __init__(self, name: str, extra_env: dict[str, str], work: Path) -> None:
        self.name = name
        self.dir = work / name.replace(" ", "_")
        copy = self.dir / "project"
        copy.mkdir(parents=True)
        shutil.copytree(ROOT / "src", copy / "src", ignore=_IGNORE)
        for f in PROJECT_FILES:
            if (ROOT / f).exists():
                shutil.copy2(ROOT / f, copy / f)
        venv = self.dir / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        self.bin = venv / "bin"
        self.env = _clean_env()
        self.install_wall, self.install_cpu, _ = _timed(
            [str(self.bin / "python"), "-m", "pip", "install", "-q", "--no-cache-dir",
             str(copy)], _clean_env(extra_env), cwd=self.dir)
        site = subprocess.run([str(self.bin / "python"), "-c",
                               "import q_store, os; print(os.path.dirname(q_store.__file__))"],
                              env=self.env, cwd=self.dir, capture_output=True, text=True,
                              check=True).stdout.strip()
        self.package = Path(site)
        self.snapshot = self.dir / "snapshot"
        shutil.copytree(self.package, self.snapshot, symlinks=True)
        self.cache_files = sum(1 for p in self.package.rglob("*.nb[ic]"))

    def restore(self) -> None:
        """Back to the state right after ``pip install``."""
        shutil.rmtree(self.package)
        shutil.copytree(self.snapshot, self.package, symlinks=True)

    def demo(self) -> tuple[float, float, float]:
        """(wall s, CPU s, training s per epoch) of one ``q-store demo``."""
        wall, cpu, out = _timed([str(self.bin / "q-store"), "demo"], self.env, cwd=self.dir)
        m = re.search(r"trained (\d+) epochs in ([0-9.]+) s", out)
        if m is None:
            raise RuntimeError(f"unexpected demo output:\n{out}")
        return wall, cpu, float(m.group(2)) / int(m.group(1))

    def import_time(self) -> tuple[float, float]:
        wall, cpu, _ = _timed([str(self.bin / "python"), "-c", "import q_store"], self.env,
                              cwd=self.dir)
        return wall, cpu

    def steady(self) -> dict[str, float]:
        _, _, out = _timed([str(self.bin / "python"), "-c", STEADY], self.env, cwd=self.dir)
        return json.loads(out.strip().splitlines()[-1])


def _cell(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the environments here and keep them (default: a temp dir)")
    args = parser.parse_args(argv)
    env_info = environment(("numpy", "numba", "llvmlite", "scipy", "pip", "setuptools"))
    work = Path(tempfile.mkdtemp(prefix="qstore-startup-", dir=args.keep))
    try:
        installs = []
        for name, extra in VARIANTS.items():
            print(f"installing ({name}) ...", flush=True)
            installs.append(Install(name, extra, work))
            print(f"  {installs[-1].install_wall:.1f} s, {installs[-1].cache_files} cache files",
                  flush=True)
        rows: dict[str, dict[str, list[float]]] = {i.name: {} for i in installs}

        def add(variant: str, key: str, value: float) -> None:
            rows[variant].setdefault(key, []).append(value)

        for r in range(args.repeats):
            for inst in installs:
                inst.restore()
                for label in ("first demo", "second demo"):
                    wall, cpu, epoch = inst.demo()
                    add(inst.name, f"{label} wall s", wall)
                    add(inst.name, f"{label} CPU s", cpu)
                    add(inst.name, f"{label} training ms per epoch", 1e3 * epoch)
                wall, cpu = inst.import_time()
                add(inst.name, "import q_store wall s", wall)
                add(inst.name, "import q_store CPU s", cpu)
                for key, value in inst.steady().items():
                    add(inst.name, f"{key} ms per sample", value)
            print(f"repeat {r + 1}/{args.repeats}: first demo "
                  + ", ".join(f"{n} {rows[n]['first demo wall s'][-1]:.2f} s" for n in rows),
                  flush=True)
        keys = list(next(iter(rows.values())))
        names = [i.name for i in installs]
        body = [[k, *(_cell(rows[n][k], "{:.3f}" if "per sample" in k else "{:.2f}")
                      for n in names)] for k in keys]
        body.append(["pip install wall s (once)", *(f"{i.install_wall:.1f}" for i in installs)])
        body.append(["kernel cache files in the wheel", *(str(i.cache_files) for i in installs)])
        ratio = (statistics.median(rows["no cache"]["first demo wall s"])
                 / statistics.median(rows["shipped cache"]["first demo wall s"]))
        table = text_table(("median (min-max) over repeats", *names), body)
        print(table)
        print(f"first demo: shipped cache {ratio:.1f}x faster than no cache (wall medians); "
              f"load average at end {load_average()}")
        result: dict[str, Any] = {"environment": env_info, "repeats": args.repeats,
                                  "rows": rows, "install_wall_s": {i.name: i.install_wall
                                                                   for i in installs},
                                  "first_run_ratio": ratio, "load_average_at_end": load_average()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        md = ["| median (min-max) over repeats | " + " | ".join(names) + " |",
              "| --- | " + " | ".join("---:" for _ in names) + " |"]
        md += ["| " + " | ".join(row) + " |" for row in body]
        md.append("")
        md.append(f"{args.repeats} repeats, variants alternating; {env_info['cpu_count']} CPUs "
                  f"({env_info['cpu_model']}), numba {env_info['versions']['numba']}, Python "
                  f"{env_info['python']}, {env_info['timestamp']}; 1-min load average "
                  f"{env_info['load_average_at_start']} at start, {load_average()} at end.")
        args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
