"""Input validation (SPEC "Shapes" and "Limits that are not limits"), and the broadcast helpers behind it.

Every rejected input must raise a ValueError or TypeError whose message names the argument (and the shapes
or dtypes involved), from the Python API and from torch.ops.modnorm.* alike; never an AssertionError, a
Triton compile error or a silently wrong result. The accepted edge cases are checked against the float64
reference, so "no error" also means "the right numbers".
"""
import math
import re

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import modnorm_op
from helpers import check_against_reference, randn
from modnorm_op.broadcast import (MAX_DIMS, aligned_lead_strides, aligned_modulation_shape, linear_row_strides,
                                  plan_rows)
from modnorm_op import heuristics
from modnorm_op.kernels import launch

D = 8
B, T = 2, 3


def _args(**overrides):
    """Valid arguments (x (B, T, D), per-batch (B, 1, D) modulation), with some replaced by bad ones."""
    args = dict(x=torch.randn(B, T, D), weight=torch.randn(D), scale=torch.randn(B, 1, D),
                shift=torch.randn(B, 1, D), eps=1e-6, offset=0.0, casting_mode="llama", in_place=True)
    args.update(overrides)
    return args


def _python_api(args):
    return modnorm_op.modulated_rms_norm(**args)


def _torch_op(args):
    # the registered op, positionally, in its schema order
    return torch.ops.modnorm.modulated_rms_norm(
        args["x"], args["weight"], args["scale"], args["shift"], args["eps"], args["offset"],
        args["casting_mode"], args["in_place"])


ENTRY_POINTS = [pytest.param(_python_api, id="python"), pytest.param(_torch_op, id="torch.ops")]

# (id, overrides of the valid arguments, exception type, regex the message must match). Each regex names
# the offending argument and, where SPEC asks for it, the shapes involved.
BAD_SHAPES = [
    ("x_last_dim_vs_weight", dict(x=torch.randn(B, T, D + 1), scale=torch.randn(D + 1), shift=None),
     r"weight must have shape \(9,\) for x of shape \(2, 3, 9\), got \(8,\)"),
    ("scale_last_dim", dict(scale=torch.randn(B, 1, D + 1), shift=None),
     r"scale must end in x's hidden size D=8: got scale shape \(2, 1, 9\) for x shape \(2, 3, 8\)"),
    ("shift_last_dim", dict(shift=torch.randn(B, 1, D + 1)),
     r"shift must have scale's shape \(2, 1, 8\), got \(2, 1, 9\)"),
    ("weight_last_dim", dict(weight=torch.randn(D + 1)),
     r"weight must have shape \(8,\) for x of shape \(2, 3, 8\), got \(9,\)"),
    ("weight_not_1d", dict(weight=torch.randn(1, D)),
     r"weight must have shape \(8,\) for x of shape \(2, 3, 8\), got \(1, 8\)"),
    ("weight_0d", dict(weight=torch.tensor(1.0)), r"weight must have shape \(8,\).*got \(\)"),
    ("scale_does_not_broadcast", dict(scale=torch.randn(3, 1, D), shift=None),
     r"scale of shape \(3, 1, 8\) does not broadcast to x of shape \(2, 3, 8\)"),
    ("scale_0d", dict(scale=torch.tensor(1.0), shift=None), r"scale must end in x's hidden size"),
    # SPEC rule 2: a 2-D (T, D) scale with 3-D x is read as per-batch; T != B is an error even though
    # (T, D) would broadcast by rule 1, and the message must say to pass (1, T, D).
    ("rule2_token_scale", dict(scale=torch.randn(T, D), shift=None),
     r"2-D scale of shape \(3, 8\) .* x of shape \(2, 3, 8\).*pass shape \(1, 3, 8\)"),
    ("scale_more_dims_than_x", dict(x=torch.randn(T, D), scale=torch.randn(1, T, D), shift=None),
     r"scale of shape \(1, 3, 8\) has more dims than x of shape \(3, 8\)"),
    ("shift_shape_differs_from_scale", dict(shift=torch.randn(D)),
     r"shift must have scale's shape \(2, 1, 8\), got \(8,\)"),
    # a shift that would broadcast fine on its own is still rejected: SPEC requires scale's exact shape
    ("shift_broadcastable_but_different", dict(shift=torch.randn(1, 1, D)),
     r"shift must have scale's shape \(2, 1, 8\), got \(1, 1, 8\)"),
    ("x_hidden_size_zero", dict(x=torch.randn(B, T, 0), weight=None, scale=torch.randn(0), shift=None),
     r"x must have a last \(hidden\) dim of size >= 1, got x shape \(2, 3, 0\)"),
    ("x_0d", dict(x=torch.tensor(1.0), weight=None, scale=torch.randn(1), shift=None),
     r"x must have a last \(hidden\) dim of size >= 1, got x shape \(\)"),
]

