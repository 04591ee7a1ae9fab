# The next device call (about 250 s after the start; 2 files under $OUT). First, on the development machine:
#   rm -rf scratch/base scratch/group_grid && mkdir -p scratch/base scratch/group_grid
#   git archive HEAD modnorm_op | tar -x -C scratch/base
#   git archive HEAD modnorm_op tests | tar -x -C scratch/group_grid
#   patch -p1 -d scratch/group_grid < bench/results/h100-v29/group_grid.patch    # (= branch grid2d)
# then run this with carry ["scratch/base", "scratch/group_grid"].
# NOTES v29 item 7: the forward with a (modulation rows, blocks) grid launched modulation-row-fastest
# (GROUP_GRID): every modulation row in use from the start, as in the token-major launch that took 0.8 us
# off Lumina2 (item 6); x and y still addressed as row * spacing, and the modulation row found from the
# program's group index (per-batch: no division left). Prediction: Lumina2 28.4-28.8 us (from 29.2-29.3),
# DiT-XL and Flux 0.2-0.5 us faster, Z-Image (B = 1, 1-D grid, identical SASS) unchanged.
# 1. Kernels alone (bench.tune, CUDA-graph replay, rotated x), base / group_grid, three times.
# 2. The CUDA suite of the patched tree (its own tests, with the new GROUP_GRID ones).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for rep in 1 2 3; do
  for p in scratch/base scratch/group_grid; do
    echo "== $p"
    timeout 60 python3 bench/ab.py $p bench.tune --what fwd --shapes dit_xl,flux,lumina2,z_image 2>&1 \
      | grep -E "heuristic:|WRONG|rror" | cut -c1-100
  done
done > $OUT/group_grid_ab.log 2>&1
cat $OUT/group_grid_ab.log
# from inside the tree: python -m puts the working directory first on sys.path
(cd scratch/group_grid && PYTHONPATH=$PWD:$(realpath ../..) timeout 200 python3 -m pytest -q -p no:cacheprovider \
  -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda_group_grid.log 2>&1)
tail -3 $OUT/pytest_cuda_group_grid.log
