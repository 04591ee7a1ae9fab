# Fourth call (about 420 s), carry ["scratch/base", "scratch/new"]: scratch/base is main's modnorm_op,
# scratch/new the persistent-fwd branch (modnorm_op, tests, bench): the forward's row loop for 2-byte rows of
# 1025-1280 columns with several rows per modulation row (NOTES v31 item 2).
# Predictions: DiT-XL's forward kernel 15.8-15.9 -> about 15.3 us (the probe's 128:1, 5 stages, 12/SM);
# Lumina2, Z-Image unchanged (not in range); at D = 1088, 1152, 1280 (x (1, N, D)) faster at 16-128 MB.
export PYTHONUNBUFFERED=1
for p in scratch/base scratch/new scratch/base scratch/new; do
  echo "== $p"
  PYTHONPATH=$PWD timeout 60 python3 bench/ab.py $p bench.tune --what fwd --shapes dit_xl,lumina2,z_image 2>&1 | grep -v Warn
done > $OUT/persistent_ab.log 2>&1
grep -E "^==|heuristic" $OUT/persistent_ab.log
for p in scratch/base scratch/new; do
  echo "== $p"
  PYTHONPATH=$PWD timeout 100 python3 bench/ab.py $p bench.size_scan --widths 1088,1152,1280 --megabytes 16,32,64,128 2>&1 | grep -v Warn
done > $OUT/persistent_widths.log 2>&1
cat $OUT/persistent_widths.log | grep -v "^$" | head -60
PYTHONPATH=$PWD timeout 90 python3 -m bench.fwd_persistent --shapes 2x4096x1536,2x4096x2048,32x256x1024 --stages 5 \
  --per-sm 8 2>&1 | grep -v Warn > $OUT/fwd_persistent_3.log
cat $OUT/fwd_persistent_3.log
cd scratch/new && PYTHONPATH=$PWD timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests \
  > $OUT/pytest_cuda_persistent.log 2>&1; tail -3 $OUT/pytest_cuda_persistent.log