BAD_SCALARS = [
    ("casting_mode", dict(casting_mode="llama3"), r"casting_mode must be one of .*'llama3'"),
    ("casting_mode_case", dict(casting_mode="Llama"), r"casting_mode must be one of .*'Llama'"),
    ("eps_negative", dict(eps=-1e-6), r"eps must be a finite number >= 0, got -1e-06"),
    ("eps_nan", dict(eps=float("nan")), r"eps must be a finite number >= 0, got nan"),
    ("eps_inf", dict(eps=float("inf")), r"eps must be a finite number >= 0, got inf"),
    ("offset_nan", dict(offset=float("nan")), r"offset must be a finite number, got nan"),
    ("offset_inf", dict(offset=float("-inf")), r"offset must be a finite number, got -inf"),
    # the offset is added to the weight; with no weight it would silently do nothing
    ("offset_without_weight", dict(weight=None, offset=1.0), r"offset=1.0 .* weight is None"),
]

BAD_CASES = BAD_SHAPES + BAD_SCALARS


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("overrides,pattern", [pytest.param(o, p, id=i) for i, o, p in BAD_CASES])
def test_bad_value_raises_value_error(call, overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(_args(**overrides))


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("name", ["x", "weight", "scale", "shift"])
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64],
                         ids=str)
def test_non_float_dtype_raises_type_error(call, name, dtype):
    """Integer, bool and complex tensors are rejected by a TypeError naming the argument and its dtype."""
    args = _args()
    args[name] = args[name].to(dtype)
    with pytest.raises(TypeError, match=rf"^{name} must be .*float.*got {re.escape(str(dtype))}$"):
        call(args)


