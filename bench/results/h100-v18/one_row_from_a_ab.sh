export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=dit_xl,flux,lumina2,z_image,mochi,wan_14b
t() { python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |WRONG|rror|bandwidth" | grep -v best | cut -c1-120; }
{
echo "== main (2aeba06)"; t scratch/v18base bench.tune --what bwd --shapes $S
echo "== one-row-from-a"; t . bench.tune --what bwd --shapes $S
echo "== main again"; t scratch/v18base bench.tune --what bwd --shapes $S
echo "== one-row-from-a again"; t . bench.tune --what bwd --shapes z_image,mochi,wan_14b
} > $OUT/from_a_ab.log 2>&1
for p in scratch/v18base .; do for s in "1 4096 3840" "1 44520 3072"; do echo "== $p $s"; python3 bench/ab.py $p bench.profile_kernels $s 2>&1 | grep -E "shape|_kernel|Self CUDA" | cut -c1-60,100-150; done; done > $OUT/from_a_profile.log 2>&1
python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda.log 2>&1; tail -2 $OUT/pytest_cuda.log
cat $OUT/from_a_ab.log
