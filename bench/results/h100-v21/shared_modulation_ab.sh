# One device call (NOTES v20 item 5, v21). On the development machine first:
#   mkdir -p scratch/main && git archive HEAD modnorm_op | tar -x -C scratch/main
#   git apply bench/results/h100-v21/fwd_shared_modulation_rejected.diff (v20's unmeasured diff, moved)
#   cp -r modnorm_op scratch/rows4 and set FORWARD_SHARED_ROWS = 4 there
#   tests/test_kernel_compile.py under triton 3.6 (the GPU's), on the CPU
# then run this script with carry ["scratch/main", "scratch/rows4"]. It runs the GPU suite on the diff, then
# main / the diff (2 rows) / 4 rows / main again: the forward alone (bench.tune) and bench.run's
# forward+backward of the op alone, at every shape; then bench.fwd_breakdown (2- and 4-row probe levels).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env.txt
cat $OUT/env.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda_shared_mod.log 2>&1
tail -1 $OUT/pytest_cuda_shared_mod.log
for p in scratch/main . scratch/rows4 scratch/main; do
  echo "== $p"
  timeout 80 python3 bench/ab.py $p bench.tune --what fwd 2>&1 | grep -E "heuristic:|WRONG|rror" | cut -c1-110
  timeout 80 python3 bench/ab.py $p bench.run --out /tmp/r --variants "modnorm_op[graph]" 2>&1 \
    | grep -E "graph|rror" | cut -c1-120
done > $OUT/shared_modulation_ab.log 2>&1
cat $OUT/shared_modulation_ab.log
timeout 100 python3 -m bench.fwd_breakdown 2>&1 | grep -v Warn > $OUT/fwd_breakdown_rows.log
cat $OUT/fwd_breakdown_rows.log
