# One device call: the GPU suite on branch dw-after-ds, then its backward against main's (scratch/main,
# from `git archive main modnorm_op`), main / branch / main again, and the per-kernel profile of both.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
S=dit_xl,flux,lumina2,z_image,mochi,wan_14b
t() { timeout 150 python3 bench/ab.py "$@" 2>&1 | grep -E "bwd |fwd |WRONG|rror|bandwidth" | cut -c1-120; }
{ python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; } > $OUT/env.txt
timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 -k "cuda and not 2_31" tests > $OUT/pytest_cuda_dw_after_ds_branch.log 2>&1
tail -1 $OUT/pytest_cuda_dw_after_ds_branch.log
{
echo "== main"; t scratch/main bench.tune --what bwd --shapes $S
echo "== dw-after-ds"; t . bench.tune --what bwd --shapes $S
echo "== main again"; t scratch/main bench.tune --what bwd --shapes $S
} > $OUT/dw_after_ds_ab_rejected.log 2>&1
cat $OUT/dw_after_ds_ab_rejected.log
for p in scratch/main .; do for s in "32 256 1152" "2 4096 2304" "1 4096 3840"; do echo "== $p $s"; timeout 60 python3 bench/ab.py $p bench.profile_kernels $s 2>&1 | grep -E "shape|_kernel" | cut -c1-150; done; done > $OUT/dw_after_ds_profile_rejected.log 2>&1
cat $OUT/dw_after_ds_profile_rejected.log | cut -c1-60,100-150
