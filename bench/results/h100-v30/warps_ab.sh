# NOTES v30 item 3: the forward's warps as the fewest that hold at most 32 row elements per thread (the
# backward's rule), not a power of two under D / 640. Prepare: scratch/base = HEAD's modnorm_op (git
# archive), scratch/warps32 = the working tree's; carry ["scratch/base", "scratch/warps32"]. Item 2's sweep
# had DiT-XL 2 warps 15.8 us against the heuristic's 1 warp 16.0, Lumina2 4 warps 28.2 against 2 warps 28.6;
# Flux, Z-Image, Mochi, Wan-14B keep their tiles (identical kernels: equal times expected). Three rounds,
# kernels alone, all six shapes.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for rep in 1 2 3; do
  for p in scratch/base scratch/warps32; do
    echo "== $p"
    timeout 90 python3 bench/ab.py $p bench.tune --what fwd 2>&1 | grep -E "heuristic:|WRONG|rror" | cut -c1-100
  done
done > $OUT/warps_ab.log 2>&1
cat $OUT/warps_ab.log
