# One device call on an H100 (carry [".whl"]): what h200-v25/session.sh measured on an H200 that the README's
# H100 figures need: l2_withheld.py after main's forward (NOTES v25 item 1), then bench.run's per-batch table
# at Z-Image and Flux with every peer and the L2 reset, and copy_at_size (v24 item 4).
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
grep -q H100 $OUT/env.txt || { echo "not an H100: the H200's run is h200-v25's"; exit 0; }
for s in z_image flux; do echo "== main: $s"; timeout 50 python3 bench/results/h100-v24/l2_withheld.py --shape $s; done \
  2>&1 | grep -v -i warn > $OUT/l2_withheld.log
cat $OUT/l2_withheld.log
timeout 240 python3 -m bench.run --out /tmp/per_batch --shapes z_image,flux 2>&1 | grep -v -i warn > $OUT/bench_per_batch.log
grep -E "^\| |bandwidth" $OUT/bench_per_batch.log | cut -c1-150
timeout 40 python3 -m bench.copy_at_size --shapes z_image,flux 2>&1 | grep -v -i warn > $OUT/copy_at_size.log
cat $OUT/copy_at_size.log
