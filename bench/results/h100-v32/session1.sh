# v32 first device call (about 250 s), no carry: v31's prepared session6 probe (the row loop's stream deficit:
# 16-byte 256:1 tile and the blocked row order), then the CUDA suite on main's HEAD (never run as such since 6563ad9).
set -o pipefail
bash bench/results/h100-v31/session6.sh
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 300 bash bench/gpu_session.sh tests > $OUT/gpu_tests.log 2>&1; echo "gpu_session tests rc $?"
tail -5 $OUT/gpu_tests.log
