"""The registered operators: torch.ops.modnorm.modulated_rms_norm and its backward, with fakes and autograd.

Both are custom ops registered with torch.library.triton_op: Dynamo never traces into them, and
torch.export keeps them whole. On CUDA, when AOTAutograd functionalizes a graph for Inductor, the op's
body is traced in its place, so the graph holds our kernel launches (the same kernels, the same results)
and Inductor's generated code makes them itself, without the dispatcher, validation and plan lookup of an
op call per step (bench/compile_block.py measures it). On CPU the op stays one call in every graph.
torch._functorch.config.decompose_custom_triton_ops = False keeps it one call on CUDA too.

CUDA tensors run the Triton kernels; CPU tensors run reference.py, or the Triton kernels when
TRITON_INTERPRET=1 (how CI tests kernel code).
"""
import os
from typing import List, Optional

import torch
from torch._subclasses.functional_tensor import FunctionalTensorMode

from . import reference
from .broadcast import aligned_modulation_shape
from .checks import check_inputs
from .kernels import launch

_INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"


def _uses_kernels(x):
    return x.is_cuda or _INTERPRETING


def _inline_on_cuda(body):
    """The op's rule under FunctionalTensorMode (AOTAutograd): on CUDA, trace the body, whose kernel launches
    (torch.library.wrap_triton) become graph nodes; elsewhere, or when decomposition is switched off (as
    torch.export does), keep the op as one call. Replaces triton_op's rule, which inlines on every device."""

    def rule(mode, op, types, args, kwargs):
        if args[0].is_cuda and torch._functorch.config.decompose_custom_triton_ops:
            with mode:
                return body(*args, **kwargs)
        return mode.__torch_dispatch__(op, types, args, kwargs)

    return rule


def _forward(
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


def _backward_grads(
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


modulated_rms_norm = torch.library.triton_op("modnorm::modulated_rms_norm", _forward, mutates_args=())
modulated_rms_norm_backward = torch.library.triton_op(
    "modnorm::modulated_rms_norm_backward", _backward_grads, mutates_args=())
modulated_rms_norm.register_torch_dispatch(FunctionalTensorMode, _inline_on_cuda(_forward))
modulated_rms_norm_backward.register_torch_dispatch(FunctionalTensorMode, _inline_on_cuda(_backward_grads))


# triton_op makes the body the fake as well; these fakes replace it with the shape rules alone, so Dynamo's
# traces skip launch planning.
@modulated_rms_norm.register_fake
def _(x, weight, scale, shift, eps, offset, casting_mode, in_place):
    check_inputs(x, weight, scale, shift, eps, offset, casting_mode)
    return x.new_empty(x.shape)


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
