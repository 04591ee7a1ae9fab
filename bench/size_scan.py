"""The forward's cost split in two: a fixed cost per call and a streaming bandwidth, against a copy's.

    python -m bench.size_scan [--widths 1152,2304,3072,3840] [--megabytes 16,32,64,128,256,512]

The benchmark's short shapes miss the forward's 90% target while Mochi and Wan-14B, the same kernel on
10x the bytes, reach 100% (README). This says how much of that is a cost each call pays once (its
launch inside the graph, the first wave's ramp, the last wave's tail) and how much is a slower stream.
Per width D, x is (1, N, D) bf16 with N chosen so that the forward's bytes (read x, write y) are about each of
--megabytes (x's bytes a multiple of COPY_ALIGN, below); per-batch scale and shift (one batch item, as
Z-Image), weight present. At each size it times torch's `y.copy_(x)`, bench/fwd_breakdown.py's probe at its
"norm" and "full" levels (the forward's tile without and with the weight, scale and shift) and the shipped
forward, inputs rotated and CUDA graphs as bench.copy_at_size does, each result checked before it is timed.
Then, per variant, the least-squares line time = fixed + bytes / stream over the sizes: `fixed` in us,
`stream` in GB/s, and the worst relative residual, which says whether a line describes the times at all. Needs
a GPU.
"""
import argparse
import math
import sys

import torch

import modnorm_op
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.fwd_breakdown import COPY, FULL, NORM, expected, probe
from bench.tune import rel_err

# torch's copy of contiguous tensors is a cudaMemcpy, which on an H100 (driver 580) streamed at about 2450 GB/s
# where the length was a multiple of at most 2 KB, and at the copy bandwidth where it was a multiple of 4 KB
# or more (bench/NOTES.md v27): the copy column is a reference only at lengths of this granularity.
COPY_ALIGN = 4096

# (label, forward of (x, weight, scale, shift, y) into y (the op returns a new y, as it always does), the level
# of fwd_breakdown.expected that checks it)
VARIANTS = [
    ("torch copy", lambda x, w, s, sh, y: y.copy_(x), COPY),
    ("probe norm", lambda x, w, s, sh, y: probe(NORM, True, 1, x, w, s, sh, y), NORM),
    ("probe full", lambda x, w, s, sh, y: probe(FULL, True, 1, x, w, s, sh, y), FULL),
    ("modnorm_op forward", lambda x, w, s, sh, y: modnorm_op.modulated_rms_norm(x, w, s, sh), FULL),
]


def fit_line(sizes, seconds):
    """Least-squares (fixed seconds, bytes per second, worst relative residual) of seconds = fixed +
    size / rate over the (bytes, seconds) pairs."""
    if len(set(sizes)) < 2:
        raise ValueError("fit_line: needs at least two different sizes (--megabytes, after rounding)")
    n = len(sizes)
    mean_b, mean_t = sum(sizes) / n, sum(seconds) / n
    slope = (sum((b - mean_b) * (t - mean_t) for b, t in zip(sizes, seconds))
             / sum((b - mean_b) ** 2 for b in sizes))
    fixed = mean_t - slope * mean_b
    worst = max(abs(fixed + slope * b - t) / t for b, t in zip(sizes, seconds))
    return fixed, 1 / slope, worst


def row_step(width):
    """The fewest rows of `width` bf16 columns that make a whole number of COPY_ALIGN blocks."""
    return COPY_ALIGN // math.gcd(COPY_ALIGN, 2 * width)


def rows_for(megabytes, width):
    """Rows of `width` bf16 columns whose forward moves about `megabytes` MB (x read, y written), a multiple
    of row_step(width)."""
    step = row_step(width)
    return step * max(1, round(megabytes * 1e6 / (4 * width * step)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="1152,2304,3072,3840")
    p.add_argument("--megabytes", default="16,32,64,128,256,512")
    args = p.parse_args(argv)
    bandwidth = gpu_bandwidth("size_scan", note="; us per call")
    if bandwidth is None:
        return 0
    sizes_mb = [float(m) for m in args.megabytes.split(",")]
    for width in (int(d) for d in args.widths.split(",")):
        print(f"\nD = {width}\n| N | MB | floor | " + " | ".join(v[0] for v in VARIANTS) + " |")
        print("|---|---|---|" + "---|" * len(VARIANTS))
        sizes, times = [], [[] for _ in VARIANTS]
        for megabytes in sizes_mb:
            shape = (1, rows_for(megabytes, width), width)
            (x, weight, scale, shift), xs, ys = rotated_inputs(shape)
            for label, fn, level in VARIANTS:
                err = rel_err(fn(x, weight, scale, shift, torch.empty_like(x)), expected(level, x, weight, scale, shift))
                if not err < 1e-2:  # a bf16 output's rounding: 2e-3 to 6e-3 (fwd_breakdown)
                    raise SystemExit(f"D={width} N={shape[1]} {label}: wrong result (relative error {err:.1e})")
            moved = 2 * x.numel() * x.element_size()
            sizes.append(moved)
            cells = []
            for (label, fn, _), col in zip(VARIANTS, times):
                col.append(graph_us(lambda: [fn(xi, weight, scale, shift, yi) for xi, yi in zip(xs, ys)],
                                    reads=xs) / len(xs) * 1e-6)
                cells.append(f"{col[-1] * 1e6:.1f} ({moved / bandwidth / col[-1]:.0%})")
            print(f"| {shape[1]} | {moved / 1e6:.0f} | {moved / bandwidth * 1e6:.1f} | " + " | ".join(cells) + " |",
                  flush=True)
        print("| fit: fixed us, stream GB/s, worst residual | | | " + " | ".join(
            "{:.2f} us, {:.0f} GB/s, {:.1%}".format(f * 1e6, r / 1e9, w)
            for f, r, w in (fit_line(sizes, col) for col in times)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
