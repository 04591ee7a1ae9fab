export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=lumina2,z_image,flux,dit_xl,mochi,wan_14b
t() { echo "== $1"; python3 bench/ab.py "$@" 2>&1 | grep -E "fwd |WRONG|rror|bandwidth" | grep -v best | cut -c1-120; }
{
t scratch/v18main bench.tune --what fwd --shapes $S
t scratch/fwdevict bench.tune --what fwd --shapes $S
t scratch/evict bench.tune --what fwd --shapes $S
t scratch/v18main bench.tune --what fwd --shapes $S
t scratch/fwdevict bench.tune --what fwd --shapes $S
} > $OUT/fwd_evict_ab.log 2>&1
cat $OUT/fwd_evict_ab.log
