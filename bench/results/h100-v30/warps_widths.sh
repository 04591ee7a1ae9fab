# NOTES v30 item 4: the forward's warps rule (c0cf61d) at widths it changes that the benchmark has no shape
# for: 1088 (1 -> 2 warps), 2240 (Sana) and 2432 (SD3.5-large) (2 -> 4), 4608 (4 -> 8); x (1, N, D) at about
# 32, 64 and 128 MB (bench.size_scan; its forward column). Prepare: scratch/base = fbaab22's modnorm_op,
# scratch/new = HEAD's (git archive); carry ["scratch/base", "scratch/new"]. Two rounds, about 200 s.
# Prediction, from DiT-XL and Lumina2 (0.1-0.3 us faster at 16-28 us): the new tiles 0-2% faster.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for rep in 1 2; do
  for p in scratch/base scratch/new; do
    echo "== $p"
    timeout 120 python3 bench/ab.py $p bench.size_scan --widths 1088,2240,2432,4608 --megabytes 32,64,128 2>&1 \
      | grep -v Warn
  done
done > $OUT/warps_widths.log 2>&1
grep -E "^==|^D =|^\| [0-9]" $OUT/warps_widths.log | awk -F"|" "/^[=D]/ {print; next} {print \$2, \$3, \$8}"