@pytest.mark.parametrize("overrides,pattern", [pytest.param(o, p, id=i) for i, o, p in BAD_CASES])
def test_fake_tensors_see_the_same_errors(overrides, pattern):
    """The op's fake runs the same checks, so torch.compile traces reject what eager rejects."""
    args = _args(**overrides)
    with FakeTensorMode() as mode:
        fake = {k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
        with pytest.raises(ValueError, match=pattern):
            _torch_op(fake)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device (CUDA)")
@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("name", ["weight", "scale", "shift"])
def test_tensors_on_different_devices(call, name):
    """x on CUDA with one of the other tensors on the CPU: a ValueError naming that tensor and both devices,
    not an illegal memory access from a kernel reading a host pointer."""
    args = _args()
    for k in ("x", "weight", "scale", "shift"):
        args[k] = args[k].cuda() if k != name else args[k]
    with pytest.raises(ValueError, match=rf"^{name} is on cpu but x is on cuda"):
        call(args)


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("name", ["weight", "scale", "shift"])
def test_tensors_on_different_devices_without_cuda(call, name):
    """The same device check with a second device every machine has (meta): x on the CPU, one tensor on
    meta, so the check runs in CPU-only CI too; and x on meta with the others on the CPU."""
    args = _args()
    args[name] = args[name].to("meta")
    with pytest.raises(ValueError, match=rf"^{name} is on meta but x is on cpu"):
        call(args)
    args = _args(x=torch.randn(B, T, D, device="meta"))
    with pytest.raises(ValueError, match=r"^weight is on cpu but x is on meta"):
        call(args)


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("name,value", [("scale", 1.0), ("scale", [1.0] * D), ("x", [[1.0] * D])], ids=str)
def test_non_tensor_argument(call, name, value):
    """A Python number or list where a tensor is required: the op's schema rejects it with a RuntimeError
    naming the argument (both entry points go through the schema), before any kernel."""
    args = _args(**{name: value})
    with pytest.raises(RuntimeError, match=rf"Expected a value of type 'Tensor' for argument '{name}'"):
        call(args)


# ---- accepted edge cases: no error, and the numbers match the float64 contract ----

def test_scale_1_by_d_with_3d_x(device):
    """(1, D) with 3-D x: rule 2 with batch 1, i.e. one modulation row for every token (a global scale)."""
    torch.manual_seed(0)
    x = randn((B, T, D), torch.float32, device)
    check_against_reference(x, randn(D, torch.float32, device), 0.5 * randn((1, D), torch.float32, device),
                            randn((1, D), torch.float32, device))


def test_scale_b_by_d_with_2d_x_is_per_token(device):
    """(N, D) with 2-D x (N, D): rule 1 applies, one modulation row per token (not rule 2's per-batch)."""
    torch.manual_seed(1)
    x = randn((5, D), torch.float32, device)
    check_against_reference(x, randn(D, torch.float32, device), 0.5 * randn((5, D), torch.float32, device),
                            randn((5, D), torch.float32, device))


def test_rule2_per_batch_when_batch_equals_sequence_length(device):
    """x (B, B, D) with a (B, D) scale: rule 2 reads it per-batch, though rule 1 would read it per-token.
    The reference (reference64.align) uses rule 2, so a per-token reading fails this check."""
    torch.manual_seed(2)
    x = randn((3, 3, D), torch.float32, device)
    check_against_reference(x, None, 0.5 * randn((3, D), torch.float32, device), randn((3, D), torch.float32, device))


def test_many_leading_dims_that_do_not_merge(device):
    """SPEC: "any leading shape"; x may be non-contiguous (a copy is acceptable where strides cannot
    address its rows). A 5-D leading shape permuted so no two dims merge must be accepted, not rejected
    because the kernels address at most 4 strided leading dims."""
    torch.manual_seed(3)
    x = randn((2, 2, 2, 2, 2, D), torch.float32, device).permute(4, 3, 2, 1, 0, 5)
    check_against_reference(x, randn(D, torch.float32, device), 0.5 * randn(D, torch.float32, device),
                            randn(D, torch.float32, device))


def test_modulation_alternating_over_many_leading_dims(device):
    """A scale that varies along leading dims 0, 2, 4 and is broadcast along 1, 3 broadcasts to x under
    rule 1, so it must be accepted however many strided dims the kernels' row plan would need."""
    torch.manual_seed(4)
    x = randn((2, 2, 2, 2, 2, D), torch.float32, device)
    scale, shift = 0.5 * randn((2, 1, 2, 1, 2, D), torch.float32, device), randn((2, 1, 2, 1, 2, D), torch.float32, device)
    check_against_reference(x, randn(D, torch.float32, device), scale, shift)


# ---- broadcast helpers ----

@pytest.mark.parametrize("x_shape,scale_shape,aligned", [
    ((B, T, D), (D,), (1, 1)),                    # global
    ((B, T, D), (B, 1, D), (B, 1)),               # per-batch, 3-D
    ((B, T, D), (B, T, D), (B, T)),               # per-token
    ((B, T, D), (1, T, D), (1, T)),               # shared over the batch
    ((B, T, D), (B, D), (B, 1)),                  # rule 2: (B, D) sits on x's first dim
    ((B, 4, T, D), (B, D), (B, 1, 1)),            # rule 2 with 4-D x: broadcast over every other dim
    ((B, 4, T, D), (1, D), (1, 1, 1)),            # rule 2 with batch 1
    ((B, 4, T, D), (B, 4, 1, D), (B, 4, 1)),      # per-frame (B, F, 1, D) for x (B, F, S, D)
    ((T, B, D), (1, B, D), (1, B)),               # sequence-first
    ((5, D), (5, D), (5,)),                       # 2-D x: rule 1, per token
    ((5, D), (1, D), (1,)),
    ((D,), (D,), ()),                             # 1-D x: no leading dims
], ids=str)
def test_aligned_modulation_shape(x_shape, scale_shape, aligned):
    assert aligned_modulation_shape(x_shape, scale_shape) == aligned


def test_aligned_modulation_shape_error_names_the_argument():
    with pytest.raises(ValueError, match=r"^shift of shape \(3, 1, 8\) does not broadcast"):
        aligned_modulation_shape((B, T, D), (3, 1, D), "shift")


def _contiguous_strides(shape):
    return torch.empty(shape).stride()[:-1]


def test_plan_rows_global_scale_merges_all_leading_dims():
    """Contiguous x (2, 3, 4, D), global scale: the three leading dims merge into one of 24 rows, all
    sharing modulation row 0."""
    lead = (2, 3, 4)
    plan = plan_rows(lead, (1, 1, 1), {"x": _contiguous_strides(lead + (D,)), "scale": (0, 0, 0)})
    assert plan.sizes == (24,) + (1,) * (MAX_DIMS - 1)
    assert plan.strides["x"][0] == D and plan.strides["scale"][0] == 0
    assert plan.num_rows == 24 and plan.group == 24


def test_plan_rows_per_batch_scale_groups_the_broadcast_dims():
    """Per-batch (2, 1, 1, D): the batch dim is the mod dim (outer), the other two merge into one
    broadcast dim of 12 rows that share a modulation row."""
    lead = (2, 3, 4)
    plan = plan_rows(lead, (2, 1, 1), {"x": _contiguous_strides(lead + (D,)), "scale": (D, 0, 0)})
    assert plan.sizes == (2, 12) + (1,) * (MAX_DIMS - 2)
    assert plan.strides["x"][:2] == (12 * D, D)
    assert plan.strides["scale"][:2] == (D, 0)
    assert plan.num_rows == 24 and plan.group == 12


def test_plan_rows_per_token_scale_is_one_row_per_modulation_row():
    lead = (2, 3, 4)
    strides = _contiguous_strides(lead + (D,))
    plan = plan_rows(lead, lead, {"x": strides, "scale": strides})
    assert plan.sizes == (24,) + (1,) * (MAX_DIMS - 1)
    assert plan.group == 1


def test_plan_rows_does_not_merge_dims_whose_strides_do_not_allow_it():
    """x (S, B, D) as a transposed view of a contiguous (B, S, D): the two dims cannot be merged into one
    strided dim, so both are kept (merging them would read the wrong rows)."""
    s, b = 5, 3
    x = torch.empty(b, s, D).transpose(0, 1)
    plan = plan_rows(x.shape[:-1], (1, 1), {"x": x.stride()[:-1], "scale": (0, 0)})
    assert plan.sizes == (s, b) + (1,) * (MAX_DIMS - 2)
    assert plan.strides["x"][:2] == (D, s * D)
    assert plan.group == s * b


def _plan(x, mod_shape):
    """x's plan with a contiguous modulation of aligned shape mod_shape."""
    scale = torch.empty(mod_shape + (D,))
    strides = aligned_lead_strides(scale.shape, scale.stride(), mod_shape)
    return plan_rows(x.shape[:-1], mod_shape, {"x": x.stride()[:-1], "scale": strides})


@pytest.mark.parametrize("x, mod_shape, spacing", [
    (torch.empty(B, T, D), (B, 1), D),  # per-batch: plan (B, T), rows D apart
    (torch.empty(B, T, 3 * D)[..., D:2 * D], (B, 1), 3 * D),  # a chunk of a wider row
    (torch.empty(B, 2 * T, D)[:, ::2], (B, 1), 2 * D),  # every other token
    (torch.empty(T, B, D).transpose(0, 1), (1, T), D),  # sequence-first memory, per-token-position scale
])
def test_linear_row_strides_give_the_rows_spacing(x, mod_shape, spacing):
    """Rows evenly spaced in plan order: the spacing in the innermost stride, zeros elsewhere, and row r at
    r * spacing is where the plan's coordinates put it."""
    plan = _plan(x, mod_shape)
    assert linear_row_strides(plan, ("x",)) == {"x": (0,) * (MAX_DIMS - 1) + (spacing,)}
    for r in range(plan.num_rows):
        coords = torch.unravel_index(torch.tensor(r), plan.sizes)
        assert sum(int(c) * s for c, s in zip(coords, plan.strides["x"])) == r * spacing


@pytest.mark.parametrize("x, mod_shape", [
    (torch.empty(T, B, D), (1, B)),  # sequence-first, per-batch: plan order (B, T) is not memory order
    (torch.empty(1, T, D).expand(B, T, D), (B, 1)),  # x broadcast over the batch: rows repeat
    (torch.empty(B, T, D), (B, T)),  # per-token: one merged dim, coordinate = row, no division anyway
    (torch.empty(D)[None, None].expand(1, 1, D), (1, 1)),  # one row
])
def test_linear_row_strides_refuse_uneven_rows_and_one_dim(x, mod_shape):
    """Rows that no single stride reaches: None, and the kernels find each row through its coordinates;
    None too where the index space is one dim (the coordinate is the row: nothing to divide)."""
    assert linear_row_strides(_plan(x, mod_shape), ("x",)) is None


def _forward_launch(x, scale):
    """(grid, integer arguments, flags) of x's forward with weight and a shift laid out as scale."""
    aligned = aligned_modulation_shape(x.shape, scale.shape)
    return launch._forward_plan.__wrapped__(
        tuple(x.shape), x.stride(), tuple(scale.shape), scale.stride(), scale.stride(), 1, tuple(aligned), "llama", 4,
        heuristics.MAX_BLOCK_D)


@pytest.mark.parametrize("x, scale, mod_sizes", [
    (torch.empty(B, T, D), torch.empty(B, 1, D), (B, 1, 1, 1)),  # per-batch
    (torch.empty(B, 3, T, D), torch.empty(3, B, 1, D).transpose(0, 1), (B, 3, 1, 1)),  # two modulation dims
])
def test_group_grid_indexes_modulation_rows(x, scale, mod_sizes):
    """Evenly spaced rows and several modulation rows of several rows each: a (modulation rows, blocks)
    grid whose sizes and scale strides are the modulation dims' own."""
    grid, scalars, flags = _forward_launch(x, scale)
    block_r = flags["BLOCK_R"]
    assert flags["GROUP_GRID"] and grid == (math.prod(mod_sizes), -(-T // block_r))
    assert scalars[1:4] == mod_sizes[1:] and scalars[-1] == T


@pytest.mark.parametrize("x, scale", [
    (torch.empty(1, T, D), torch.empty(1, 1, D)),  # one modulation row
    (torch.empty(B, T, D), torch.empty(B, T, D)),  # per-token: one row per modulation row
    (torch.empty(B, T, D), torch.empty(D)),  # global
    (torch.empty(T, B, D).transpose(0, 1), torch.empty(B, 1, D)),  # rows not evenly spaced in plan order
])
def test_group_grid_only_where_it_applies(x, scale):
    grid, _, flags = _forward_launch(x, scale)
    assert not flags["GROUP_GRID"] and len(grid) == 1


@pytest.mark.parametrize("x_shape, scale_shape, transposed", [
    ((B, 3, 37, D), (3, B, 1, D), True),  # two modulation dims that do not merge
    ((5, 37, D), (5, 1, D), False),  # a partial last block in each modulation row
])
def test_forward_over_modulation_row_blocks(device, x_shape, scale_shape, transposed):
    """The forward (and its backward) where the kernels' GROUP_GRID applies, against the float64 contract."""
    torch.manual_seed(6)
    x = randn(x_shape, torch.float32, device)
    scale, shift = 0.5 * randn(scale_shape, torch.float32, device), randn(scale_shape, torch.float32, device)
    if transposed:
        scale, shift = scale.transpose(0, 1), shift.transpose(0, 1)
    check_against_reference(x, randn(D, torch.float32, device), scale, shift)


def test_plan_rows_too_many_strided_dims_is_a_value_error():
    """More separately strided leading dims than the kernels address: a ValueError, not a wrong result."""
    x = torch.empty(2, 2, 2, 2, 2, D).permute(4, 3, 2, 1, 0, 5)  # no two neighbours merge
    lead = x.shape[:-1]
    with pytest.raises(ValueError, match=r"leading shape \(2, 2, 2, 2, 2\).*at most 4"):
        plan_rows(lead, (1,) * len(lead), {"x": x.stride()[:-1], "scale": (0,) * len(lead)})
