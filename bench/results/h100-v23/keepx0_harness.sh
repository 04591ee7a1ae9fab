# One short device call (carry ["scratch"]): probe_and_bwd_parts.sh timed keepx0's forward at 22.9 us at Z-Image in
# bench.fwd_breakdown's process, where v21 and v22 had 24.4-24.5 from bench.tune. Here both harnesses on keepx0 in
# one call, at Z-Image only, bench.tune also through 8 input copies instead of 2 (x kept in L2 between visits?).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env_keepx0_harness.txt
for run in "keepx0" "main" "keepx0 --min-copies 8"; do
  set -- $run
  echo "== $run: bench.tune"
  timeout 40 python3 bench/ab.py scratch/$1 bench.tune --what fwd --shapes z_image $2 $3 2>&1 | grep -v -i warn
done > $OUT/keepx0_harness.log 2>&1
echo "== keepx0 bench.fwd_breakdown" >> $OUT/keepx0_harness.log
timeout 60 python3 bench/ab.py scratch/keepx0 bench.fwd_breakdown --shapes z_image 2>&1 | grep -v -i warn >> $OUT/keepx0_harness.log
cat $OUT/env_keepx0_harness.txt $OUT/keepx0_harness.log
