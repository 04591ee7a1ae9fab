"""What a per-batch forward pays for its modulation rows (NOTES v28 item 6: at (2, 4096, 2304) a second
scale/shift row cost 0.7 us against one row read by every program). One process, the same 8192 rows of
x (D = 2304) viewed as (B, 8192 / B, D), each result checked against float64 first, kernels alone under
CUDA-graph replay with rotated x (as bench.size_scan times them):

- B = 1, and B = 2 with both rows' programs reading batch 0's rows (the plan's division kept; a direct
  launch with scale/shift strides zeroed): the one-row cost;
- B = 2 with the rows 4608 B apart (contiguous, as shipped) and 128 B apart (overlapping views: the second
  row adds one 128-byte line): does the cost follow the new lines the second row brings?
- B = 4, 8, 16, 32, rows contiguous: does it grow per row (a cold start for each batch's rows, read from
  DRAM mid-kernel by every SM at once), or is it a step from one row to several?
- B = 2 launched directly with rows found through coordinates (no LINEAR_ROWS), visited batch-major (as
  shipped: batch 1's rows first read half-way through) or token-major (the batches interleaved, both rows
  in use from the start): if the second row's cost is a cold start mid-kernel, token-major does not pay it.
"""
import torch

import modnorm_op
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.fwd_breakdown import FULL, expected
from bench.tune import rel_err
from modnorm_op import heuristics
from modnorm_op.broadcast import aligned_modulation_shape
from modnorm_op.kernels import launch
from modnorm_op.kernels.forward import modnorm_forward_kernel

ROWS, D, EPS = 8192, 2304, 1e-6
if gpu_bandwidth("mod_rows") is None:
    raise SystemExit(0)
(x, w, _, _), xs, ys = rotated_inputs((1, ROWS, D))
g = torch.Generator(device="cpu").manual_seed(1)
base = torch.randn(2, 32 * D + 64, generator=g).to(x.device, torch.bfloat16)  # scale's, shift's storage
moved = 2 * x.numel() * x.element_size()


def rows_view(b, row_stride):
    """(scale, shift) of shape (b, 1, D), row i at i * row_stride elements of its storage."""
    return tuple(base[i].as_strided((b, 1, D), (row_stride, D, 1)) for i in range(2))


def timed(name, b, scale, shift, launch_fn, reference_scale=None, reference_shift=None):
    xv = x.view(b, -1, D)
    y = launch_fn(xv, torch.empty_like(xv))
    err = rel_err(y, expected(FULL, xv, w, scale if reference_scale is None else reference_scale,
                              shift if reference_shift is None else reference_shift, EPS))
    if not err < 1e-2:
        raise SystemExit(f"{name}: wrong result ({err:.1e})")
    us = graph_us(lambda: [launch_fn(xi.view(b, -1, D), yi.view(b, -1, D)) for xi, yi in zip(xs, ys)],
                  reads=[x, *xs]) / len(xs)
    print(f"{name:44s} {us:6.2f} us  (err {err:.1e})", flush=True)


def public(scale, shift):
    return lambda xv, yv: modnorm_op.modulated_rms_norm(xv, w, scale, shift)


def shipped_plan(b, scale, shift):
    """(grid, integer arguments, flags) launch.py plans for x viewed as (b, ROWS / b, D) with this scale, shift."""
    xv = x.view(b, -1, D)
    return launch._forward_plan(
        tuple(xv.shape), xv.stride(), tuple(scale.shape), scale.stride(), shift.stride(), w.stride(0),
        tuple(aligned_modulation_shape(xv.shape, scale.shape)), "llama", 2, heuristics.MAX_BLOCK_D)


def direct(grid, scalars, flags, scale, shift):
    """The forward kernel launched as given: (x view, y view) -> y."""
    def run(xv, yv):
        modnorm_forward_kernel[grid](xv, yv, w, scale, shift, *scalars, EPS, 0.0, **flags)
        return yv
    return run


def one_row_kept_division(b):
    """The B = b plan's launch with scale/shift lead strides zeroed: every row reads row 0, the division stays."""
    scale, shift = rows_view(b, D)
    grid, scalars, flags = shipped_plan(b, scale, shift)
    scalars = tuple(0 if i in (13, 14, 15, 16, 18, 19, 20, 21) else v for i, v in enumerate(scalars))
    return scale, shift, direct(grid, scalars, flags, scale, shift)


def visit_order(token_major):
    """B = 2 with explicit scalars: the index space (2, T) batch-major or (T, 2) token-major, no LINEAR_ROWS."""
    scale, shift = rows_view(2, D)
    t = ROWS // 2
    grid, _, flags = shipped_plan(2, scale, shift)
    if token_major:  # row r: token r // 2, batch r % 2
        sizes, x_strides, mod_strides = (2, 1, 1), (D, t * D, 0, 0), (0, D, 0, 0)
    else:  # row r: batch r // t, token r % t
        sizes, x_strides, mod_strides = (t, 1, 1), (t * D, D, 0, 0), (D, 0, 0, 0)
    scalars = (ROWS, *sizes, *x_strides, 1, *x_strides, *mod_strides, 1, *mod_strides, 1, w.stride(0))
    return scale, shift, direct(grid, scalars, dict(flags, LINEAR_ROWS=False), scale, shift)


print(f"x (B, {ROWS} / B, {D}) bf16, {moved / 1e6:.1f} MB moved, {len(xs)} copies")
for rep in range(2):
    s1, sh1 = rows_view(1, D)
    timed("B = 1", 1, s1, sh1, public(s1, sh1))
    s, sh, fn = one_row_kept_division(2)
    timed("B = 2, one row read by all (division kept)", 2, s, sh, fn, s[:1], sh[:1])
    for b, stride, label in [(2, D, "4608 B"), (2, 64, "128 B"), (4, D, "4608 B"), (8, D, "4608 B"),
                             (16, D, "4608 B"), (32, D, "4608 B")]:
        s, sh = rows_view(b, stride)
        timed(f"B = {b}, rows {label} apart", b, s, sh, public(s, sh))
    for token_major in (False, True):
        s, sh, fn = visit_order(token_major)
        timed(f"B = 2, coordinates, {'token' if token_major else 'batch'}-major", 2, s, sh, fn)
