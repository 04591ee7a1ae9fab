"""Two questions left by size_scan.log (bench/NOTES.md v27), in one device call, each result checked first:

1. Lumina2 (2, 4096, 2304) pays ~1.4 us more per call than the D = 2304 line of (1, N, 2304): is it B = 2,
   N = 8192, or the shape's bytes? The shipped forward and torch's copy at Lumina2's shape and neighbours,
   timed as bench.size_scan times them, each with us - bytes at 3061 GB/s (that line's stream).
2. torch's copy (a cudaMemcpy) streamed ~2450 GB/s at lengths that were multiples of 2 KB or less: one row
   apart, (1, 13888, 2304) (32 KB multiple) against (1, 13889, 2304) (512 B), and the same at D = 3840.
   Prediction: the odd-row copies ~20% slower for the same bytes; the forward unaffected.
"""
import torch

import modnorm_op
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.fwd_breakdown import FULL, expected
from bench.tune import rel_err

STREAM = 3061e9
if gpu_bandwidth("lumina_shape") is None:
    raise SystemExit(0)
for shape in [(2, 4096, 2304), (1, 8192, 2304), (4, 2048, 2304), (1, 8000, 2304), (1, 8448, 2304),
              (1, 13888, 2304), (1, 13889, 2304), (1, 4168, 3840), (1, 4167, 3840), (2, 4096, 2304)]:
    (x, w, s, sh), xs, ys = rotated_inputs(shape)
    err = rel_err(modnorm_op.modulated_rms_norm(x, w, s, sh), expected(FULL, x, w, s, sh))
    if not (err < 1e-2 and torch.equal(torch.empty_like(x).copy_(x), x)):
        raise SystemExit(f"{shape}: wrong result ({err:.1e})")
    moved = 2 * x.numel() * x.element_size()
    fwd = graph_us(lambda: [modnorm_op.modulated_rms_norm(xi, w, s, sh) for xi in xs], reads=[x, *xs]) / len(xs)
    cp = graph_us(lambda: [yi.copy_(xi) for xi, yi in zip(xs, ys)], reads=[x, *xs]) / len(xs)
    print(f"{shape}: {moved / 1e6:.1f} MB, copies {len(xs)}, forward {fwd:.1f} us (fixed "
          f"{fwd - moved / STREAM * 1e6:.1f}), copy {cp:.1f} us (fixed {cp - moved / STREAM * 1e6:.1f})", flush=True)
