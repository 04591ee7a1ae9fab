"""The registered operators: torch.ops.modnorm.modulated_rms_norm and its backward, with fakes and autograd.

Both are custom ops registered with torch.library.triton_op: Dynamo never traces into them, and
torch.export keeps them whole. On CUDA, when AOTAutograd functionalizes a graph for Inductor, the op's
body is traced in its place, so the graph holds our kernel launches (the same kernels, the same results)
and Inductor's generated code makes them itself, without the dispatcher, validation and plan lookup of an
op call per step (bench/compile_block.py measures it). On CPU the op stays one call in every graph.
torch._functorch.config.decompose_custom_triton_ops = False keeps it one call on CUDA too.

Autograd: one formula (_setup_context, _gradients), registered with register_autograd and, for CPU and CUDA
tensors, behind the op's own autograd kernel (_autograd_kernel), which calls the bodies directly in plain
eager mode to save host time.

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
    """The forward op's body; the eager fast path calls it too."""
    aligned = check_inputs(x, weight, scale, shift, eps, offset, casting_mode)
    if _uses_kernels(x):
        return launch.forward(x, weight, scale, shift, eps, offset, casting_mode, aligned)
    return reference.modulated_rms_norm_forward(x, weight, scale, shift, eps, offset, casting_mode, aligned)


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
    """The backward op's body: the gradients (dx, dweight, dscale, dshift) for which `needs` is True, in
    that order. The autograd formula calls it directly in plain eager mode (_backward_op_or_body)."""
    aligned = aligned_modulation_shape(x.shape, scale.shape)
    if _uses_kernels(x):
        grads = launch.backward(dy, x, weight, scale, shift_dtype, eps, offset, casting_mode, aligned, needs)
    else:
        grads = reference.modulated_rms_norm_backward(dy, x, weight, scale, shift_dtype, eps, offset, casting_mode,
                                                      aligned, needs)
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


def _gradients(ctx, dy):
    """The autograd formula, whichever autograd kernel or path recorded the forward."""
    x, weight, scale = ctx.saved_tensors
    need_dx, need_dw, need_ds, need_dsh = ctx.needs_input_grad[:4]
    needs = [need_dx, need_dw and ctx.has_weight, need_ds, need_dsh and ctx.has_shift]
    # in_place: backward could write dx into dy's memory, but dy may be shared with other consumers in the
    # graph and is a graph input under torch.compile / CUDA graphs, and no check here proves it private:
    # dx is always a new buffer.
    grads = iter(_backward_op_or_body(dy, x, weight, scale, ctx.shift_dtype, *ctx.scalars, needs)
                 if any(needs) else ())
    return tuple(next(grads) if need else None for need in needs) + (None,) * 4


def _backward_op_or_body(dy, x, weight, scale, *scalars):
    """The backward op; in plain eager mode with no graph to build (no create_graph), its body: the backward
    op's dispatch is most of the host time the op adds to an eager training step (bench/NOTES.md v14).
    Whatever must see the backward (torch.compile's traces, dispatch modes, functorch, the profiler, tensor
    subclasses) still gets the op, and create_graph=True still reaches it, so a second derivative raises."""
    if not torch.is_grad_enabled() and is_plain_eager(dy, x, weight, scale):
        return _backward_grads(dy, x, weight, scale, *scalars)
    return torch.ops.modnorm.modulated_rms_norm_backward(dy, x, weight, scale, *scalars)


def _forward_below_autograd(inputs, keyset):
    """The forward below the autograd key: redispatched to the op's kernel for `keyset`, or, with no keyset
    (plain eager mode), its body called directly."""
    if keyset is None:
        return _forward(*inputs)
    with torch._C._AutoDispatchBelowAutograd():
        below = keyset & torch._C._after_autograd_keyset
        return torch.ops.modnorm.modulated_rms_norm.default.redispatch(below, *inputs)


class _ModulatedRMSNormFunction(torch.autograd.Function):
    """The forward's autograd node on CPU and CUDA: inputs are the op's eight arguments, then the keyset."""

    @staticmethod
    def forward(ctx, *inputs_and_keyset):
        *inputs, keyset = inputs_and_keyset
        _setup_context(ctx, inputs, None)
        return _forward_below_autograd(inputs, keyset)

    @staticmethod
    def backward(ctx, dy):
        return _gradients(ctx, dy) + (None,)


def _autograd_kernel(keyset, *inputs):
    """The op's autograd kernel for CPU and CUDA tensors (AutogradCPU, AutogradCUDA: a backend's own autograd
    kernel takes precedence over register_autograd's, which still serves every other backend). The same
    setup_context and formula; what differs is the route to the forward: in plain eager mode (is_plain_eager)
    it calls the body itself instead of redispatching to the op's CPU/CUDA kernel, and skips custom_op's
    per-call argument rebuilding (fill_defaults): most of the host time the op added to an eager forward
    (bench/NOTES.md v15). Whatever must see the op still does: the public call is this op call, and
    compilers, dispatch modes, functorch, the profiler and tensor subclasses get the redispatch. Given up,
    as for the backward op: a kernel registered over the op's own CPU/CUDA kernel is not reached in plain
    eager mode."""
    if keyset is not None and is_plain_eager(*inputs[:4]):
        keyset = None
    if torch._C.is_grad_enabled() and torch._C._any_requires_grad(*inputs):
        return _ModulatedRMSNormFunction.apply(*inputs, keyset)
    return _forward_below_autograd(inputs, keyset)


torch.library.register_autograd("modnorm::modulated_rms_norm", _gradients, setup_context=_setup_context)
_autograd_library = torch.library.Library("modnorm", "IMPL")
for _key in ("AutogradCPU", "AutogradCUDA"):
    _autograd_library.impl("modulated_rms_norm", _autograd_kernel, _key, with_keyset=True)


# The eager fast path, opt-in (set_eager_fast_path): with it, in plain eager mode the public functions skip
# the dispatcher too and go straight to the autograd kernel's route. It saves the one dispatch into
# _autograd_kernel. Off by default: SPEC.md makes the op what the Python functions call, and a rule
# registered for the op above the autograd key (an autocast rule) would be skipped.
_eager_fast_path = False


def set_eager_fast_path(enabled):
    """Lets the public functions skip the dispatcher in plain eager mode (is_plain_eager); returns the previous
    setting. Results and gradients are bitwise the op's either way."""
    global _eager_fast_path
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    previous, _eager_fast_path = _eager_fast_path, enabled
    return previous


def is_plain_eager(*tensors):
    """True when a call may skip the dispatcher: plain tensors (or None), outside torch.compile, a
    TorchDispatchMode (FakeTensorMode, make_fx, FlopCounterMode, ...), functorch transforms and the
    profiler (whose traces then name the op, as they always did)."""
    return (not torch.compiler.is_compiling()  # first: Dynamo folds it, so it never traces the C calls
            and torch._C._len_torch_dispatch_stack() == 0
            and torch._C._functorch.peek_interpreter_stack() is None
            and not torch.autograd.profiler._is_profiler_enabled
            and all(t is None or type(t) in launch.PLAIN_TENSORS for t in tensors))


def use_eager_fast_path(*tensors):
    """Whether a public call with these tensors skips the dispatcher: enabled, and plain eager."""
    return _eager_fast_path and is_plain_eager(*tensors)


def eager_modulated_rms_norm(x, weight, scale, shift, eps, offset, casting_mode, in_place):
    """torch.ops.modnorm.modulated_rms_norm's result and gradients, without the dispatcher (is_plain_eager)."""
    return _autograd_kernel(None, x, weight, scale, shift, eps, offset, casting_mode, in_place)
