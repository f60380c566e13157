"""The CUDA source of q_store.sim.gpu_kernels compiled as C++ for the CPU: each kernel run by a
loop over the thread index, so the kernels' index arithmetic and matrix products are tested on
machines without a GPU (with a C++ compiler). Launches take NumPy arrays in CuPy's calling
convention ``kernel(grid, block, args)``."""

from __future__ import annotations

import ast
import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from q_store.sim import gpu_kernels

_SHIM = r"""
struct qs_dim3 { unsigned x; };
static qs_dim3 blockIdx, blockDim, threadIdx;
#define __global__
#define __device__
#define __forceinline__ inline
"""
_DRIVER = r"""
#define QS_LOOP(call) blockDim.x = block; \
    for (long long i = 0; i < threads; ++i) { \
        blockIdx.x = i / block; threadIdx.x = i % block; call; }
extern "C" void run_apply(int k, long long threads, int block, QS_APPLY_ARGS) {
    if (k == 1) { QS_LOOP(qs_apply1(s, m, total, n, p0, p1, p2, s0, s1, s2, mrows)) }
    if (k == 2) { QS_LOOP(qs_apply2(s, m, total, n, p0, p1, p2, s0, s1, s2, mrows)) }
    if (k == 3) { QS_LOOP(qs_apply3(s, m, total, n, p0, p1, p2, s0, s1, s2, mrows)) }
}
extern "C" void run_adjoint(int k, long long threads, int block, QS_ADJOINT_ARGS) {
#define QS_A phi, lam, gdag, dg, part, total, n, p0, p1, p2, s0, s1, s2, mrows, n_params
    if (k == 1) { QS_LOOP(qs_adjoint1(QS_A)) }
    if (k == 2) { QS_LOOP(qs_adjoint2(QS_A)) }
    if (k == 3) { QS_LOOP(qs_adjoint3(QS_A)) }
}
"""


def cuda_source() -> str:
    tree = ast.parse(Path(gpu_kernels.__file__).read_text())
    return next(node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_SOURCE")


def compiler() -> str | None:
    return shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def _argument(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        assert a.flags.c_contiguous and a.dtype in (np.complex128, np.float64)
        return a.ctypes.data_as(ctypes.c_void_p)
    if isinstance(a, np.int64):
        return ctypes.c_longlong(int(a))
    if isinstance(a, np.int32):
        return ctypes.c_int(int(a))
    raise TypeError(f"unexpected kernel argument {type(a).__name__}")


def emulated_kernels(workdir: Path | None = None) -> dict[str, Any]:
    """``gpu_kernels._kernels``' dictionary with every kernel run on the CPU."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler")
    folder = Path(workdir or tempfile.mkdtemp(prefix="qs_cuda_emulation_"))
    source, library = folder / "kernels.cpp", folder / "kernels.so"
    source.write_text(_SHIM + cuda_source() + _DRIVER)
    subprocess.run([cxx, "-O1", "-w", "-shared", "-fPIC", "-o", str(library), str(source)],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))

    def launcher(kind: str, k: int) -> Any:
        run = getattr(lib, f"run_{kind}")

        def launch(grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
            run(ctypes.c_int(k), ctypes.c_longlong(grid[0] * block[0]), ctypes.c_int(block[0]),
                *map(_argument, args))

        return launch

    return {f"{kind}{k}": launcher(kind, k) for kind in ("apply", "adjoint")
            for k in range(1, gpu_kernels.MAX_KERNEL_QUBITS + 1)}
