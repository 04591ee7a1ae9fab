"""The registered operators: torch.ops.modnorm.modulated_rms_norm and its backward, with fakes and autograd.

Both are opaque custom ops, so Dynamo never traces into them. CUDA tensors run the Triton kernels; CPU
tensors run reference.py, or the Triton kernels when TRITON_INTERPRET=1 (how CI tests kernel code).
"""
import os
from typing import List, Optional

import torch

from . import reference
from .broadcast import aligned_modulation_shape
from .checks import check_inputs
from .kernels import launch

_INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"


def _uses_kernels(x):
    return x.is_cuda or _INTERPRETING


@torch.library.custom_op("modnorm::modulated_rms_norm", mutates_args=())
def modulated_rms_norm(
    x: torch.Tensor,
    weight: Optional[torch.Tensor],
    scale: torch.Tensor,
    shift: Optional[torch.Tensor],
    eps: float,
    offset: float,
    casting_mode: str,
    in_place: bool,
) -> torch.Tensor:
    aligned = check_inputs(x, weight, scale, shift, eps, offset, casting_mode)
    impl = launch.forward if _uses_kernels(x) else reference.modulated_rms_norm_forward
    return impl(x, weight, scale, shift, eps, offset, casting_mode, aligned)


@modulated_rms_norm.register_fake
def _(x, weight, scale, shift, eps, offset, casting_mode, in_place):
    check_inputs(x, weight, scale, shift, eps, offset, casting_mode)
    return x.new_empty(x.shape)


@torch.library.custom_op("modnorm::modulated_rms_norm_backward", mutates_args=())
def modulated_rms_norm_backward(
    dy: torch.Tensor,
    x: torch.Tensor,
    weight: Optional[torch.Tensor],
    scale: torch.Tensor,
    shift_dtype: torch.dtype,
    eps: float,
    offset: float,
    casting_mode: str,
    needs: List[bool],
) -> List[torch.Tensor]:
    """The gradients (dx, dweight, dscale, dshift) for which `needs` is True, in that order."""
    aligned = aligned_modulation_shape(x.shape, scale.shape)
    impl = launch.backward if _uses_kernels(x) else reference.modulated_rms_norm_backward
    grads = impl(dy, x, weight, scale, shift_dtype, eps, offset, casting_mode, aligned, needs)
    return [g for g in grads if g is not None]


@modulated_rms_norm_backward.register_fake
def _(dy, x, weight, scale, shift_dtype, eps, offset, casting_mode, needs):
    like = (x, weight, scale, scale)
    dtypes = (x.dtype, weight.dtype if weight is not None else None, scale.dtype, shift_dtype)
    return [t.new_empty(t.shape, dtype=d) for t, d, need in zip(like, dtypes, needs) if need]


def _setup_context(ctx, inputs, output):
    x, weight, scale, shift, eps, offset, casting_mode, in_place = inputs
    ctx.save_for_backward(x, weight, scale)
    ctx.has_weight, ctx.has_shift = weight is not None, shift is not None
    ctx.shift_dtype = shift.dtype if shift is not None else scale.dtype
    ctx.scalars = (eps, offset, casting_mode)


def _backward(ctx, dy):
    x, weight, scale = ctx.saved_tensors
    need_dx, need_dw, need_ds, need_dsh = ctx.needs_input_grad[:4]
    needs = [need_dx, need_dw and ctx.has_weight, need_ds, need_dsh and ctx.has_shift]
    # in_place: backward could write dx into dy's memory, but dy may be shared with other consumers in the
    # graph and is a graph input under torch.compile / CUDA graphs, and no check here proves it private:
    # dx is always a new buffer.
    grads = iter(torch.ops.modnorm.modulated_rms_norm_backward(dy, x, weight, scale, ctx.shift_dtype,
                                                               *ctx.scalars, needs) if any(needs) else ())
    return tuple(next(grads) if need else None for need in needs) + (None,) * 4


torch.library.register_autograd("modnorm::modulated_rms_norm", _backward, setup_context=_setup_context)
