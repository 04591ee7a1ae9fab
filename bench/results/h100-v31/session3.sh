# Third call (about 220 s): where does the persistent forward win? session2's DiT-XL: 128:1, 5 stages,
# 12 programs/SM, 15.3 us against the shipped 15.9 (torch's copy 14.5); Lumina2 and Z-Image slower. Here more
# stages at DiT-XL, and other short widths: PixArt-like (4, 4096, 1152), SD3-medium-like (2, 4096, 1536),
# (2, 4096, 2048), and (32, 256, 1024), whose shipped tile holds 2 rows in registers.
# Prediction: the gain holds at D = 1152 with more rows (4, 4096) and shrinks toward 2048 (Lumina2 lost).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 120 python3 -m bench.fwd_persistent --shapes dit_xl --tiles 128:1 256:2 --stages 4,5,6,7 --per-sm 8 \
  2>&1 | grep -v Warn > $OUT/fwd_persistent_3.log
timeout 200 python3 -m bench.fwd_persistent --shapes 4x4096x1152,2x4096x1536,2x4096x2048,32x256x1024 \
  --stages 3,5,7 --per-sm 4 2>&1 | grep -v Warn >> $OUT/fwd_persistent_3.log
cat $OUT/fwd_persistent_3.log
