# The next device call (about 300 s after the start; 4 files under $OUT). First, on the development machine:
#   rm -rf scratch/base && mkdir -p scratch/base && git archive 4de9b26~1 modnorm_op | tar -x -C scratch/base
# then run this with carry ["scratch/base"]. In order of worth, each step under its own timeout:
# 1. final_check.sh: the GPU suite on the committed LINEAR_ROWS (one-dim plans left as before; not yet run
#    on a GPU) and a base / new / base / new A/B at Lumina2 (B = 2) and Z-Image (B = 1: expect no change);
# 2. mod_rows.py: what the second modulation row's 0.7 us follows (NOTES v28 item 6).
bash bench/results/h100-v28/final_check.sh
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 150 python3 bench/results/h100-v28/mod_rows.py 2>&1 | grep -v -i warn > $OUT/mod_rows.log
cat $OUT/mod_rows.log
