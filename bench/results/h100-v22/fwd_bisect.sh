# v21's fwd_bisect.sh with 8 of its 12 forward packages (the float32-rstd and main_nomask ones dropped:
# six failed machine starts had left 1169 device seconds). One device call. On the development machine first:
#   rm -rf scratch && python bench/results/h100-v21/make_fwd_variants.py   (the scratch packages below)
#   git apply bench/results/h100-v21/rstd_newton_unmeasured.diff          (for the GPU suite: its new test)
#   tests/test_kernel_compile.py under triton 3.6 (the GPU's), on the CPU
# then run this script with carry ["scratch"]. It runs the GPU suite on the working tree (the diff), then
# times the shipped forward moved toward bench/fwd_breakdown.py's probe one difference at a time (NOTES v21
# item 7): the forward alone (bench.tune) at the four short shapes, main first and last; then the backward
# alone for main and main_nr (the diff's rstd is on the backward's per-row path too).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda_rstd_newton.log 2>&1
tail -1 $OUT/pytest_cuda_rstd_newton.log
for p in main main_nr keepx0 keepx0_nr keepx0_nomask keepx0_linear keepx0_f32_nomask_linear main; do
  echo "== $p"
  timeout 40 python3 bench/ab.py scratch/$p bench.tune --what fwd --shapes dit_xl,flux,lumina2,z_image 2>&1 \
    | grep -E "heuristic:|WRONG|rror" | cut -c1-110
done > $OUT/fwd_bisect.log 2>&1
cat $OUT/fwd_bisect.log
for p in main main_nr main; do
  echo "== $p"
  timeout 60 python3 bench/ab.py scratch/$p bench.tune --what bwd 2>&1 | grep -E "default:|WRONG|rror" | cut -c1-110
done > $OUT/bwd_rstd_newton.log 2>&1
cat $OUT/bwd_rstd_newton.log
