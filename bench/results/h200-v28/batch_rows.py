"""Where the forward's extra ~1.7 us at B = 2 comes from (lumina_shape.log, NOTES v28): the shipped kernel
launched directly on x of (2, 4096, 2304) with three sets of integer arguments, each result checked first:

- "B=2 plan": as launch.py plans it (row -> batch by a division, two scale/shift rows);
- "B=2 plan, one mod row": the same division, scale/shift strides zeroed (every row reads batch 0's);
- "B=1 plan, one mod row": the plan of (1, 8192, 2304), no division, batch 0's scale/shift for every row.

If the division (and the x address waiting on it) is the cost, the second takes the first's time; if the
second scale/shift row is, it takes the third's. Ran on an H100 with LINEAR_ROWS (x's address no longer
waits on the division): h100-v28/batch_rows.log.
"""
import torch

from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.fwd_breakdown import FULL, expected
from bench.tune import rel_err
from modnorm_op.kernels import launch
from modnorm_op.kernels.forward import modnorm_forward_kernel
from modnorm_op import heuristics
from modnorm_op.broadcast import aligned_modulation_shape

SHAPE, EPS = (2, 4096, 2304), 1e-6
if gpu_bandwidth("batch_rows") is None:
    raise SystemExit(0)
(x, w, s, sh), xs, ys = rotated_inputs(SHAPE)
moved = 2 * x.numel() * x.element_size()


def plan(b):
    xv, sv = x.view(b, -1, SHAPE[-1]), s[:b]
    return launch._forward_plan(tuple(xv.shape), xv.stride(), tuple(sv.shape), sv.stride(), sv.stride(), w.stride(0),
                                tuple(aligned_modulation_shape(xv.shape, sv.shape)), "llama", 2,
                                heuristics.MAX_BLOCK_D)


def zero_mod(scalars):
    out = list(scalars)
    for i in (13, 14, 15, 16, 18, 19, 20, 21):  # scale's and shift's lead strides
        out[i] = 0
    return tuple(out)


(grid2, sc2, fl2), (grid1, sc1, fl1) = plan(2), plan(1)
variants = {"B=2 plan": (grid2, sc2, fl2, s, sh), "B=2 plan, one mod row": (grid2, zero_mod(sc2), fl2, s[:1], sh[:1]),
            "B=1 plan, one mod row": (grid1, sc1, fl1, s[:1], sh[:1])}
print(f"{SHAPE}: {moved / 1e6:.1f} MB, {len(xs)} copies; B=2 scalars {sc2}; B=1 scalars {sc1}")
for rep in range(2):
    for name, (grid, scalars, flags, sv, shv) in variants.items():
        y = torch.empty_like(x)
        modnorm_forward_kernel[grid](x, y, w, s, sh, *scalars, EPS, 0.0, **flags)
        err = rel_err(y, expected(FULL, x, w, sv, shv, EPS))
        if not err < 1e-2:
            raise SystemExit(f"{name}: wrong result ({err:.1e})")
        us = graph_us(lambda: [modnorm_forward_kernel[grid](xi, yi, w, s, sh, *scalars, EPS, 0.0, **flags)
                               for xi, yi in zip(xs, ys)], reads=[x, *xs]) / len(xs)
        print(f"{name}: {us:.2f} us (err {err:.1e})", flush=True)
