# The session's first device call (about 450 s; 2 files under $OUT), no carry.
# 1. NOTES v30 item 6 (h100-v30/next_session.sh step 1): the modulation loads spread over 8 / 64 copies.
#    Prediction if many programs asking L2 for the same lines is the modulation's cost per call: 64 copies at
#    least 0.5 us under "full" at Lumina2 and Z-Image; otherwise within 0.2 us (expected, from v21).
# 2. bench.fwd_persistent (NOTES v31 item 1): persistent programs holding their modulation row in registers,
#    x pipelined by Triton. Prediction: if the weight, scale and shift's 1.1-1.5 us per call come from
#    reloading them per row, the best tile at Lumina2 and Z-Image 0.5-1.0 us under the shipped forward;
#    if rows in flight matter more (v6, v16), slower, most at stages 1.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 200 python3 -m bench.fwd_breakdown --shapes dit_xl,flux,lumina2,z_image 2>&1 | grep -v Warn \
  > $OUT/fwd_breakdown_copies.log
cat $OUT/fwd_breakdown_copies.log
timeout 330 python3 -m bench.fwd_persistent --shapes lumina2,z_image,dit_xl,flux 2>&1 | grep -v Warn \
  > $OUT/fwd_persistent.log
cat $OUT/fwd_persistent.log
