"""Building test inputs and checking op results against reference64."""
import torch

import modnorm_op
from reference64 import run

FLOATS = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def randn(shape, dtype, device, generator=None):
    return torch.randn(shape, dtype=torch.float32, device="cpu", generator=generator).to(device=device, dtype=dtype)


def op_grads(x, weight, scale, shift, dy, frozen=(), **kwargs):
    """Runs the op forward and backward on leaf copies, those named in frozen not requiring grad (they must
    get none); returns y and {name: grad} of the others."""
    leaves = {k: (t.detach().clone().requires_grad_(k not in frozen) if t is not None else None)
              for k, t in dict(x=x, weight=weight, scale=scale, shift=shift).items()}
    y = modnorm_op.modulated_rms_norm(leaves["x"], leaves["weight"], leaves["scale"], leaves["shift"], **kwargs)
    y.backward(dy)
    present = {k: t for k, t in leaves.items() if t is not None}
    for k, t in present.items():
        assert (t.grad is None) == (k in frozen), f"d{k}: {'none' if t.grad is None else 'one'} for a leaf " \
                                                   f"{'not ' if k not in frozen else ''}requiring grad"
    return y, {k: t.grad for k, t in present.items() if k not in frozen}


def assert_within(name, got, want, bound):
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    err = (got.double().cpu() - want.cpu()).abs()
    bad = ~(err <= bound.cpu())  # NaN counts as bad
    if bad.any():
        i = bad.nonzero()[0].tolist()
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {err.numel()} elements outside the bound; first at {i}: "
            f"got {got.double().cpu()[tuple(i)].item()}, want {want.cpu()[tuple(i)].item()}, "
            f"bound {bound.cpu()[tuple(i)].item()}")


def check_against_reference(x, weight, scale, shift, eps=1e-6, offset=0.0, casting_mode="llama", in_place=True,
                            dy=None, frozen=()):
    """Forward and every gradient of the op against the float64 contract, with reference64's bounds; the
    inputs named in frozen do not require grad (op_grads)."""
    if dy is None:
        dy = randn(x.shape, x.dtype, x.device)
    y, grads = op_grads(x, weight, scale, shift, dy, frozen, eps=eps, offset=offset, casting_mode=casting_mode,
                        in_place=in_place)
    ref = run(x, weight, scale, shift, dy, eps, offset, casting_mode)
    assert y.dtype == x.dtype and y.shape == x.shape and y.is_contiguous()
    assert_within("y", y, *ref["y"])
    for name, g in grads.items():
        source = dict(x=x, weight=weight, scale=scale, shift=shift)[name]
        assert g.dtype == source.dtype, f"d{name} dtype {g.dtype} != {source.dtype}"
        assert_within(f"d{name}", g, *ref[name])
    return y, grads
