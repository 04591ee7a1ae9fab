# One device call: bench.fwd_breakdown at the four short shapes.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 140 python3 -m bench.fwd_breakdown 2>&1 | grep -v Warn > $OUT/fwd_breakdown.log
cat $OUT/fwd_breakdown.log
