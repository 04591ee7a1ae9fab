export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=z_image,mochi,wan_14b
t() { python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |WRONG|rror|bandwidth" | grep -v best | cut -c1-120; }
{
echo "== one-row-from-a (first commit)"; t scratch/froma bench.tune --what bwd --shapes $S
echo "== scale and weight loaded first"; t . bench.tune --what bwd --shapes $S
echo "== one-row-from-a again"; t scratch/froma bench.tune --what bwd --shapes $S
echo "== scale and weight loaded first, again"; t . bench.tune --what bwd --shapes $S
for p in scratch/froma .; do echo "== $p"; python3 bench/ab.py $p bench.profile_kernels 1 4096 3840 2>&1 | grep -E "_kernel" | cut -c1-60,100-150; done
} > $OUT/early_loads_ab.log 2>&1
cat $OUT/early_loads_ab.log
