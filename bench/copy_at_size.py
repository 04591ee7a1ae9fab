"""What a plain copy of the forward's bytes reaches at each benchmark shape, timed like modnorm_op[graph].

    python -m bench.copy_at_size [--shapes dit_xl,flux]

The bandwidth floor (bench/run.py) comes from one large copy (2 GiB moved), which hides a kernel's fixed
costs: launch, the first wave's ramp-up, the last wave's tail. This times, per shape and in one process,
`y.copy_(x)` of x's N x D bf16 elements (the forward's bytes: read x, write y) and the forward of
modnorm_op (per-batch scale and shift), both captured in CUDA graphs (triton.testing.do_bench_cudagraph),
and prints each as a share of the large copy's bandwidth: the copy's share is what any kernel moving those
bytes at that size can expect. Needs a GPU.
"""
import argparse
import sys

import torch
import triton

import modnorm_op
from bench.run import GPU_SHAPES, copy_bandwidth, floor_bytes, make_inputs, rotation_count, time_fn


def graph_us(fn, reads=()):
    """bench.run.time_fn's CUDA-graph timing in us, `reads` reset to normal L2 priority first."""
    return time_fn(fn, "cuda", graph=True, reads=reads) * 1e6


def gpu_bandwidth(tool, note=""):
    """The large-copy bandwidth (bytes/s), after a line naming the GPU and versions (and `note`); None, said,
    without a CUDA GPU: the preamble of the GPU-only probes."""
    if not torch.cuda.is_available():
        print(f"bench.{tool} times GPU kernels: run it on a CUDA GPU.")
        return None
    bandwidth = copy_bandwidth("cuda")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}; "
          f"large-copy bandwidth {bandwidth / 1e9:.0f} GB/s (read + write){note}")
    return bandwidth


def rotated_inputs(shape):
    """bf16 per-batch inputs at shape, then x's copies and one output per copy, as bench.run rotates them:
    enough copies that they do not fit in L2 together, one destination each, as the op writes a new y."""
    x, weight, scale, shift = (t.detach() for t in make_inputs(shape, "per_batch", torch.bfloat16, "cuda"))
    copies = rotation_count((x, weight, scale, shift), x, "cuda")
    return (x, weight, scale, shift), [x.clone() for _ in range(copies)], [torch.empty_like(x) for _ in range(copies)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=",".join(GPU_SHAPES))
    args = p.parse_args(argv)
    bandwidth = gpu_bandwidth("copy_at_size")
    if bandwidth is None:
        return 0
    print("| shape (B, T, D) | floor us | copy us | copy share | modnorm_op fwd us | fwd share | fwd / copy |")
    print("|---|---|---|---|---|---|---|")
    for name in args.shapes.split(","):
        shape = GPU_SHAPES[name]
        (x, weight, scale, shift), xs, ys = rotated_inputs(shape)
        y = torch.empty_like(x)
        y_op = modnorm_op.modulated_rms_norm(x, weight, scale, shift)
        y.copy_(x)
        if not (torch.equal(y, x) and torch.isfinite(y_op).all()):
            raise SystemExit(f"{name}: copy or forward result wrong: stopping")
        floor_us = floor_bytes(x, weight, scale)["fwd"] / bandwidth * 1e6
        copies = len(xs)
        copy_us = graph_us(lambda: [yi.copy_(xi) for xi, yi in zip(xs, ys)], reads=xs) / copies
        fwd_us = graph_us(lambda: [modnorm_op.modulated_rms_norm(xi, weight, scale, shift) for xi in xs],
                          reads=xs) / copies
        copy_floor_us = 2 * x.numel() * x.element_size() / bandwidth * 1e6
        print(f"| {name} {shape} | {floor_us:.1f} | {copy_us:.1f} | {copy_floor_us / copy_us:.0%} | {fwd_us:.1f} | "
              f"{floor_us / fwd_us:.0%} | {fwd_us / copy_us:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
