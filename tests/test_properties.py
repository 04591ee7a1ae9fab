"""Property tests: draw the whole argument space and check forward and every gradient against reference64,
the shape and dtype of every result, and bitwise determinism of a repeated backward.

The space: leading shape (0 to 5 dims), D (1 to 64), broadcast pattern (every leading dim kept or broadcast,
leading 1s dropped, or rule 2's (B, D)), view kind of x (contiguous, transposed, strided columns) and of
scale/shift (contiguous, chunk of a wider projection, unbind, expand), the dtype of each tensor
independently, weight and shift present or not, casting mode, offset, eps (0 included), in_place, and the
block size (full rows, or 16 so that rows longer than 16 take the chunked kernels).

Profiles (conftest.py): "ci" (default, bounded) and "long" (HYPOTHESIS_PROFILE=long, 2000 examples).
"""
from unittest import mock

import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import FLOATS, check_against_reference, op_grads
from modnorm_op import heuristics

MODES = ["llama", "gemma", "none"]


@st.composite
def cases(draw):
    # up to 3 dims of up to 4, or 4-5 small dims (with a transposed x or an alternating modulation, more
    # strided dims than the kernels address: the copy-into-plan-order path)
    lead = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)
                      | st.lists(st.integers(1, 2), min_size=4, max_size=5)))
    d = draw(st.sampled_from([1, 2, 3, 7, 16, 33, 64]))
    x_dtype = draw(st.sampled_from(FLOATS))
    mod_dtype = torch.float64 if x_dtype == torch.float64 else draw(st.sampled_from(FLOATS[:3]))
    shift_dtype = torch.float64 if x_dtype == torch.float64 else draw(st.sampled_from(FLOATS[:3]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    r = lambda shape, dtype: torch.randn(shape, generator=gen).to(dtype)

    # x: contiguous, a transposed view, or every other column of a wider tensor
    x_view = draw(st.sampled_from(["contiguous", "transposed", "strided_cols"]))
    if x_view == "transposed" and len(lead) >= 2:
        x = r((lead[1], lead[0]) + lead[2:] + (d,), x_dtype).transpose(0, 1)
    elif x_view == "strided_cols":
        x = r(lead + (2 * d,), x_dtype)[..., ::2]
    else:
        x = r(lead + (d,), x_dtype)

    # modulation: each leading dim kept or broadcast (rule 1), or (B, D) per batch (rule 2)
    if len(lead) >= 2 and draw(st.booleans()):
        mod_shape = (lead[0], d)
    else:
        keep = [draw(st.booleans()) for _ in lead]
        aligned = tuple(n if k else 1 for n, k in zip(lead, keep))
        drop = draw(st.integers(0, len(aligned)))
        drop = next((i for i in range(drop) if aligned[i] != 1), drop)  # only leading 1s may be dropped
        if len(lead) >= 2:
            drop = min(drop, len(aligned) - 2)  # a 2-D modulation with 3+-D x is rule 2, drawn above
        mod_shape = aligned[drop:] + (d,)
    mod_view = draw(st.sampled_from(["contiguous", "chunk", "unbind", "expand"]))

    def modulation(dtype):
        if mod_view == "chunk":  # a slice of a wider projection, like emb.chunk(6, -1)[i]
            return 0.5 * r(mod_shape[:-1] + (3 * d,), dtype)[..., d:2 * d]
        if mod_view == "unbind":  # emb.unflatten(-1, (k, D)).unbind(-2)[i]: strided leading dims
            return (0.5 * r(mod_shape[:-1] + (2, d), dtype)).unbind(-2)[1]
        if mod_view == "expand" and len(mod_shape) >= 2:  # stride-0 leading dim
            return (0.5 * r((1,) + mod_shape[1:], dtype)).expand(mod_shape)
        return 0.5 * r(mod_shape, dtype)

    has_w = draw(st.booleans())
    mode = draw(st.sampled_from(MODES))
    weight = r((d,), draw(st.sampled_from(FLOATS[:3])) if x_dtype != torch.float64 else x_dtype) if has_w else None
    return dict(x=x, weight=weight, scale=modulation(mod_dtype),
                shift=modulation(shift_dtype) if draw(st.booleans()) else None,
                eps=draw(st.sampled_from([1e-6, 1e-5, 0.1, 0.0])),
                offset=draw(st.sampled_from([0.0, 1.0, -0.5])) if has_w else 0.0,
                casting_mode=mode, in_place=draw(st.booleans()), dy=r(x.shape, x_dtype),
                max_block_d=draw(st.sampled_from([heuristics.MAX_BLOCK_D, 16])))


def _block_size(case):
    """heuristics.MAX_BLOCK_D as drawn (16: rows longer than 16 run the chunked kernels). A context manager,
    not pytest's monkeypatch: hypothesis runs many examples inside one test call."""
    return mock.patch.object(heuristics, "MAX_BLOCK_D", case.pop("max_block_d"))


TENSORS = ("x", "weight", "scale", "shift")


@given(cases())
def test_matches_float64_contract(case):
    """Forward and every gradient within reference64's bounds; y contiguous with x's shape and dtype; one
    gradient for each tensor given, with that tensor's shape and dtype."""
    with _block_size(case):
        y, grads = check_against_reference(**case)
    assert set(grads) == {k for k in TENSORS if case[k] is not None}
    for name, g in grads.items():
        assert g is not None and g.shape == case[name].shape and g.dtype == case[name].dtype, name


@given(cases())
def test_backward_is_bitwise_deterministic(case):
    """The same inputs twice: bitwise the same y and gradients (fixed-order float32 sums, no atomics)."""
    args = {k: case[k] for k in TENSORS}
    flags = {k: case[k] for k in ("eps", "offset", "casting_mode", "in_place")}
    with _block_size(case):
        y1, first = op_grads(**args, dy=case["dy"], **flags)
        y2, second = op_grads(**args, dy=case["dy"], **flags)
    assert torch.equal(y1, y2), "y differs between two identical runs"
    for name in first:
        assert torch.equal(first[name], second[name]), f"d{name} differs between two identical runs"
