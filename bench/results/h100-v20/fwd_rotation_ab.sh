# One device call: does the forward's gain from its evict_last on chunk 0 (held in registers, never
# re-read) come from the rotation? Main (scratch/main), the working tree (chunk 0 unhinted), no hints
# (scratch/nohints, from `git archive f4c4a82~1 modnorm_op`) and main again, each timed with
# bench.run.rotation_count's input copies and with at least 24 (more protected chunk-0 lines than L2 holds).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=dit_xl,flux,lumina2,z_image
for c in 1 24; do
  for p in scratch/main . scratch/nohints scratch/main; do
    echo "== $p, at least $c copies"
    timeout 100 python3 bench/ab.py $p bench.tune --what fwd --shapes $S --min-copies $c 2>&1 \
      | grep -E "heuristic:|WRONG|rror" | cut -c1-110
  done
done > $OUT/fwd_rotation_ab.log 2>&1
cat $OUT/fwd_rotation_ab.log
