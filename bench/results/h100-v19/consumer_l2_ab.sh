# One device call: bench.consumer_l2 with the forward before its cache hints (scratch/nohints, from
# `git archive f4c4a82~1 modnorm_op`), with them (this checkout), before again.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{
for p in scratch/nohints . scratch/nohints; do echo "== $p"; timeout 150 python3 bench/ab.py $p bench.consumer_l2 2>&1 | grep -v Warn; done
} > $OUT/consumer_l2_ab.log 2>&1
cat $OUT/consumer_l2_ab.log
