# Fifth call (about 100 s), no carry: why the branch's row loop streams slower at 64-128 MB (persistent_widths.log:
# D = 1152, x (1, N, D), 24.3 -> 25.4 us at 64 MB, 45.2 -> 48.1 at 128 MB) while it wins at DiT-XL and 32 MB.
# Hypothesis: too many rows in flight (12 programs x 4 stages per SM: 6336 rows, half of x at 64 MB) spread the
# DRAM requests. Prediction if so: fewer stages or programs stream as fast as the shipped forward at 64-128 MB.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 150 python3 -m bench.fwd_persistent --shapes 1x13888x1152,1x27776x1152,dit_xl --tiles 128:1 --stages 2,3,5 \
  --per-sm 4,8 2>&1 | grep -v Warn > $OUT/fwd_persistent_4.log
cat $OUT/fwd_persistent_4.log
