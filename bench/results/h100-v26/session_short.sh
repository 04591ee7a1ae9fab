# session.sh cut to fit a short device budget (about 250 s after the start; 3 files under $OUT): the
# load-ahead tiles first (the one step that could change a shipped kernel), then the size scan at the two
# widths that miss the target (Lumina2's 2304, Z-Image's 3840).
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > $OUT/env.txt 2>&1
cat $OUT/env.txt
{ timeout 90 python3 -m bench.tune --what fwd --shapes lumina2 --fwd-configs 1:512:4:1,1:512:4:2,1:512:2:2,1:1024:2:1,1:512:2:1
  timeout 90 python3 -m bench.tune --what fwd --shapes z_image --fwd-configs 1:1024:4:2,1:1024:8:1,1:1024:8:2,1:1024:4:1
} 2>&1 | grep -v -i warn > $OUT/fwd_configs.log
cat $OUT/fwd_configs.log
timeout 150 python3 -m bench.size_scan --widths 2304,3840 2>&1 | grep -v -i warn > $OUT/size_scan.log
cat $OUT/size_scan.log
