"""Broadcast rules for scale/shift, and the row addressing the kernels use.

x has shape (*L, D); its rows are the N = prod(L) vectors of length D. scale/shift are never copied:
we describe, for every tensor the kernel touches, how to find row r through strides.

The kernels see at most MAX_DIMS leading dims. `plan_rows` turns the leading shape into that form:
it drops size-1 dims, puts the dims along which the modulation changes first ("mod dims") and the dims it
is broadcast over last ("broadcast dims"), and merges neighbours whose strides allow it. Row r of the
resulting index space then uses modulation row r // G, where G is the number of rows sharing one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_DIMS = 4


def aligned_modulation_shape(x_shape, scale_shape, name="scale"):
    """The shape of `scale` aligned to x's leading dims (one entry per dim of L), per SPEC's two rules.

    Raises ValueError naming both shapes when scale is not accepted.
    """
    x_shape, scale_shape = tuple(x_shape), tuple(scale_shape)
    lead = x_shape[:-1]
    if len(scale_shape) == 0 or scale_shape[-1] != x_shape[-1]:
        raise ValueError(
            f"{name} must end in x's hidden size D={x_shape[-1]}: got {name} shape {scale_shape} for x shape {x_shape}"
        )
    s_lead = scale_shape[:-1]
    # Rule 2: a 2-D (B, D) modulation with 3+-D x is per-batch (the diffusers / Liger convention).
    if len(scale_shape) == 2 and len(x_shape) >= 3:
        if s_lead[0] == lead[0] or s_lead[0] == 1:
            return (s_lead[0],) + (1,) * (len(lead) - 1)
        raise ValueError(
            f"2-D {name} of shape {scale_shape} is read as per-batch (B, D) for x of shape {x_shape}, "
            f"but its first dim {s_lead[0]} is not x's batch size {lead[0]}; to share one modulation row per "
            f"token over the batch, pass shape {(1,) + lead[1:] + (x_shape[-1],)}"
        )
    # Rule 1: ordinary broadcasting to x, which must not grow x's shape.
    if len(s_lead) > len(lead):
        raise ValueError(f"{name} of shape {scale_shape} has more dims than x of shape {x_shape}")
    aligned = (1,) * (len(lead) - len(s_lead)) + s_lead
    for a, l in zip(aligned, lead):
        if a != l and a != 1:
            raise ValueError(f"{name} of shape {scale_shape} does not broadcast to x of shape {x_shape}")
    return aligned


def aligned_lead_strides(shape, strides, aligned_shape):
    """Leading strides of a modulation tensor (its shape and strides) seen at `aligned_shape`: 0 where it
    is broadcast."""
    lead_shape, lead_strides = shape[:-1], strides[:-1]
    if len(shape) == 2 and len(aligned_shape) >= 2:
        # rule 2: a (B, D) modulation sits on x's first dim
        padded = tuple(lead_strides) + (0,) * (len(aligned_shape) - 1)
    else:
        padded = (0,) * (len(aligned_shape) - len(lead_shape)) + tuple(lead_strides)
    return tuple(0 if size == 1 else st for size, st in zip(aligned_shape, padded))


def contiguous_lead_strides(lead_shape, row_len):
    strides, acc = [], row_len
    for size in reversed(lead_shape):
        strides.append(acc)
        acc *= size
    return tuple(reversed(strides))


@dataclass(frozen=True)
class RowPlan:
    """Leading dims (outer to inner, MAX_DIMS of them, padded with inner 1s) and each tensor's strides over them.

    Row r of the index space has coordinates unravel(r, sizes); mod dims come first, so all the G rows
    that share modulation row m are r in [m * G, (m + 1) * G).
    """

    sizes: tuple
    strides: dict  # name -> tuple of MAX_DIMS strides
    num_rows: int  # N
    group: int  # G: rows per modulation row
    mod_dims: int  # how many of the leading dims (after merging) are modulation dims

    def modulation_rows(self):
        """The plan of the modulation rows alone: its modulation dims' sizes and strides, padded on the inner
        side as plan_rows pads; its row m is the modulation row of this plan's rows [m * G, (m + 1) * G)."""
        pad = len(self.sizes) - self.mod_dims
        return RowPlan(sizes=tuple(self.sizes[:self.mod_dims]) + (1,) * pad,
                       strides={k: tuple(v[:self.mod_dims]) + (0,) * pad for k, v in self.strides.items()},
                       num_rows=self.num_rows // self.group, group=1, mod_dims=self.mod_dims)


def linear_row_strides(plan, names):
    """Strides (0, ..., 0, spacing) for each of `names` when every one of them has evenly spaced rows over
    plan's index space (row r at r * spacing; the common contiguous case), else None. The kernels then
    address those tensors without the row's coordinates (their LINEAR_ROWS): no division on the path of
    their loads, where a per-batch plan otherwise divides by T for every row. None too for a one-dim
    index space, whose coordinate is the row itself: its kernels stay as they were (an H100 timed Z-Image's
    forward 0.2 us slower with the same arithmetic scheduled differently, bench/NOTES.md v28)."""
    if all(size == 1 for size in plan.sizes[1:]):
        return None
    linear = {}
    for name in names:
        spacing, span = 0, None  # span: the stride the next outer dim needs to continue the spacing
        for size, stride in zip(reversed(plan.sizes), reversed(plan.strides[name])):
            if size == 1:
                continue
            if span is None:
                spacing = stride
            elif stride != span:
                return None
            span = stride * size
        linear[name] = (0,) * (len(plan.sizes) - 1) + (spacing,)
    return linear


class TooManyDims(ValueError):
    """The strides leave more than MAX_DIMS leading dims; launch.py then copies x into plan order."""


def plan_order(lead_shape, mod_shape):
    """Leading dims in plan order: mod dims, then broadcast dims, then size-1 dims (which never matter)."""
    mod = [i for i, size in enumerate(lead_shape) if size != 1 and mod_shape[i] != 1]
    bcast = [i for i, size in enumerate(lead_shape) if size != 1 and mod_shape[i] == 1]
    return mod, bcast, [i for i, size in enumerate(lead_shape) if size == 1]


def plan_rows(lead_shape, mod_shape, strides_by_name):
    """Order and merge the leading dims for the kernels.

    lead_shape: x's leading shape L; mod_shape: the modulation shape aligned to L (1 where broadcast);
    strides_by_name: {name: strides over L} for each tensor the kernel addresses by row.
    """
    mod, bcast, _ = plan_order(lead_shape, mod_shape)
    group = math.prod(lead_shape[i] for i in bcast)
    merged = []  # list of (size, {name: stride}) outer to inner
    for block in (mod, bcast):
        block_dims = []
        for i in block:
            entry = (lead_shape[i], {k: st[i] for k, st in strides_by_name.items()})
            if block_dims and all(block_dims[-1][1][k] == entry[1][k] * entry[0] for k in strides_by_name):
                prev = block_dims.pop()
                entry = (prev[0] * entry[0], entry[1])
            block_dims.append(entry)
        merged.extend(block_dims)
        if block is mod:
            mod_dims = len(merged)
    if len(merged) > MAX_DIMS:
        raise TooManyDims(
            f"x's leading shape {tuple(lead_shape)} with modulation shape {tuple(mod_shape)} and these strides "
            f"needs {len(merged)} separately strided leading dims; the kernels address at most {MAX_DIMS}"
        )
    # padded on the inner side: the kernels' divisions by inner sizes of 1 vanish (Triton and Inductor
    # specialize integer arguments equal to 1), so a 1-D index space costs no division, a 2-D one one
    pad = [(1, {k: 0 for k in strides_by_name})] * (MAX_DIMS - len(merged))
    merged = merged + pad
    return RowPlan(
        sizes=tuple(size for size, _ in merged),
        strides={k: tuple(st[k] for _, st in merged) for k in strides_by_name},
        num_rows=math.prod(lead_shape),
        group=group,
        mod_dims=mod_dims,
    )
