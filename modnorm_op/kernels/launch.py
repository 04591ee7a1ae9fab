"""Host side of the kernels: turn tensors into row plans, pick tiles and grids, launch, reduce partials."""
import math

import torch
import triton
import triton.language as tl

from .. import heuristics
from ..broadcast import TooManyDims, aligned_lead_strides, contiguous_lead_strides, plan_order, plan_rows
from ..reference import aligned_view
from ..reference import compute_dtype
from .backward import modnorm_backward_chunked_kernel, modnorm_backward_kernel, sum_partials_kernel
from .common import MODE_IDS
from .forward import modnorm_forward_kernel

_TL_COMPUTE = {torch.float32: tl.float32, torch.float64: tl.float64}
_REDUCE_BLOCK_D = 256
_NO_STRIDES = (0, 0, 0, 0)


class _PlanOrder:
    """x's dims permuted into plan order (broadcast.plan_order), for layouts whose strides leave more
    leading dims than the kernels address: there x and dy are copied in that order, where they merge."""

    def __init__(self, x, aligned_shape):
        mod, bcast, ones = plan_order(x.shape[:-1], aligned_shape)
        self.perm = mod + bcast + ones + [x.dim() - 1]
        self.inverse = [self.perm.index(i) for i in range(x.dim())]
        self.aligned = tuple(aligned_shape[i] for i in self.perm[:-1])

    def tensor(self, t):
        return t.permute(self.perm).contiguous()

    def modulation(self, t, x_dim):
        """scale/shift as a view with x's rank in plan order (no copy)."""
        if t is None:
            return None
        t = aligned_view(t, self.aligned)
        return t[(None,) * (x_dim - t.dim())].permute(self.perm)

    def back(self, t):
        return t.permute(self.inverse).contiguous()


def forward(x, weight, scale, shift, eps, offset, mode, aligned_shape):
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if y.numel() == 0:
        return y
    n_cols, lead = x.shape[-1], x.shape[:-1]
    strides = {
        "x": x.stride()[:-1],
        "y": contiguous_lead_strides(lead, n_cols),
        "scale": aligned_lead_strides(scale, aligned_shape),
    }
    if shift is not None:
        strides["shift"] = aligned_lead_strides(shift, aligned_shape)
    try:
        plan = plan_rows(lead, aligned_shape, strides)
    except TooManyDims:
        order = _PlanOrder(x, aligned_shape)
        y = forward(order.tensor(x), weight, order.modulation(scale, x.dim()), order.modulation(shift, x.dim()),
                    eps, offset, mode, order.aligned)
        return order.back(y)
    tile = heuristics.forward_tile(n_cols)
    grid = (triton.cdiv(plan.num_rows, tile.block_r),)
    modnorm_forward_kernel[grid](
        x, y, weight, scale, shift,
        plan.num_rows, n_cols, *plan.sizes[1:],
        *plan.strides["x"], x.stride(-1),
        *plan.strides["y"],
        *plan.strides["scale"], scale.stride(-1),
        *plan.strides.get("shift", _NO_STRIDES), shift.stride(-1) if shift is not None else 0,
        weight.stride(0) if weight is not None else 0, eps, offset,
        MODE=MODE_IDS[mode], HAS_W=weight is not None, HAS_SHIFT=shift is not None,
        COMPUTE=_TL_COMPUTE[compute_dtype(x.dtype)],
        BLOCK_R=tile.block_r, BLOCK_D=tile.block_d, CHUNKED=tile.num_chunks > 1, num_warps=tile.num_warps,
    )
    return y


def _sum_partials(partials, out_dtype):
    """(parts, rows, D) float32 partials -> (rows, D) sums in out_dtype, added in a fixed order."""
    parts, rows, n_cols = partials.shape
    out = torch.empty((rows, n_cols), dtype=out_dtype, device=partials.device)
    sum_partials_kernel[(rows, triton.cdiv(n_cols, _REDUCE_BLOCK_D))](
        partials, out, parts, rows, n_cols, BLOCK_D=_REDUCE_BLOCK_D
    )
    return out


