# One device call, carry [".whl", "scratch"] (scratch built by `rm -rf scratch && python
# bench/results/h100-v24/make_release_variant.py`), about 450 s after the start:
# 1. table_with_reset.sh (the table's peers with the L2 reset; l2_withheld.py on main's forward, item 5);
# 2. the release variant (make_release_variant.py): its forward against main's (bench.tune, main / release /
#    main), l2_withheld.py after its forward, and bench.run's forward+backward of the op alone.
bash bench/results/h100-v24/table_with_reset.sh
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for p in main release main; do
  echo "== $p: bench.tune"
  timeout 60 python3 bench/ab.py scratch/$p bench.tune --what fwd --shapes dit_xl,flux,lumina2,z_image 2>&1 \
    | grep -E "heuristic:|WRONG|rror"
done > $OUT/release_ab.log 2>&1
echo "== release: l2_withheld, z_image" >> $OUT/release_ab.log
PYTHONPATH=$PWD/scratch/release:$PWD timeout 60 python3 bench/results/h100-v24/l2_withheld.py --shape z_image 2>&1 \
  | grep -v -i warn >> $OUT/release_ab.log
for p in main release main; do
  echo "== $p: bench.run"
  timeout 60 python3 bench/ab.py scratch/$p bench.run --out /tmp/r --variants "modnorm_op[graph]" \
    --shapes z_image,flux 2>&1 | grep -E "graph\]  fwd|rror"
done >> $OUT/release_ab.log 2>&1
cat $OUT/release_ab.log
