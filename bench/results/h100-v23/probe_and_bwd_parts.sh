# One device call (carry ["scratch"], built by `rm -rf scratch && python bench/results/h100-v21/make_fwd_variants.py
# && python bench/results/h100-v23/make_l1_variants.py`):
# 1. v22's prepared step (results/h100-v22/probe_vs_keepx.sh): the probe's "full, in registers" and keepx0's own
#    forward timed by one harness in one process, at Z-Image; then main's; the GPU-compiled cubins kept.
# 2. bench.bwd_breakdown (new): the whole backward against its main kernel alone, its partial-sum kernel alone,
#    and the main kernel with no partial rows (dx only), at the four short shapes.
# 3. The forward's L1 use (make_l1_variants.py): main / mod_el / x2_cg / main, bench.tune --what fwd.
# Run in the order 3, 2, 1 (the keepx0 package only), most useful first, for a call cut short by the time left.
# Unfiltered logs (driver, copy bandwidth kept).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
for p in main mod_el x2_cg main; do
  echo "== $p"
  timeout 50 python3 bench/ab.py scratch/$p bench.tune --what fwd --shapes dit_xl,flux,lumina2,z_image 2>&1 | grep -v -i warn
done > $OUT/fwd_l1_ab.log 2>&1
grep -E "==|heuristic:|WRONG|rror|GB/s" $OUT/fwd_l1_ab.log | cut -c1-120
timeout 150 python3 -m bench.bwd_breakdown 2>&1 | tee $OUT/bwd_breakdown.log
PACKAGES=keepx0 bash bench/results/h100-v22/probe_vs_keepx.sh
