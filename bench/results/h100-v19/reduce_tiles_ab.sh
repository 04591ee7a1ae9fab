# One device call: the backward with each partial-sum tile (partials:columns:warps), main (scratch/main) /
# branch dw-after-ds's first commit (scratch/v1: dscale and dshift in programs of their own) / its second
# (this checkout: one program per modulation row adds both) / main again.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=dit_xl,lumina2,z_image,flux
T=32:32:4,16:32:4,64:16:4,32:16:4
t() { timeout 170 python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |WRONG|rror|bandwidth" | cut -c1-120; }
{
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
echo "== main"; t scratch/main bench.tune --what bwd --shapes $S
echo "== v1 (separate programs)"; t scratch/v1 bench.tune --what bwd --shapes $S --reduce-tiles $T
echo "== v2 (side by side)"; t . bench.tune --what bwd --shapes $S --reduce-tiles $T
echo "== main again"; t scratch/main bench.tune --what bwd --shapes $S
} > $OUT/reduce_tiles_ab_rejected.log 2>&1
grep -v "best" $OUT/reduce_tiles_ab_rejected.log
