# Next device call (about 120 s), no carry: why the row loop streams slower than the shipped forward from
# 64 MB (NOTES v31 item 3; session5 refuted "too many rows in flight"). Two candidates, one probe run each:
# a) the narrow copies: the loop's tiles so far load x with 8-byte cp.async (128:1, 256:2), and the backward lost
#    with 8-byte cp.async too (NOTES v29); 256:1 loads 16 bytes a thread (LDGSTS.E.BYPASS.128, 196-199
#    registers under triton 3.6, 10 programs/SM).
# b) the row order: strided programs drift apart over many iterations, so the rows in flight spread over more
#    of x than the one-row-per-program grid's (whose programs start in order); "blocked" gives each program
#    consecutive rows instead.
# Predictions: if (a), 256:1 within 2% of the shipped forward at 64-128 MB and the DiT-XL gain kept; if (b),
# the strided loop's deficit grows with the rows per program (it does: 5 at DiT-XL, 9 at 64 MB, 18 at 128 MB)
# and "blocked" is worse still (1584 streams far apart), so (b) is refuted if "blocked" ties or wins.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 200 python3 -m bench.fwd_persistent --shapes 1x27776x1152,dit_xl,1x13888x1152 --tiles 256:1 128:1 \
  --stages 3,5 --per-sm 12 --orders strided,blocked 2>&1 | grep -v Warn > $OUT/fwd_persistent_5.log
cat $OUT/fwd_persistent_5.log
