# Second call (about 150 s): bench.fwd_persistent at Z-Image and DiT-XL, which session1.sh's run did not reach
# (it stopped at Lumina2's 256:2 tile, whose other summation order the bit-for-bit check did not allow; now
# such a tile is checked against float64).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 250 python3 -m bench.fwd_persistent --shapes z_image,dit_xl 2>&1 | grep -v Warn > $OUT/fwd_persistent_2.log
cat $OUT/fwd_persistent_2.log
