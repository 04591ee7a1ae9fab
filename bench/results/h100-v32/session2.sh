# v32 second device call (about 120 s), no carry: the >2^31-element tests (last run on v4's kernels), now with
# a per-batch case (16, 32769, 4096) that takes the forward's GROUP_GRID and the kernels' LINEAR_ROWS paths,
# which no test had run past 2^31 elements; and the small-tensor checks of the same checker on CUDA.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" > $OUT/pytest_2_31.log
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> $OUT/pytest_2_31.log
timeout 500 python3 -m pytest -v -p no:cacheprovider tests/test_extremes.py -k "2_31 or (all_rows and cuda)" 2>&1 \
  | grep -v Warn >> $OUT/pytest_2_31.log; echo "rc $?"
tail -8 $OUT/pytest_2_31.log
