"""Do x's lines, left protected (evict_last) in L2 by an earlier kernel, speed up a later kernel that reads x?

    python bench/results/h100-v24/l2_protected.py scratch/<package> [--shape z_image]

keepx0 (x kept in registers, read once unhinted) timed 22.9 us at Z-Image in bench.fwd_breakdown, after the
probe's levels that read x with evict_last, and 24.4 in bench.tune and 24.7 in bench.run, in fresh processes
(keepx_judge.sh); main timed 23.8-23.9 in all three. Hypothesis: lines of x marked evict_last by an earlier
kernel stay in the 50 MB L2 through later kernels' normal and evict_first traffic, so a kernel that reads x
unhinted finds part of it there. Test, one process, the package's forward and torch's copy of x, each timed
(CUDA graphs, inputs rotated as bench.fwd_breakdown does): fresh; after one kernel read every x copy with
evict_last; after another applied L2::evict_normal to every line of them (PTX applypriority). Prediction:
keepx0 about 24.4 -> 22.9 -> 24.4 us; main and the copy move less. (The evict_normal pass ran as its own kernel
here; it is now bench/l2.py's, the same instruction on the same lines.) With --levels, then bench.fwd_breakdown's
probe levels, each timed right after the evict_normal pass (the levels' own hints only).
"""
import argparse
import os
import sys

sys.path[:1] = [os.path.abspath(sys.argv[1]), os.getcwd()]  # the package under test, then this checkout

import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

import modnorm_op  # noqa: E402
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs  # noqa: E402
from bench.fwd_breakdown import FULL, STEPS, expected, probe  # noqa: E402
from bench.l2 import reset_l2_priority  # noqa: E402
from bench.run import GPU_SHAPES  # noqa: E402
from bench.tune import rel_err  # noqa: E402


@triton.jit
def read_evict_last_kernel(X, OUT, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(X + offs, mask=offs < n, other=0.0, eviction_policy="evict_last").to(tl.float32)
    tl.store(OUT + tl.program_id(0), tl.sum(x, 0))  # kept, so the loads are not dropped


def protect(xs):
    for x in xs:
        n, block = x.numel(), 4096
        out = torch.empty(triton.cdiv(n, block), device=x.device)
        read_evict_last_kernel[(triton.cdiv(n, block),)](x, out, n, BLOCK=block)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("package")
    p.add_argument("--shape", default="z_image")
    p.add_argument("--levels", action="store_true", help="then the probe's levels, each after the evict_normal pass")
    args = p.parse_args()
    print(f"modnorm_op from {os.path.dirname(modnorm_op.__file__)}")
    if gpu_bandwidth("l2_protected") is None:
        return 0
    shape = GPU_SHAPES[args.shape]
    (x, weight, scale, shift), xs, ys = rotated_inputs(shape)
    copies = len(xs)
    err = rel_err(modnorm_op.modulated_rms_norm(x, weight, scale, shift), expected(FULL, x, weight, scale, shift))
    if not err < 1e-2:
        raise SystemExit(f"forward wrong (relative error {err:.1e}): stopping")
    forward = lambda: [modnorm_op.modulated_rms_norm(xi, weight, scale, shift) for xi in xs]
    copy = lambda: [yi.copy_(xi) for xi, yi in zip(xs, ys)]
    print(f"{args.shape} {shape}, {copies} copies of x; us per call")
    print("| state | forward | torch copy |\n|---|---|---|")
    states = (("fresh", None), ("after evict_last reads", protect), ("after evict_normal", reset_l2_priority),
              ("after evict_last reads, again", protect), ("after evict_normal, again", reset_l2_priority))
    for state, prepare in states:
        if prepare:
            prepare(xs)
            torch.cuda.synchronize()
        print(f"| {state} | {graph_us(forward) / copies:.1f} | {graph_us(copy) / copies:.1f} |", flush=True)
    for label, level, reread, rows in STEPS if args.levels else ():
        err = rel_err(probe(level, reread, rows, x, weight, scale, shift, torch.empty_like(x)),
                      expected(level, x, weight, scale, shift))
        t = graph_us(lambda: [probe(level, reread, rows, xi, weight, scale, shift, yi) for xi, yi in zip(xs, ys)],
                     reads=xs)
        print(f"| probe {label}, after evict_normal | {t / copies:.1f} (err {err:.0e}) | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
