# One device call: bench.fwd_breakdown twice in a row (its levels moved up to 1.4 us between v20's run and
# v21's first), now with "full, in registers": the whole formula with x kept in registers between the two
# passes instead of read again from L2. Statically (sm_90, triton 3.6) that level takes 72 registers at
# Lumina2 (14 programs per SM, against full's 40 and 25), 63 at Z-Image (8, against 40 and 12).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for run in 1 2; do
  timeout 200 python3 -m bench.fwd_breakdown 2>&1 | grep -v Warn
done > $OUT/fwd_breakdown_in_registers.log
cat $OUT/fwd_breakdown_in_registers.log
