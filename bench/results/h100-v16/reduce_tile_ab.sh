export PYTHONPATH=$PWD
S=dit_xl,flux,lumina2,z_image,mochi,wan_14b
t() { python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |WRONG|rror" | cut -c1-110; }
echo "== main (old)"; t scratch/main bench.tune --what bwd --shapes $S
echo "== branch, with the reduce-tile sweep (first row: the branch's default)"; t . bench.tune --what bwd --shapes $S --reduce-tiles 64:32:4:64:32,64:32:4:128:16,64:32:4:512:4
echo "== main (old) again"; t scratch/main bench.tune --what bwd --shapes $S
