"""Build hook: ship the simulator kernels compiled, in the wheel's numba cache.

After the package is copied into the build folder, ``python -m q_store.warmup`` runs on that copy
(numba from the build requirements), and numba writes its cache next to the copied sources, so
the wheel carries it and the first run after ``pip install`` loads the kernels instead of
compiling them (see q_store/warmup.py for when the cache applies). ``Q_STORE_NO_WARMUP=1`` skips
this (a wheel without the cache compiles on first use, as numba always does); editable installs
skip it (their cache fills in the source tree on first use).
"""

from __future__ import annotations

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithKernelCache(build_py):
    """``build_py``, then the kernel warm-up on the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get("Q_STORE_NO_WARMUP"):
            return
        build_lib = os.path.abspath(self.build_lib)
        env = dict(os.environ)
        env.pop("NUMBA_CACHE_DIR", None)  # the cache must land beside the built sources
        env["PYTHONPATH"] = os.pathsep.join(p for p in (build_lib, env.get("PYTHONPATH")) if p)
        if (os.cpu_count() or 1) < 2:
            env.setdefault("NUMBA_NUM_THREADS", "2")  # so the threaded kernels are compiled too
        self.announce("compiling the simulator kernels into the wheel's cache "
                      "(q_store.warmup; Q_STORE_NO_WARMUP=1 skips)", level=2)
        done = subprocess.run([sys.executable, "-m", "q_store.warmup", "--quiet"], env=env,
                              cwd=build_lib, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError("the kernel warm-up (python -m q_store.warmup) failed; set "
                               "Q_STORE_NO_WARMUP=1 to build without the compiled kernels:\n"
                               + done.stdout + done.stderr)
        self.announce(done.stdout.strip(), level=2)


setup(cmdclass={"build_py": BuildPyWithKernelCache})
