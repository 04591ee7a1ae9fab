# One device call (carry [".whl", "scratch"]; scratch from `rm -rf scratch && python
# bench/results/h100-v24/make_release_variant.py`), v24's prepared work in order of worth, each step under its
# own timeout so a call stopped at its limit still brings back what finished (at most 7 files under $OUT):
# 1. l2_withheld.py after main's forward, then after the release variant's (NOTES v24 items 5-6);
# 2. the release variant's forward against main's (bench.tune, main / release / main), then bench.run's
#    forward and forward+backward of the op alone (main / release / main);
# 3. the GPU test suite (bench/l2.py's CUDA test is new since the last suite run);
# 4. table_with_reset.sh's bench.run at Z-Image and Flux with every peer, then copy_at_size (v24 item 4).
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
W=bench/results/h100-v24/l2_withheld.py
{ for s in z_image flux; do echo "== main: $s"; timeout 50 python3 $W --shape $s; done
  echo "== release: z_image"
  PYTHONPATH=$PWD/scratch/release:$PYTHONPATH timeout 50 python3 $W --shape z_image; } 2>&1 | grep -v -i warn > $OUT/l2_withheld.log
cat $OUT/l2_withheld.log
for p in main release main; do
  echo "== $p: bench.tune"
  timeout 60 python3 bench/ab.py scratch/$p bench.tune --what fwd --shapes dit_xl,flux,lumina2,z_image 2>&1 \
    | grep -E "heuristic:|WRONG|rror"
done > $OUT/release_ab.log 2>&1
for p in main release main; do
  echo "== $p: bench.run"
  timeout 60 python3 bench/ab.py scratch/$p bench.run --out /tmp/r --variants "modnorm_op[graph]" \
    --shapes z_image,flux 2>&1 | grep -E "graph\]  fwd|rror"
done >> $OUT/release_ab.log 2>&1
cat $OUT/release_ab.log
timeout 150 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda.log 2>&1
tail -3 $OUT/pytest_cuda.log
timeout 200 python3 -m bench.run --out /tmp/per_batch --shapes z_image,flux 2>&1 | grep -v -i warn > $OUT/bench_per_batch.log
grep -E "^\| |bandwidth" $OUT/bench_per_batch.log | cut -c1-150
timeout 40 python3 -m bench.copy_at_size --shapes z_image,flux 2>&1 | grep -v -i warn > $OUT/copy_at_size.log
cat $OUT/copy_at_size.log
