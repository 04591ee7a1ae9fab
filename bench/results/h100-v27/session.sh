# The next device call (no carry; about 450 s after the start; 5 files under $OUT), in order of worth, each
# step under its own timeout so that a call stopped at its limit still brings back what finished:
# 1. lumina_shape.py: what makes Lumina2's shape pay ~1.4 us more per call than its width's line, and the
#    copy's length granularity, one row apart (NOTES v27);
# 2. bench.size_scan at four widths, now with copy lengths in whole 4 KB blocks (NOTES v27);
# 3. the GPU test suite on main, as bench/gpu_session.sh runs it;
# 4. bench.copy_at_size and bench.fwd_breakdown, not run on a GPU since their inputs came from one function
#    (19ed037).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
timeout 120 python3 bench/results/h100-v27/lumina_shape.py 2>&1 | grep -v -i warn > $OUT/lumina_shape.log
cat $OUT/lumina_shape.log
timeout 240 python3 -m bench.size_scan 2>&1 | grep -v -i warn > $OUT/size_scan.log
cat $OUT/size_scan.log
timeout 150 env PACK_NAME=pytest_cuda bash bench/gpu_session.sh tests  # $OUT/pytest_cuda.tar.gz
{ timeout 40 python3 -m bench.copy_at_size --shapes lumina2,z_image
  timeout 60 python3 -m bench.fwd_breakdown --shapes lumina2,z_image; } 2>&1 | grep -v -i warn > $OUT/probes.log
cat $OUT/probes.log
