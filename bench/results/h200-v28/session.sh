# B > 1's cost per call (NOTES v28): the forward's division or second modulation row (batch_rows.py), and
# whether int32 row coordinates take it back, forward and backward (coords32.py). About 200 s; one file.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
C32=bench/results/h200-v28/coords32.py
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  timeout 100 python3 bench/results/h200-v28/batch_rows.py
  timeout 100 python3 $C32 bench/results/h200-v28/batch_rows.py
  timeout 100 python3 -m bench.bwd_breakdown --shapes dit_xl,lumina2
  timeout 100 python3 $C32 bench.bwd_breakdown --shapes dit_xl,lumina2
} 2>&1 | grep -v -i warn | tee $OUT/batch_rows.log
