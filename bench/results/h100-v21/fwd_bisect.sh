# One device call: the shipped forward moved toward the probe one difference at a time (scratch packages from
# bench/results/h100-v21/make_fwd_variants.py, run on the development machine first; carry them all).
# The forward alone (bench.tune) at the four short shapes, main first and last.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for p in main main_f32 main_nr main_nomask keepx0 keepx0_f32 keepx0_nr keepx0_nomask keepx0_linear \
    keepx0_f32_nomask keepx0_f32_nomask_linear main; do
  echo "== $p"
  timeout 40 python3 bench/ab.py scratch/$p bench.tune --what fwd --shapes dit_xl,flux,lumina2,z_image 2>&1 \
    | grep -E "heuristic:|WRONG|rror" | cut -c1-110
done > $OUT/fwd_bisect.log 2>&1
cat $OUT/fwd_bisect.log
