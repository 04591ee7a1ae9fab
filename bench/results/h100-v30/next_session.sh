# The next device call (about 250 s after the start; 2 files under $OUT). First, on the development machine:
#   rm -rf scratch/base scratch/new && mkdir -p scratch/base scratch/new
#   git archive fbaab22 modnorm_op | tar -x -C scratch/base    # the forward's warps rule before c0cf61d
#   git archive c0cf61d modnorm_op | tar -x -C scratch/new     # and with it
# then run this with carry ["scratch/base", "scratch/new"].
# 1. NOTES v30 item 6: does the weight, scale and shift's cost per call (1.5-1.8 us, v26-v27) come from many
#    programs asking L2 for the same lines at once? bench.fwd_breakdown's new "full, 8 / 64 mod copies"
#    levels spread those loads over 8 or 64 copies (program p reads copy p % copies; sm_90 PTX otherwise as
#    "full"). Prediction if that is the cost: 64 copies at least 0.5 us under "full" at Lumina2 and
#    Z-Image, toward "norm * weight"; if not, within 0.2 us of "full" (v21's "2 rows", which halved the
#    loads, gained nothing: the expected outcome).
# 2. NOTES v30 item 5's second round: the warps rule at 2240, 2432, 4608, base / new, at 64 and 128 MB,
#    where one round had 4608 0.2-0.3 us slower.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
timeout 200 python3 -m bench.fwd_breakdown --shapes dit_xl,flux,lumina2,z_image 2>&1 | grep -v Warn \
  > $OUT/fwd_breakdown_copies.log
cat $OUT/fwd_breakdown_copies.log
for p in scratch/base scratch/new scratch/base scratch/new; do
  echo "== $p"
  timeout 60 python3 bench/ab.py $p bench.size_scan --widths 2240,2432,4608 --megabytes 64,128 2>&1 | grep -v Warn
done > $OUT/warps_widths_2.log 2>&1
grep -E "^==|^D =|^\| [0-9]" $OUT/warps_widths_2.log | awk -F"|" "/^[=D]/ {print; next} {print \$2, \$3, \$8}"
