"""NOTES v29 item 3: visiting B = 2's batches interleaved was 1.1 us faster in h100-v28/mod_rows.py's direct
launch and 0.3-0.5 us slower in bench.tune's shipped path. Which difference turns it around: where scale and
shift live (mod_rows.py: rows of one buffer; bench.run: their own (B, 1, D) tensors), or the launch (the
public op, a new y per call; a direct launch into rotated y buffers)? At (2, 4096, 2304), kernels alone under
CUDA-graph replay with rotated x, each result checked first. Run through bench/ab.py with this checkout and
with scratch/inter (the interleaved forward: `groups` among the kernel's arguments); the direct launches only
with this checkout's kernel. Second run (order_layout_shipped.log): the shipped launch itself (this checkout's
LINEAR_ROWS, or scratch/inter's interleaved one) into rotated y buffers, against the public op's new y.
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

B, T, D, EPS = 2, 4096, 2304, 1e-6
if gpu_bandwidth("order_layout") is None:
    raise SystemExit(0)
(x, w, own_scale, own_shift), xs, ys = rotated_inputs((B, T, D))
g = torch.Generator(device="cpu").manual_seed(1)
buf = torch.randn(2, 32 * D + 64, generator=g).to(x.device, torch.bfloat16)  # as mod_rows.py's storage
layouts = {"own tensors": (own_scale, own_shift), "one buffer": tuple(buf[i, :B * D].view(B, 1, D) for i in range(2))}
interleaved = "groups" in modnorm_forward_kernel.arg_names
print(f"forward from {modnorm_op.__file__}; interleaved programs: {interleaved}", flush=True)


def timed(name, fn, scale, shift):
    """fn(i): the forward of xs[i]."""
    err = rel_err(fn(0), expected(FULL, x, w, scale, shift, EPS))
    if not err < 1e-2:
        raise SystemExit(f"{name}: wrong result ({err:.1e})")
    us = graph_us(lambda: [fn(i) for i in range(len(xs))], reads=[x, *xs]) / len(xs)
    print(f"{name:44s} {us:6.2f} us  (err {err:.1e})", flush=True)


def shipped(scale, shift):
    """The launch the public op makes (launch._forward_plan's, `groups` too where interleaved), into ys[i]."""
    grid, scalars, flags, *groups = launch._forward_plan(
        (B, T, D), x.stride(), tuple(scale.shape), scale.stride(), shift.stride(), w.stride(0),
        tuple(aligned_modulation_shape(x.shape, scale.shape)), "llama", 2, heuristics.MAX_BLOCK_D)

    def run(i):
        modnorm_forward_kernel[grid](xs[i], ys[i], w, scale, shift, *scalars, EPS, 0.0, *groups, **flags)
        return ys[i]
    return run


def direct(scale, shift, token_major):
    """The kernel launched through coordinates (no LINEAR_ROWS) into ys[i], batch- or token-major."""
    grid, _, flags = launch._forward_plan(
        (B, T, D), x.stride(), tuple(scale.shape), scale.stride(), shift.stride(), w.stride(0),
        tuple(aligned_modulation_shape(x.shape, scale.shape)), "llama", 2, heuristics.MAX_BLOCK_D)
    if token_major:  # row r: token r // 2, batch r % 2
        sizes, x_strides, mod_strides = (B, 1, 1), (D, T * D, 0, 0), (0, scale.stride(0), 0, 0)
    else:  # row r: batch r // T, token r % T
        sizes, x_strides, mod_strides = (T, 1, 1), (T * D, D, 0, 0), (scale.stride(0), 0, 0, 0)
    scalars = (B * T, *sizes, *x_strides, 1, *x_strides, *mod_strides, 1, *mod_strides, 1, w.stride(0))

    def run(i):
        modnorm_forward_kernel[grid](xs[i], ys[i], w, scale, shift, *scalars, EPS, 0.0, **dict(flags, LINEAR_ROWS=False))
        return ys[i]
    return run


for rep in range(2):
    for label, (scale, shift) in layouts.items():
        timed(f"{label}: public op", lambda i: modnorm_op.modulated_rms_norm(xs[i], w, scale, shift), scale, shift)
        timed(f"{label}: shipped launch into rotated y", shipped(scale, shift), scale, shift)
        if not interleaved:
            for token_major in (False, True):
                timed(f"{label}: direct, {'token' if token_major else 'batch'}-major", direct(scale, shift, token_major),
                      scale, shift)
