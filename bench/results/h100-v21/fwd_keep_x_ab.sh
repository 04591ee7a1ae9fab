# One device call: the probe's "full, in registers" (fwd_breakdown_in_registers.log: Z-Image 23.0 us against
# full's 23.9, Flux 38.4 against 41.0) put into the shipped forward, in scratch copies of main:
# scratch/keepx keeps every chunk of x in registers between the passes (no second read, first reads unhinted),
# scratch/keepx0 the same with nothing loaded ahead (FORWARD_LOAD_AHEAD = 0). Statically (sm_90, triton 3.6)
# keepx / keepx0 / main registers: Lumina2 80 / 71 / 48, Z-Image 72 / 63 / 48, Flux 64 / 54 / 48,
# DiT-XL 80 / 71 / 62. main / keepx / keepx0 / main, the forward alone (bench.tune), every shape.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for p in scratch/main scratch/keepx scratch/keepx0 scratch/main; do
  echo "== $p"
  timeout 60 python3 bench/ab.py $p bench.tune --what fwd 2>&1 | grep -E "heuristic:|WRONG|rror" | cut -c1-110
done > $OUT/fwd_keep_x_ab.log 2>&1
cat $OUT/fwd_keep_x_ab.log
