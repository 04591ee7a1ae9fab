export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=dit_xl,flux,lumina2,z_image,mochi,wan_14b
t() { python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |fwd |WRONG|rror|bandwidth|caps" | cut -c1-120; }
{
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "== main"; t scratch/main bench.tune --what bwd --shapes $S
echo "== reduce-prefetch"; t scratch/reduce-prefetch bench.tune --what bwd --shapes $S
echo "== dw-reduce-tile"; t scratch/dw-reduce-tile bench.tune --what bwd --shapes $S
echo "== main, partial sums capped at 40 registers"; MAXNREG_RED=40 python3 scratch/with_maxnreg.py --what bwd --shapes $S 2>&1 | grep -E "bwd |caps|rror"
echo "== main again"; t scratch/main bench.tune --what bwd --shapes $S
} > $OUT/bwd_ab.log 2>&1
{
for m in 0 56 48 40 0; do echo "== forward cap $m"; MAXNREG_FWD=$m python3 scratch/with_maxnreg.py --what fwd --shapes lumina2,z_image,flux,dit_xl 2>&1 | grep -E "fwd |rror|bandwidth"; done
} > $OUT/fwd_maxnreg.log 2>&1
for p in main reduce-prefetch dw-reduce-tile; do for s in "32 256 1152" "1 4096 3840" "2 4096 2304"; do echo "== $p $s"; python3 bench/ab.py scratch/$p bench.profile_kernels $s 2>&1 | grep -E "shape|kernel|Self CUDA" | cut -c1-150; done; done > $OUT/profile_ab.log 2>&1
echo done
