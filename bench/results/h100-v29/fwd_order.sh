# NOTES v29: does B > 1's forward pay for modulation rows first read mid-kernel? (h100-v28/mod_rows.py:
# token-major 28.6 us against batch-major 29.7 at (2, 4096, 2304)). Variants of this checkout's forward, built
# on the development machine into scratch/ (carry them):
#   hint:  scale/shift loaded with evict_last (rows stay in L2 across calls);
#   inter: programs visit the B batches interleaved (program p -> block (p % B) * (blocks / B) + p // B);
#   both:  the two together.
# Kernels alone (bench.tune, CUDA-graph replay, rotated x), each result checked first; base, variants, twice.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for rep in 1 2; do
  for p in . scratch/hint scratch/inter scratch/both; do
    echo "== $p"
    timeout 60 python3 bench/ab.py $p bench.tune --what fwd --shapes dit_xl,flux,lumina2 2>&1 \
      | grep -E "heuristic:|WRONG|rror" | cut -c1-100
  done
done > $OUT/fwd_order.log 2>&1
cat $OUT/fwd_order.log
