# One device call (carry [".whl"]): bench.run's per-batch bf16 table at Z-Image and Flux with every peer, now
# that each timing starts with its inputs' L2 lines at normal priority (bench/l2.py); then copy_at_size.
# Question: were the v19 table's peers, timed after our forward left lines of x protected, timed fast? Then
# l2_withheld.py (NOTES v24 item 5) at Z-Image and Flux.
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
timeout 240 python3 -m bench.run --out $OUT/per_batch --shapes z_image,flux 2>&1 | grep --line-buffered -v -i warn \
  > $OUT/bench_per_batch.log
grep -E "^\| |bandwidth" $OUT/bench_per_batch.log | cut -c1-150
timeout 40 python3 -m bench.copy_at_size --shapes z_image,flux 2>&1 | grep -v -i warn > $OUT/copy_at_size.log
cat $OUT/copy_at_size.log
# item 5: what L2 our forward's protected lines withhold from the kernels after it
for s in z_image flux; do
  timeout 60 python3 bench/results/h100-v24/l2_withheld.py --shape $s 2>&1 | grep -v -i warn
done > $OUT/l2_withheld.log 2>&1
cat $OUT/l2_withheld.log
