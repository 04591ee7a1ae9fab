# The committed LINEAR_ROWS (one-dim plans left as before): the GPU suite, then base / new / base / new of
# bench.tune's kernels alone at Lumina2 (B = 2, LINEAR_ROWS) and Z-Image (B = 1, unchanged code).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/final_check.log
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda_final.log 2>&1
tail -1 $OUT/pytest_cuda_final.log | tee -a $OUT/final_check.log
for p in scratch/base . scratch/base .; do
  echo "== $p"
  timeout 60 python3 bench/ab.py $p bench.tune --what fwd,bwd --shapes lumina2,z_image 2>&1 \
    | grep -E "heuristic:|default:|WRONG|rror" | cut -c1-120
done >> $OUT/final_check.log 2>&1
cat $OUT/final_check.log
