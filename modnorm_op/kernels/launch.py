"""Host side of the kernels: turn tensors into row plans, pick tiles and grids, launch, reduce partials.

A launch's grid, integer arguments and flags depend only on shapes, strides, dtypes and flags, so they are
computed once per layout (`_forward_plan`, `_backward_plan`, cached) and a repeated call only allocates its
outputs and launches. The hidden size D is a constexpr of the row kernels (constant masks and 1 / D): each
new D compiles its own kernels once.

Under torch.compile this code is traced (ops.py registers the ops with torch.library.triton_op): launches go
through torch.library.wrap_triton so Inductor emits them itself, and with dynamic shapes the sizes are
SymInts. Plans are then computed, not cached, and only the hidden size D and the constexpr flags are
specialized; row counts, grids and strides stay symbolic.
"""
import functools
from dataclasses import dataclass

import torch
import triton
from torch.library import wrap_triton

from .. import heuristics
from ..broadcast import (TooManyDims, aligned_lead_strides, contiguous_lead_strides, linear_row_strides, plan_order,
                         plan_rows)
from ..reference import aligned_view, compute_dtype
from .backward import modnorm_backward_chunked_kernel, modnorm_backward_kernel, sum_partials_kernel
from .common import MODE_IDS
from .forward import modnorm_forward_kernel

_NO_STRIDES = (0, 0, 0, 0)
MAX_GRID_Y = 65535  # CUDA's limit on a grid's second dim


def clear_plans():
    """Forget cached launch plans (after changing heuristics, e.g. in bench/tune.py)."""
    _forward_plan.cache_clear()
    _backward_plan.cache_clear()


def _cached(plan_fn, *key):
    """plan_fn(*key) from its cache; computed afresh when a size or stride is symbolic: hashing a SymInt
    raises TypeError, and each traced call is made once. (Hashing the key is the cheap test: scanning it for
    SymInts cost more host time than the cached lookup itself.)"""
    try:
        hash(key)
    except TypeError:
        return plan_fn.__wrapped__(*key)
    return plan_fn(*key)


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


@functools.lru_cache(maxsize=4096)
def _forward_plan(shape, x_strides, scale_shape, scale_strides, shift_strides, w_stride, aligned_shape, mode,
                  elem_bytes, max_block_d):
    """(grid, integer arguments, constexpr flags) of one forward launch; None when the strides need plan
    order (_PlanOrder). elem_bytes (x's element size) and max_block_d (heuristics.MAX_BLOCK_D) are part of the key
    because the tile depends on them."""
    n_cols, lead = int(shape[-1]), shape[:-1]  # block sizes are constexprs: D is specialized
    strides = {"x": x_strides[:-1], "y": contiguous_lead_strides(lead, n_cols),
               "scale": aligned_lead_strides(scale_shape, scale_strides, aligned_shape)}
    if shift_strides is not None:
        strides["shift"] = aligned_lead_strides(scale_shape, shift_strides, aligned_shape)
    try:
        plan = plan_rows(lead, aligned_shape, strides)
    except TooManyDims:
        return None
    tile = heuristics.forward_tile(n_cols, max_block_d, elem_bytes)
    linear = linear_row_strides(plan, ("x", "y"))
    row_strides = linear or plan.strides
    # GROUP_GRID: a (modulation rows, blocks) grid, launched modulation-row-fastest, so every modulation row
    # is in use from the start, not first read mid-kernel by every SM at once (bench/NOTES.md v29). Its
    # programs index the modulation rows themselves: sizes and scale/shift strides of the modulation dims.
    group_blocks = triton.cdiv(plan.group, tile.block_r)
    mod_rows = plan.num_rows // plan.group
    group_grid = bool(linear is not None and mod_rows > 1 and plan.group > 1 and group_blocks <= MAX_GRID_Y)
    mod_plan = plan.modulation_rows() if group_grid else plan  # what the sizes and scale/shift strides index
    scalars = (
        plan.num_rows, *mod_plan.sizes[1:],
        *row_strides["x"], x_strides[-1],
        *row_strides["y"],
        *mod_plan.strides["scale"], scale_strides[-1],
        *mod_plan.strides.get("shift", _NO_STRIDES), shift_strides[-1] if shift_strides is not None else 0,
        w_stride if w_stride is not None else 0, plan.group,
    )
    flags = dict(
        MODE=MODE_IDS[mode], HAS_W=w_stride is not None, HAS_SHIFT=shift_strides is not None,
        BLOCK_R=tile.block_r, BLOCK_D=tile.block_d, NUM_CHUNKS=tile.num_chunks, LOAD_AHEAD=tile.load_ahead,
        N_COLS=n_cols, LINEAR_ROWS=linear is not None, GROUP_GRID=group_grid, num_warps=tile.num_warps,
    )
    grid = (mod_rows, group_blocks) if group_grid else (triton.cdiv(plan.num_rows, tile.block_r),)
    return grid, scalars, flags


