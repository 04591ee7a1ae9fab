# One device call (carry ["scratch"], as keepx_judge.sh): l2_protected.py for keepx0 and main at Z-Image, then
# keepx0 at Flux (the probe's "in registers" gain there was 2.6 us, v21 item 5); at Z-Image also the probe's levels,
# each after the evict_normal pass.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env_l2.txt 2>&1
for run in "keepx0 z_image --levels" "main z_image" "keepx0 flux" "main flux"; do
  set -- $run
  echo "== $1 $2"
  timeout 90 python3 bench/results/h100-v24/l2_protected.py scratch/$1 --shape $2 $3 2>&1 | grep -v -i warn
done > $OUT/l2_protected.log 2>&1
cat $OUT/env_l2.txt $OUT/l2_protected.log
