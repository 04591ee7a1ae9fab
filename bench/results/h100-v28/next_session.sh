# The next device call (about 400 s after the start; 5 files under $OUT). First, on the development machine:
#   rm -rf scratch/base && mkdir -p scratch/base && git archive 4de9b26~1 modnorm_op | tar -x -C scratch/base
# then run this with carry ["scratch/base"]. In order of worth, each step under its own timeout:
# 1. final_check.sh: the GPU suite on the committed LINEAR_ROWS (one-dim plans left as before; not yet run
#    on a GPU) and a base / new / base / new A/B at Lumina2 (B = 2) and Z-Image (B = 1: expect no change);
# 2. mod_rows.py: what the second modulation row's 0.7 us follows (NOTES v28 item 6);
# 3. DiT-XL's and Lumina2's backward with unpadded rows (NOTES v28 item 7): 1152 columns as 9 x 128 (one
#    warp) and 2304 as 9 x 256 (two warps) instead of 3 x 512 and 3 x 1024: ~30% fewer instructions per row.
bash bench/results/h100-v28/final_check.sh
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 150 python3 bench/results/h100-v28/mod_rows.py 2>&1 | grep -v -i warn > $OUT/mod_rows.log
cat $OUT/mod_rows.log
timeout 200 python3 -m bench.tune --what bwd --shapes dit_xl,lumina2 \
  --bwd-configs 8:128:1:3,8:128:1:4,8:128:1:5,6:256:2:4,4:256:2:4,4:256:2:3 2>&1 \
  | grep -E "default:|chunk|WRONG|rror" > $OUT/dit_bwd_one_warp.log
cat $OUT/dit_bwd_one_warp.log
