# One device call (no carry), in order of worth, each step under its own timeout so that a call stopped at its
# limit still brings back what finished (5 files under $OUT):
# 1. bench.size_scan: the forward's fixed cost per call and streaming bandwidth against a copy's (NOTES v26);
# 2. bench.tune --fwd-configs: forward tiles that load two chunks ahead of the stores (a shorter chain of
#    dependent L2 round trips after the reduction), and v19's sweep's best tiles, against the heuristic's,
#    which is timed first and again last (NOTES v26);
# 3. the GPU test suite on main;
# 4. bench.copy_at_size and bench.fwd_breakdown, whose inputs came from one function since 19ed037 (CPU-checked
#    only) and had not run on a GPU since.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
timeout 300 python3 -m bench.size_scan 2>&1 | grep -v -i warn > $OUT/size_scan.log
cat $OUT/size_scan.log
{ timeout 90 python3 -m bench.tune --what fwd --shapes lumina2 --fwd-configs 1:512:4:1,1:512:4:2,1:512:2:2,1:1024:2:1,1:512:2:1
  timeout 90 python3 -m bench.tune --what fwd --shapes z_image --fwd-configs 1:1024:4:2,1:1024:8:1,1:1024:8:2,1:1024:4:1
} 2>&1 | grep -v -i warn > $OUT/fwd_configs.log
cat $OUT/fwd_configs.log
timeout 150 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda.log 2>&1
tail -3 $OUT/pytest_cuda.log
{ timeout 40 python3 -m bench.copy_at_size --shapes lumina2,z_image
  timeout 60 python3 -m bench.fwd_breakdown --shapes lumina2,z_image; } 2>&1 | grep -v -i warn > $OUT/probes.log
cat $OUT/probes.log