# Tensors that hold real data: x of one of these types is not being traced.
PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def _launcher(kernel, x):
    """kernel itself for real tensors; through wrap_triton where the op's body is being traced (AOTAutograd
    runs it on functional tensors, ops.py), so that each launch becomes a graph node Inductor emits. Inside
    the op's own kernel triton_op turns wrap_triton off, so a direct launch there is what it would do, less
    wrap_triton's own host time."""
    return kernel if type(x) in PLAIN_TENSORS else wrap_triton(kernel)


def forward(x, weight, scale, shift, eps, offset, mode, aligned_shape):
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if y.numel() == 0:
        return y
    launch = _cached(
        _forward_plan, tuple(x.shape), x.stride(), tuple(scale.shape), scale.stride(),
        shift.stride() if shift is not None else None, weight.stride(0) if weight is not None else None,
        tuple(aligned_shape), mode, x.element_size(), heuristics.MAX_BLOCK_D)
    if launch is None:
        order = _PlanOrder(x, aligned_shape)
        y = forward(order.tensor(x), weight, order.modulation(scale, x.dim()), order.modulation(shift, x.dim()),
                    eps, offset, mode, order.aligned)
        return order.back(y)
    grid, scalars, flags = launch
    _launcher(modnorm_forward_kernel, x)[grid](x, y, weight, scale, shift, *scalars, eps, offset, **flags)
    return y


@dataclass(frozen=True)
class _BackwardPlan:
    grid: tuple
    scalars: tuple  # the main kernel's integer arguments
    flags: dict  # and its constexpr flags
    chunked: bool
    n_mod: int  # modulation rows
    direct: bool  # the main kernel writes dscale/dshift rows final (no partials)
    from_a: bool  # one modulation row: dweight's partials hold A, dscale has none (kernels/backward.py)
    dw_rows: int  # float32 partial rows for dweight (one per program), 0 if not needed
    mod_rows: int  # float32 partial rows for each of dscale and dshift (splits * n_mod), 0 if direct
    ds_parts: bool  # dscale is summed from partial rows (not direct, not from A)
    dsh_parts: bool  # dshift is summed from partial rows (not direct)
    splits: int  # partials per modulation row
    reduce_grid: tuple


@functools.lru_cache(maxsize=4096)
def _backward_plan(shape, x_strides, dy_strides, scale_shape, scale_strides, w_stride, aligned_shape, mode,
                   needs, elem_bytes, device, max_block_d):
    """The launches of one backward; None when the strides need plan order (_PlanOrder). elem_bytes: the
    element sizes of x, dy and scale (the pipeline's shared memory depends on them)."""
    n_cols, lead = int(shape[-1]), shape[:-1]
    need_dx, need_dw, need_ds, need_dsh = needs
    try:
        plan = plan_rows(lead, aligned_shape, {
            "x": x_strides[:-1], "dy": dy_strides[:-1], "dx": contiguous_lead_strides(lead, n_cols),
            "scale": aligned_lead_strides(scale_shape, scale_strides, aligned_shape),
        })
    except TooManyDims:
        return None
    n_mod = plan.num_rows // plan.group
    row_per_mod = bool(plan.group == 1)
    x_bytes, dy_bytes, scale_bytes = elem_bytes
    column_bytes = x_bytes + dy_bytes + (scale_bytes if row_per_mod else 0)  # the row loop's loads
    tile = heuristics.backward_tile(n_cols, max_block_d, column_bytes, heuristics.smem_per_program(device),
                                    row_per_mod)
    split = heuristics.backward_split(n_mod, plan.group, device, tile.programs_per_sm)
    chunked = n_cols > max_block_d  # modnorm_backward_chunked_kernel: two passes over each row
    direct = row_per_mod or (not chunked and bool(split.splits == 1))
    # one modulation row: A's partials give both dweight and dscale (kernels/backward.py); H100, Z-Image's
    # backward 41.4 -> 39.7 us, Wan-14B's 360.7 -> 353.5 (bench/NOTES.md v18)
    from_a = need_dw and not chunked and not direct and bool(n_mod == 1)
    linear = linear_row_strides(plan, ("x", "dy", "dx"))
    row_strides = linear or plan.strides
    scalars = (
        plan.group, n_mod, split.splits, split.rows_per_item, split.items_per_program,
        n_mod * split.splits, *plan.sizes[1:],
        *row_strides["x"], x_strides[-1],
        *row_strides["dy"], dy_strides[-1],
        *row_strides["dx"],
        *plan.strides["scale"], scale_strides[-1],
        w_stride if w_stride is not None else 0,
    )
    flags = dict(
        MODE=MODE_IDS[mode], HAS_W=w_stride is not None,
        NEED_DX=need_dx, NEED_DW=need_dw, NEED_DS=need_ds and not from_a, NEED_DSH=need_dsh,
        BLOCK_D=tile.block_d, ROW_PER_MOD=row_per_mod, N_COLS=n_cols, LINEAR_ROWS=linear is not None,
        num_warps=tile.num_warps,
    )
    if not chunked:
        flags.update(BLOCK_R=tile.block_r, NUM_CHUNKS=tile.num_chunks, NUM_STAGES=tile.num_stages,
                     STRIDED_ROWS=tile.strided_rows, DW_PARTS_HOLD_A=from_a)
    ds_parts, dsh_parts = need_ds and not direct and not from_a, need_dsh and not direct
    # one reduction launch: row 0 of its grid sums dweight's partials, rows 1.. dscale's then dshift's
    # ints, not bools: a bool in SymInt arithmetic breaks Inductor's value ranges
    reduce_rows = int(need_dw) + n_mod * (int(ds_parts) + int(dsh_parts))
    return _BackwardPlan(
        grid=(split.programs,), scalars=scalars, flags=flags, chunked=chunked, n_mod=n_mod, direct=direct,
        from_a=from_a, dw_rows=split.programs if need_dw else 0, mod_rows=0 if direct else split.splits * n_mod,
        ds_parts=ds_parts, dsh_parts=dsh_parts, splits=split.splits,
        reduce_grid=(reduce_rows * triton.cdiv(n_cols, heuristics.REDUCE_TILE.block_d),),
    )


