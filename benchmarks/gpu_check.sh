#!/bin/bash
# The GPU checks on a CUDA machine (run from the repository root, CuPy installed):
# tests/sim/test_gpu.py and test_gpu_kernels.py with CuPy, then benchmarks/bench_gpu.py;
# logs and JSON under $OUT
OUT=${OUT:-.}
export PYTHONPATH=$PWD/src:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import sys,numpy,numba,cupy,scipy;print(sys.version.split()[0],'numpy',numpy.__version__,'numba',numba.__version__,'cupy',cupy.__version__,'scipy',scipy.__version__)"
nproc
timeout ${TEST_S:-180} python3 -m pytest -q -p no:cacheprovider -rs tests/sim/test_gpu.py tests/sim/test_gpu_kernels.py 2>&1 | tee $OUT/test_gpu.log
timeout ${BENCH_S:-260} python3 benchmarks/bench_gpu.py --sizes ${SIZES:-20,22,24,26} --repeats 3 --out $OUT/gpu.json 2>&1 | tee $OUT/bench_gpu.log
