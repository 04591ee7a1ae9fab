"""Compile every forward variant the GPU would build, for sm_90, with this machine's Triton (no GPU)."""
import itertools, torch
from bench import inspect_kernels as ik
from bench.run import make_inputs
from modnorm_op.kernels import launch
ok = 0
for dtype, d, mod, mode in itertools.product((torch.bfloat16, torch.float16, torch.float32, torch.float64),
                                              (64, 1152, 3072, 12288), ("per_batch", "per_token"), ("llama", "none")):
    x, w, s, sh = make_inputs((2, 8, d), mod, dtype, "cpu")
    aligned = (2, 1) if mod == "per_batch" else (2, 8)
    with ik.cuda_plans():
        launch.forward(x, w, s, sh, 1e-6, 0.0, mode, aligned)
    ok += 1
print("compiled", ok)