def backward(dy, x, weight, scale, shift_dtype, eps, offset, mode, aligned_shape, needs):
    """(dx, dweight, dscale, dshift), each None where `needs` says it is not wanted."""
    need_dx, need_dw, need_ds, need_dsh = needs
    n_cols, lead, device = x.shape[-1], x.shape[:-1], x.device
    num_rows = math.prod(lead)
    dx = torch.empty(x.shape, dtype=x.dtype, device=device) if need_dx else None
    if num_rows == 0:
        zeros = lambda shape, dtype, need: torch.zeros(shape, dtype=dtype, device=device) if need else None
        return (dx, zeros(weight.shape, weight.dtype, need_dw) if weight is not None else None,
                zeros(scale.shape, scale.dtype, need_ds), zeros(scale.shape, shift_dtype, need_dsh))
    try:
        plan = plan_rows(lead, aligned_shape, {
            "x": x.stride()[:-1],
            "dy": dy.stride()[:-1],
            "dx": contiguous_lead_strides(lead, n_cols),
            "scale": aligned_lead_strides(scale, aligned_shape),
        })
    except TooManyDims:
        order = _PlanOrder(x, aligned_shape)
        grads = backward(order.tensor(dy), order.tensor(x), weight, order.modulation(scale, x.dim()), shift_dtype,
                         eps, offset, mode, order.aligned, needs)
        dx, dw, ds, dsh = grads
        to_scale = lambda g: order.back(g).reshape(scale.shape) if g is not None else None
        return (order.back(dx) if dx is not None else None), dw, to_scale(ds), to_scale(dsh)
    n_mod = num_rows // plan.group
    split = heuristics.backward_split(n_mod, plan.group, device)
    tile = heuristics.backward_tile(n_cols)
    chunked = tile.num_chunks > 1
    row_per_mod = plan.group == 1
    compute = compute_dtype(x.dtype)
    # chunked rows add into their partials, which must start at zero; otherwise each is written once
    new_partial = torch.zeros if chunked else torch.empty
    direct = row_per_mod or (split.splits == 1 and not chunked)

    def mod_buffer(dtype, need):
        if not need:
            return None
        if direct:
            return torch.empty((n_mod, n_cols), dtype=dtype, device=device)
        return new_partial((split.splits, n_mod, n_cols), dtype=compute, device=device)

    ds_buf, dsh_buf = mod_buffer(scale.dtype, need_ds), mod_buffer(shift_dtype, need_dsh)
    dw_part = new_partial((split.programs, n_cols), dtype=compute, device=device) if need_dw else None
    args = (
        x, dy, dx, weight, scale, dw_part, ds_buf, dsh_buf,
        n_cols, plan.group, n_mod, split.splits, split.rows_per_item, split.items_per_program,
        n_mod * split.splits, *plan.sizes[1:],
        *plan.strides["x"], x.stride(-1),
        *plan.strides["dy"], dy.stride(-1),
        *plan.strides["dx"],
        *plan.strides["scale"], scale.stride(-1),
        weight.stride(0) if weight is not None else 0, eps, offset,
    )
    flags = dict(
        MODE=MODE_IDS[mode], HAS_W=weight is not None, COMPUTE=_TL_COMPUTE[compute],
        NEED_DX=need_dx, NEED_DW=need_dw, NEED_DS=need_ds, NEED_DSH=need_dsh,
        BLOCK_D=tile.block_d, ROW_PER_MOD=row_per_mod, num_warps=tile.num_warps,
    )
    grid = (split.programs,)
    if chunked:
        modnorm_backward_chunked_kernel[grid](*args, **flags)
    else:
        modnorm_backward_kernel[grid](*args, BLOCK_R=tile.block_r, **flags)
    dw = _sum_partials(dw_part[:, None], weight.dtype)[0] if need_dw else None
    if not direct:
        ds_buf = _sum_partials(ds_buf, scale.dtype) if need_ds else None
        dsh_buf = _sum_partials(dsh_buf, shift_dtype) if need_dsh else None
    ds = ds_buf.view(scale.shape) if need_ds else None
    dsh = dsh_buf.view(scale.shape) if need_dsh else None
    return dx, dw, ds, dsh
