"""Per-kernel GPU time of one modnorm_op forward + backward (torch.profiler), and host time per call.

    python -m bench.profile_kernels [B T D]      (default: Flux, (2, 4608, 3072), bf16, per-batch)
"""
import sys
import time

import torch

import modnorm_op
from bench.run import make_inputs


def main(argv):
    shape = tuple(int(a) for a in argv) if argv else (2, 4608, 3072)
    x, w, s, sh = make_inputs(shape, "per_batch", torch.bfloat16, "cuda")
    dy = torch.randn_like(x)
    step = lambda: modnorm_op.modulated_rms_norm(x, w, s, sh).backward(dy)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            step()
        torch.cuda.synchronize()
    print(f"shape {shape}: GPU time per kernel, 10 forward+backward steps")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12))
    with torch.no_grad():
        for _ in range(3):
            modnorm_op.modulated_rms_norm(x, w, s, sh)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(200):
            modnorm_op.modulated_rms_norm(x[:1, :8], w, s[:1], sh[:1])
        torch.cuda.synchronize()
    print(f"host time per eager forward call (tiny input): {(time.perf_counter() - start) / 200 * 1e6:.1f} us")


if __name__ == "__main__":
    main(sys.argv[1:])
