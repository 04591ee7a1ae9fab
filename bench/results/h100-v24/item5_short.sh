# A short device call on the last ~270 s of this session's device time (carry ["scratch"], built by
# make_release_variant.py): item 5's probe on main's forward, then main / release forward times, then the probe
# on the release variant's forward, each step written out as it finishes. release_ab.sh is the full version.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env_item5.txt 2>&1
timeout 50 python3 bench/results/h100-v24/l2_withheld.py --shape z_image 2>&1 | grep --line-buffered -v -i warn \
  > $OUT/l2_withheld_main.log
for p in main release; do
  echo "== $p: bench.tune"
  timeout 35 python3 bench/ab.py scratch/$p bench.tune --what fwd --shapes flux,z_image 2>&1 | grep -E "heuristic:|rror"
done > $OUT/release_fwd.log 2>&1
PYTHONPATH=$PWD/scratch/release:$PWD timeout 50 python3 bench/results/h100-v24/l2_withheld.py --shape z_image 2>&1 \
  | grep --line-buffered -v -i warn > $OUT/l2_withheld_release.log
cat $OUT/env_item5.txt $OUT/l2_withheld_main.log $OUT/release_fwd.log $OUT/l2_withheld_release.log
