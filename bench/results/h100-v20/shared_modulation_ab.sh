# For the next GPU session (NOTES v20 item 6), one device call. First, on the development machine:
#   mkdir -p scratch/main && git archive HEAD modnorm_op | tar -x -C scratch/main
#   git apply bench/results/h100-v20/fwd_shared_modulation_unmeasured.diff
#   tests/test_kernel_compile.py under triton 3.6 (the GPU's), on the CPU
# then run this script with carry ["scratch/main"]. It runs bench.fwd_breakdown (the probe with 2 and 4
# rows per program), the GPU suite on the diff, and main / the diff / main: the forward alone (bench.tune)
# and bench.run's forward+backward of the op alone, at every shape.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env.txt
timeout 150 python3 -m bench.fwd_breakdown 2>&1 | grep -v Warn > $OUT/fwd_breakdown_rows.log
cat $OUT/fwd_breakdown_rows.log
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda_shared_mod.log 2>&1
tail -1 $OUT/pytest_cuda_shared_mod.log
for p in scratch/main . scratch/main; do
  echo "== $p"
  timeout 100 python3 bench/ab.py $p bench.tune --what fwd 2>&1 | grep -E "heuristic:|WRONG|rror" | cut -c1-110
  timeout 120 python3 bench/ab.py $p bench.run --out /tmp/r --variants "modnorm_op[graph]" 2>&1 \
    | grep -E "graph|rror" | cut -c1-120
done > $OUT/shared_modulation_ab.log 2>&1
cat $OUT/shared_modulation_ab.log
