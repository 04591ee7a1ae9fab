# One device call: is v21's gap between the probe's "full, in registers" (23.0 us at Z-Image) and keepx0
# (24.4, bench.tune) in the kernels or in the harnesses? bench.fwd_breakdown times the probe's levels and,
# in its last column, the package's own forward, in one process: keepx0, then main, at Z-Image (scratch
# packages from results/h100-v21/make_fwd_variants.py; carry ["scratch"]); then the cubins the GPU's triton
# compiled, for a SASS diff here. Cut to fit 349 device seconds (three failed starts this session since);
# PACKAGES=keepx0 runs the one package whose process times both kernels.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for p in ${PACKAGES:-keepx0 main}; do
  echo "== $p"
  TRITON_CACHE_DIR=/tmp/tc_$p timeout 70 python3 bench/ab.py scratch/$p bench.fwd_breakdown \
    --shapes z_image 2>&1 | grep -v -i warn
done > $OUT/probe_vs_keepx.log 2>&1
cat $OUT/probe_vs_keepx.log
mkdir -p $OUT/cubins
for p in main keepx0; do
  for f in $(find /tmp/tc_$p -name "*.cubin"); do cp $f $OUT/cubins/${p}_$(basename $(dirname $f))_$(basename $f); done
done
ls $OUT/cubins | wc -l
