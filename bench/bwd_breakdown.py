"""What the backward's partial sums cost: the whole backward against its parts.

    python -m bench.bwd_breakdown [--shapes dit_xl,lumina2]

Per shape (bf16, per-batch modulation, weight present), in one process, kernels alone under CUDA-graph replay
with rotated inputs (as bench.tune times them), each result checked against float64 before it is timed:
  whole         the backward as the op runs it: the main kernel, then the partial-sum kernel;
  main kernel   the same main kernel alone (dx checked; its partial rows are left unsummed);
  partial sums  the partial-sum kernel alone, on the partials a main-kernel run left (dweight, dscale and
                dshift checked); replayed back to back it reads them from DRAM, where right after the main
                kernel they are in L2, so it takes longer than it adds to the whole;
  dx only       the backward asked for dx alone: the main kernel with no partial rows at all and no
                partial-sum launch (dx checked).
whole - main kernel is what any scheme that sums the partials inside the main kernel could at most take
back; whole - dx only, what a backward with no partial rows at all could. Needs a GPU.
"""
import argparse
import sys

import torch

from bench.copy_at_size import gpu_bandwidth, graph_us
from bench.run import GPU_SHAPES, floor_bytes, make_inputs, rotation_count
from bench.tune import ALIGNED, recorded_launches, reference64, rel_err
from modnorm_op.kernels import backward as bwd_kernels
from modnorm_op.kernels import launch

ALL_GRADS, DX_ONLY = [True] * 4, [True, False, False, False]


def replay(launches, kernel):
    """Run the recorded launches of `kernel`, with their arguments (and output buffers) as recorded."""
    for k, grid, args, flags in launches:
        if k is kernel:
            launch._launcher(k, args[0])[grid](*args, **flags)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="dit_xl,flux,lumina2,z_image")
    args = p.parse_args(argv)
    bandwidth = gpu_bandwidth("bwd_breakdown", note="; us, and the share of the backward's floor")
    if bandwidth is None:
        return 0
    print("| shape | floor | whole | main kernel | partial sums | dx only | whole - main | whole - dx only |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.shapes.split(","):
        shape = GPU_SHAPES[name]
        x, w, s, sh = (t.detach() for t in make_inputs(shape, "per_batch", torch.bfloat16, "cuda"))
        dy = torch.randn_like(x)
        _, want = reference64(x, w, s, sh, dy)
        aligned = ALIGNED["per_batch"](*shape[:2])
        copies = rotation_count((x, w, s, sh), dy, "cuda")
        pairs = [(x, dy)] + [(x.clone(), dy.clone()) for _ in range(copies - 1)]

        def backward(i, needs):
            return launch.backward(pairs[i][1], pairs[i][0], w, s, sh.dtype, 1e-6, 0.0, "llama", aligned, needs)

        def check(label, got, wanted):
            err = max(rel_err(g, r) for g, r in zip(got, wanted))
            if not err < 1e-2:  # bf16 outputs' rounding: about 4e-3
                raise SystemExit(f"{name} {label}: wrong result (relative error {err:.1e}): stopping")

        check("whole", backward(0, ALL_GRADS), want)
        check("dx only", backward(0, DX_ONLY)[:1], want[:1])
        # each copy's launches recorded once, with their own output and partial buffers
        recorded, outputs = [], []
        for i in range(copies):
            got = []
            recorded.append(recorded_launches(lambda: got.extend(backward(i, ALL_GRADS))))
            outputs.append(got)
        for out in outputs[0]:  # memory freed by the checks above may hold right answers: start from NaN
            out.fill_(float("nan"))
        replay(recorded[0], bwd_kernels.modnorm_backward_kernel)
        check("main kernel", outputs[0][:1], want[:1])
        replay(recorded[0], bwd_kernels.sum_partials_kernel)
        check("partial sums", outputs[0][1:], want[1:])

        times = [graph_us(lambda: [backward(i, ALL_GRADS) for i in range(copies)]) / copies]
        for kernel in (bwd_kernels.modnorm_backward_kernel, bwd_kernels.sum_partials_kernel):
            times.append(graph_us(lambda: [replay(r, kernel) for r in recorded]) / copies)
        times.append(graph_us(lambda: [backward(i, DX_ONLY) for i in range(copies)]) / copies)
        floor_us = floor_bytes(x, w, s)["bwd"] / bandwidth * 1e6
        shares = [f" ({floor_us / t:.0%})" for t in times]
        shares[2] = ""  # the partial sums alone move a small part of the backward's floor bytes
        cells = " | ".join(f"{t:.1f}{share}" for t, share in zip(times, shares))
        print(f"| {name} {shape} | {floor_us:.1f} | {cells} | {times[0] - times[1]:.1f} | {times[0] - times[3]:.1f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
