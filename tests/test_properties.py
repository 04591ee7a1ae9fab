"""Property tests: draw the whole argument space and check forward and every gradient against reference64,
the shape and dtype of every result, and bitwise determinism of a repeated backward.

Profiles (conftest.py): "ci" (default, bounded) and "long" (HYPOTHESIS_PROFILE=long, 2000 examples).
"""
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import FLOATS, check_against_reference, op_grads

MODES = ["llama", "gemma", "none"]


@st.composite
def cases(draw):
    lead = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    d = draw(st.sampled_from([1, 2, 3, 7, 16, 33, 64]))
    x_dtype = draw(st.sampled_from(FLOATS))
    mod_dtype = torch.float64 if x_dtype == torch.float64 else draw(st.sampled_from(FLOATS[:3]))
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
    mod_view = draw(st.sampled_from(["contiguous", "chunk", "expand"]))

    def modulation():
        if mod_view == "chunk":  # a slice of a wider projection, like emb.chunk(6, -1)[i]
            return 0.5 * r(mod_shape[:-1] + (3 * d,), mod_dtype)[..., d:2 * d]
        if mod_view == "expand" and len(mod_shape) >= 2:  # stride-0 leading dim
            return (0.5 * r((1,) + mod_shape[1:], mod_dtype)).expand(mod_shape)
        return 0.5 * r(mod_shape, mod_dtype)

    has_w = draw(st.booleans())
    mode = draw(st.sampled_from(MODES))
    weight = r((d,), draw(st.sampled_from(FLOATS[:3])) if x_dtype != torch.float64 else x_dtype) if has_w else None
    return dict(x=x, weight=weight, scale=modulation(), shift=modulation() if draw(st.booleans()) else None,
                eps=draw(st.sampled_from([1e-6, 1e-5, 0.1])), offset=draw(st.sampled_from([0.0, 1.0])) if has_w
                else 0.0, casting_mode=mode, in_place=draw(st.booleans()), dy=r(x.shape, x_dtype))


@given(cases())
def test_matches_float64_contract(case):
    check_against_reference(**case)


@given(cases())
def test_backward_is_bitwise_deterministic(case):
    args = {k: case[k] for k in ("x", "weight", "scale", "shift")}
    flags = {k: case[k] for k in ("eps", "offset", "casting_mode", "in_place")}
    _, first = op_grads(**args, dy=case["dy"], **flags)
    _, second = op_grads(**args, dy=case["dy"], **flags)
    for name in first:
        assert torch.equal(first[name], second[name]), f"d{name} differs between two identical runs"
