"""How much L2 do the lines our forward leaves protected withhold from the kernels after it? (NOTES v24 item 5)

    python bench/results/h100-v24/l2_withheld.py [--shape z_image] [--sizes-mb 8,16,24,32,40,48]

l2_protected.py showed lines read with evict_last outliving many later kernels' normal traffic, and our
forward leaving behind as many as a full evict_last pass over x. Here an unrelated float32 buffer B of each
size is summed over and over (CUDA graph replays of B.sum(): from the second read on, what fits of B comes
from L2), in three states: fresh; right after our forward ran over the x copies (as bench.run rotates them);
after bench/l2.py reset those lines to normal priority. Per size, us per sum and GB/s (B's bytes / time).
Prediction: fresh and reset alike; after the forward, sizes near the L2's capacity slower by the MB withheld
(if about 4-8 MB, as torch's copy of x after our forward suggests, 40 MB slower, 24 MB not).
"""
import argparse
import sys

import torch

import modnorm_op
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.l2 import reset_l2_priority
from bench.run import GPU_SHAPES


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="z_image")
    p.add_argument("--sizes-mb", default="8,16,24,32,40,48")
    args = p.parse_args()
    if gpu_bandwidth("l2_withheld") is None:
        return 0
    shape = GPU_SHAPES[args.shape]
    (x, weight, scale, shift), xs, _ = rotated_inputs(shape)
    copies = len(xs)
    buffers = {mb: torch.randn(mb * 2**20 // 4, device="cuda") for mb in map(int, args.sizes_mb.split(","))}
    for mb, b in buffers.items():  # the sum is what is timed: check it first
        if not torch.allclose(b.sum(), b.double().sum().float(), rtol=1e-3, atol=1.0):
            raise SystemExit(f"{mb} MB: sum wrong: stopping")

    def forward_over_copies():
        for _ in range(3):
            for xi in xs:
                modnorm_op.modulated_rms_norm(xi, weight, scale, shift)
        torch.cuda.synchronize()

    states = (("fresh", lambda: None), ("after our forward", forward_over_copies),
              ("after reset_l2_priority(xs)", lambda: reset_l2_priority(xs)))
    print(f"{args.shape} {shape}, {copies} copies of x; B.sum() replayed, us (GB/s of B)")
    print("| B MB | " + " | ".join(s for s, _ in states) + " |\n|---|" + "---|" * len(states))
    for mb, b in buffers.items():
        cells = []
        for _, prepare in states:
            prepare()
            t = graph_us(lambda: b.sum())  # no reads= here: the state under test is the L2's
            cells.append(f"{t:.1f} ({b.numel() * 4 / t / 1e3:.0f})")
        print(f"| {mb} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
