# One device call: the forward sweep (bench.tune --fwd-sweep: 1- and 2-row tiles, each load order) with the
# shared-modulation diff applied (its 2-row tiles load scale and shift once per program where each thread
# holds the same columns of both rows), at the three short shapes. The probe (fwd_breakdown_rows.log) ran
# 2 rows, no load-ahead, at DiT-XL in 15.1 us against the diff's heuristic 16.7 and main's 16.2-16.3.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 420 python3 -m bench.tune --what fwd --fwd-sweep --rep 50 --shapes dit_xl,lumina2,z_image 2>&1 \
  | grep -v Warn | cut -c1-120 > $OUT/shared_modulation_sweep.log
cat $OUT/shared_modulation_sweep.log | grep -E "heuristic|best|rows 2" | head -150
