# Sixth call (about 60 s), no carry: session5 refuted "too many rows in flight" (no stage or program count streams
# at the shipped rate at 64-128 MB). The loop's tiles so far load x with 8-byte cp.async (4 columns a thread:
# 128:1, 256:2); the backward lost with 8-byte cp.async too (NOTES v29). 256:1 loads 16 bytes a thread.
# Prediction if the narrow copies limit the stream: 256:1 within 2% of the shipped forward at 64-128 MB.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 100 python3 -m bench.fwd_persistent --shapes 1x27776x1152,dit_xl,1x13888x1152 --tiles 256:1 --stages 3,5 \
  --per-sm 8 2>&1 | grep -v Warn > $OUT/fwd_persistent_5.log
cat $OUT/fwd_persistent_5.log