def backward(dy, x, weight, scale, shift_dtype, eps, offset, mode, aligned_shape, needs):
    """(dx, dweight, dscale, dshift), each None where `needs` says it is not wanted."""
    need_dx, need_dw, need_ds, need_dsh = needs
    n_cols, device = x.shape[-1], x.device
    dx = torch.empty(x.shape, dtype=x.dtype, device=device) if need_dx else None
    if x.numel() == 0:
        zeros = lambda shape, dtype, need: torch.zeros(shape, dtype=dtype, device=device) if need else None
        return (dx, zeros(weight.shape, weight.dtype, need_dw) if weight is not None else None,
                zeros(scale.shape, scale.dtype, need_ds), zeros(scale.shape, shift_dtype, need_dsh))
    plan = _cached(
        _backward_plan, tuple(x.shape), x.stride(), dy.stride(), tuple(scale.shape), scale.stride(),
        weight.stride(0) if weight is not None else None, tuple(aligned_shape), mode, tuple(needs),
        (x.element_size(), dy.element_size(), scale.element_size()), device, heuristics.MAX_BLOCK_D)
    if plan is None:
        order = _PlanOrder(x, aligned_shape)
        grads = backward(order.tensor(dy), order.tensor(x), weight, order.modulation(scale, x.dim()), shift_dtype,
                         eps, offset, mode, order.aligned, needs)
        dx, dw, ds, dsh = grads
        to_scale = lambda g: order.back(g).reshape(scale.shape) if g is not None else None
        return (order.back(dx) if dx is not None else None), dw, to_scale(ds), to_scale(dsh)
    dw = torch.empty(n_cols, dtype=weight.dtype, device=device) if need_dw else None
    ds = torch.empty(scale.shape, dtype=scale.dtype, device=device) if need_ds else None
    dsh = torch.empty(scale.shape, dtype=shift_dtype, device=device) if need_dsh else None
    # float32 partial rows, one buffer each (a kernel under torch.compile must not be handed two views of one
    # buffer it writes). Chunked rows add into their partials, which must then start at zero.
    partial = lambda rows, need: (torch.zeros if plan.chunked else torch.empty)(
        (rows, n_cols), dtype=compute_dtype(x.dtype), device=device) if need else None
    dw_part = partial(plan.dw_rows, need_dw)
    ds_part = partial(plan.mod_rows, plan.ds_parts)
    dsh_part = partial(plan.mod_rows, plan.dsh_parts)
    kernel = modnorm_backward_chunked_kernel if plan.chunked else modnorm_backward_kernel
    _launcher(kernel, x)[plan.grid](x, dy, dx, weight, scale, dw_part,
                                    ds if plan.direct else ds_part, dsh if plan.direct else dsh_part,
                                    *plan.scalars, eps, offset, **plan.flags)
    if plan.reduce_grid[0]:
        tile = heuristics.REDUCE_TILE
        _launcher(sum_partials_kernel, x)[plan.reduce_grid](
            dw_part, ds_part, dsh_part, dw, ds, dsh, x, weight, scale, plan.dw_rows, plan.splits, plan.n_mod, n_cols,
            weight.stride(0) if weight is not None else 0, scale.stride(-1), offset, MODE=MODE_IDS[mode],
            NEED_DW=need_dw, NEED_DS=need_ds and not plan.direct, NEED_DSH=plan.dsh_parts,
            FROM_A=plan.from_a,
            BLOCK_P=tile.block_p, BLOCK_D=tile.block_d, num_warps=tile.num_warps)
    return dx, dw, ds, dsh
