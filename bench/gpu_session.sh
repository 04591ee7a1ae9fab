#!/usr/bin/env bash
# The one command for a lent GPU: environment, the GPU test suite, then the benchmark; results under $OUT.
#   bash bench/gpu_session.sh [MODE...]   MODE: tests bench more host block ab sweep all (default all = tests + bench)
#   Each mode fits one 10-minute call. Logs and results are written under $RES and packed into
#   $OUT/results.tar.gz (or $OUT/$PACK_NAME.tar.gz): one file, since the device tool brings back at most 8.
# tests: the CUDA tests (pytest -n 8); the >2^31-element ones excluded: run them alone (20-36 GiB of GPU memory each;
#        about 20 s for the three on an H100: bench/results/h100-v32/session2.sh).
# bench: per-batch bf16 at every shape with all peers, the same-size copy, the per-kernel profile.
# more:  per-token and global modulation (Flux, Mochi), float16 and float32 (Flux, Mochi, Wan-14B).
# host:  eager host time per call (bench.tune --what host): the public call through the op and with the eager fast
#        path, our launch function, a bare launch, the plain formula, Liger's fused op (with .whl).
# block: the compiled DiT block against Inductor's fusion of the plain formula (BLOCK_ARGS, default
#        --shapes dit_xl,flux; e.g. BLOCK_ARGS="--profile dit_xl" for the four short shapes and a profile).
# ab:    with AB=<dir> holding an older modnorm_op (bench/ab.py says how), its kernels and this checkout's
#        (or AB_NEW=<dir>'s) at every shape (heuristic tiles, CUDA-graph replay), old, new, old again;
#        AB_WHAT (default fwd,bwd) is bench.tune's --what, e.g. AB_WHAT=bwd,host for the backward kernels
#        and the eager host time. Two A/Bs in one call: run the script twice with PACK_NAME=<tag> on one, so
#        each packs its own $OUT/<tag>.tar.gz.
# sweep: a bench.tune sweep (SWEEP_ARGS, default the forward tile sweep with each load order) at SHAPES (default
#        dit_xl,flux), per modulation in MODULATIONS (default per_batch), every tile compiled first in
#        parallel processes (one per shape). E.g. SWEEP_ARGS="--what bwd --bwd-configs 4:512:2:3,2:512:2:5".
# Wheels in .whl/ (e.g. liger-kernel for the peers; carry .whl) are installed first.
set -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/modnorm_out}
RES=/tmp/modnorm_res
rm -rf "$RES"
mkdir -p "$RES"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
modes=" ${*:-all} "
wants() { [[ $modes == *" $1 "* ]] || { [[ $modes == *" all "* ]] && [[ $1 == tests || $1 == bench ]]; }; }
python3 -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" | tee "$RES/env.txt"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv | tee -a "$RES/env.txt"
status=0
quiet() { grep -v Warn; }
# packed after every mode, so a call stopped at its time limit still brings back what finished
pack() { mkdir -p "$OUT" && tar czf "$OUT/${PACK_NAME:-results}.tar.gz" -C "$RES" .; }
if wants tests; then
  python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests ${PYTEST_ARGS:-} > "$RES/pytest_cuda.log" 2>&1 || status=1
  tail -2 "$RES/pytest_cuda.log"
  pack
fi
if wants bench; then
  python3 -m bench.run --out "$RES/per_batch" 2>&1 | quiet | tee "$RES/bench_per_batch.log" | grep "graph\]\|bandwidth" || status=1
  python3 -m bench.copy_at_size 2>&1 | quiet | tee "$RES/copy_at_size.log" || status=1
  for s in "32 256 1152" "2 4096 2304" "1 4096 3840" "2 4608 3072"; do
    python3 -m bench.profile_kernels $s 2>&1 | quiet | head -16
  done > "$RES/profile.log" || status=1
  pack
fi
if wants host; then
  python3 -m bench.tune --what host 2>&1 | quiet | tee "$RES/host.log" | head -20 || status=1
  pack
fi
if wants more; then
  python3 -m bench.run --out "$RES/per_token_global" --shapes flux,mochi --modulation per_token,global 2>&1 | quiet \
    | grep "graph\]\|bandwidth" || status=1
  python3 -m bench.run --out "$RES/fp16_fp32" --shapes flux,mochi,wan_14b --dtype float16,float32 2>&1 | quiet \
    | grep "graph\]\|bandwidth" || status=1
  pack
fi
if wants block; then
  python3 -m bench.compile_block --out "$RES/compile_block" ${BLOCK_ARGS:---shapes dit_xl,flux} 2>&1 | quiet \
    | tee "$RES/compile_block.log" | tail -8 || status=1
  pack
fi
if wants ab; then
  for run in old new old_again; do
    pkg=$AB; [ $run = new ] && pkg=${AB_NEW:-.}
    python3 bench/ab.py "$pkg" bench.tune --what "${AB_WHAT:-fwd,bwd}" 2>&1 | quiet | tee "$RES/ab_$run.log" | tail -12 \
      || status=1
  done
  pack
fi
if wants sweep; then
  # compile every configuration first, one process per shape (Triton's disk cache is shared), then time them
  # in one process. SWEEP_ARGS picks the sweep (default the forward tile sweep with each load order);
  # MODULATIONS runs it once per modulation layout (a log each).
  SHAPES=${SHAPES:-dit_xl,flux}
  SWEEP_ARGS=${SWEEP_ARGS:---what fwd --fwd-sweep}
  for mod in ${MODULATIONS:-per_batch}; do
    for shape in ${SHAPES//,/ }; do
      python3 -m bench.tune $SWEEP_ARGS --modulation $mod --compile-only --shapes "$shape" > "/tmp/compile_$shape.log" 2>&1 &
    done
    wait
    grep -h "WRONG\|Error" /tmp/compile_*.log
    python3 -m bench.tune $SWEEP_ARGS --modulation $mod --rep 50 --shapes "$SHAPES" 2>&1 | quiet \
      > "$RES/sweep_$mod.log" || status=1
    tail -$(( $(tr -cd , <<< "$SHAPES" | wc -c) + 1 )) "$RES/sweep_$mod.log"
  done
  pack
fi
exit $status
