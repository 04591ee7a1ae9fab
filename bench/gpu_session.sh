#!/usr/bin/env bash
# The one command for a lent GPU: environment, the GPU test suite, then the benchmark; logs under $OUT.
#   bash bench/gpu_session.sh [tests|bench|all]   (default all)
set -o pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/modnorm_out}
mkdir -p "$OUT"
what=${1:-all}
python3 -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" | tee "$OUT/env.txt"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv | tee -a "$OUT/env.txt"
status=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  python3 -m pytest -q -p no:cacheprovider tests ${PYTEST_ARGS:-} 2>&1 | tee "$OUT/pytest_gpu.log" | tail -15 || status=1
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  python3 -m bench.run --out "$OUT" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log" || status=1
fi
exit $status
