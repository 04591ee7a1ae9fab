# One device call: the GPU suite on the working tree (the forward's chunk held in registers no longer
# hinted evict_last; launch.py's partial-row flags folded into the plan), then main (scratch/main, from
# `git archive main modnorm_op`) / the working tree / main again: the forward alone (bench.tune) and the
# forward followed by a reader of y (bench.consumer_l2), and bench.run's forward+backward of the op alone.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env.txt
cat $OUT/env.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda.log 2>&1
tail -1 $OUT/pytest_cuda.log
for p in scratch/main . scratch/main; do
  echo "== $p"
  timeout 100 python3 bench/ab.py $p bench.tune --what fwd 2>&1 | grep -E "heuristic:|WRONG|rror" | cut -c1-110
  timeout 120 python3 bench/ab.py $p bench.consumer_l2 2>&1 | grep -E "forward|WRONG|rror" | cut -c1-120
  timeout 100 python3 bench/ab.py $p bench.run --out /tmp/r --variants "modnorm_op[graph]" \
    --shapes dit_xl,flux,lumina2,z_image 2>&1 | grep -E "graph|rror" | cut -c1-120
done > $OUT/fwd_chunk0_ab.log 2>&1
cat $OUT/fwd_chunk0_ab.log
