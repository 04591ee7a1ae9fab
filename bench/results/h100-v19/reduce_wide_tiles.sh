# One device call: branch dw-after-ds's first commit (scratch/v1) with wider partial-sum tiles at DiT-XL
# (16 partials a modulation row: one step of 16, fewer programs), against main; per-kernel profile of both.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
t() { timeout 120 python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |WRONG|rror|bandwidth" | cut -c1-120; }
{
echo "== main"; t scratch/main bench.tune --what bwd --shapes dit_xl
echo "== v1"; t scratch/v1 bench.tune --what bwd --shapes dit_xl --reduce-tiles 32:32:4,16:32:4,16:64:4,16:128:4,16:128:8,32:64:8
echo "== main again"; t scratch/main bench.tune --what bwd --shapes dit_xl
} > $OUT/reduce_wide_tiles_rejected.log 2>&1
grep -v best $OUT/reduce_wide_tiles_rejected.log
