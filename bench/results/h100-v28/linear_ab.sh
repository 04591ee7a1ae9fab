# One device call: the GPU suite on the working tree (LINEAR_ROWS: x, y, dy, dx addressed as row * spacing,
# no division on their loads' path), then main before it (scratch/base, `git archive` of modnorm_op) / the
# working tree / main again: bench.tune's kernels alone, forward and backward, at the four short shapes.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env.txt
cat $OUT/env.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda.log 2>&1
tail -1 $OUT/pytest_cuda.log
for p in scratch/base . scratch/base; do
  echo "== $p"
  timeout 110 python3 bench/ab.py $p bench.tune --what fwd,bwd --shapes dit_xl,flux,lumina2,z_image 2>&1 \
    | grep -E "heuristic:|bandwidth|WRONG|rror" | cut -c1-120
done > $OUT/linear_ab.log 2>&1
cat $OUT/linear_ab.log
