"""modnorm_op.ModulatedRMSNorm (SPEC "Public API"), the Liger drop-in names, and in_place (SPEC "Backward").

The module must be a drop-in for torch.nn.RMSNorm (same parameter, same state dict) whose forward is exactly
the functional op; in_place may save memory but must never change a result or a tensor the caller owns.
"""
import pytest
import torch

import modnorm_op
from helpers import randn
from modnorm_op import ModulatedRMSNorm

D = 16


def _assert_bitwise(got, want):
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def _inputs(device, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return randn((2, 3, D), dtype, device), 0.5 * randn((2, 1, D), dtype, device), randn((2, 1, D), dtype, device)


def test_is_an_rms_norm_with_a_weight_parameter():
    m = ModulatedRMSNorm(D)
    assert isinstance(m, torch.nn.RMSNorm)
    assert [name for name, _ in m.named_parameters()] == ["weight"]
    assert m.weight.shape == (D,)
    _assert_bitwise(m.weight.detach(), torch.ones(D))  # init_fn="ones" by default


def test_loads_a_torch_rms_norm_state_dict():
    """Checkpoints of models built with torch.nn.RMSNorm (or diffusers' RMSNorm, same key) load strictly."""
    rms = torch.nn.RMSNorm(D)
    with torch.no_grad():
        rms.weight.copy_(torch.randn(D))  # not the init value, so a skipped load would be noticed
    m = ModulatedRMSNorm(D)
    m.load_state_dict(rms.state_dict(), strict=True)
    _assert_bitwise(m.weight.detach(), rms.weight.detach())
    # and the other way round: a saved ModulatedRMSNorm loads back into a plain RMSNorm
    back = torch.nn.RMSNorm(D)
    back.load_state_dict(m.state_dict(), strict=True)
    _assert_bitwise(back.weight.detach(), rms.weight.detach())


def test_no_elementwise_affine_registers_no_parameter(device):
    m = ModulatedRMSNorm(D, elementwise_affine=False)
    assert m.weight is None
    assert list(m.parameters()) == [] and m.state_dict() == {}
    x, scale, shift = _inputs(device)
    _assert_bitwise(m(x, scale, shift), modnorm_op.modulated_rms_norm(x, None, scale, shift))


@pytest.mark.parametrize("casting_mode", ["llama", "gemma", "none"])
def test_zeros_init_with_offset_one_equals_ones_weight(device, casting_mode):
    """Gemma convention: weight initialised to zeros, used as weight + 1. Same forward and gradients as a
    ones weight with no offset (1 + 0 and 0 + 1 are both exactly 1)."""
    zeros = ModulatedRMSNorm(D, offset=1.0, init_fn="zeros", casting_mode=casting_mode, device=device)
    ones = ModulatedRMSNorm(D, casting_mode=casting_mode, device=device)
    _assert_bitwise(zeros.weight.detach(), torch.zeros(D, device=device))
    x, scale, shift = _inputs(device, torch.bfloat16)
    dy = randn(x.shape, x.dtype, device)
    results = []
    for m in (zeros, ones):
        xs, ss = x.clone().requires_grad_(True), scale.clone().requires_grad_(True)
        y = m(xs, ss, shift)
        y.backward(dy)
        results.append((y, xs.grad, ss.grad, m.weight.grad))
    for got, want in zip(*results):
        _assert_bitwise(got, want)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(init_fn="normal"), r"init_fn must be one of .*'normal'"),
    (dict(casting_mode="llama3"), r"casting_mode must be one of .*'llama3'"),
])
def test_invalid_constructor_arguments(kwargs, pattern):
    """Caught at construction, not at the first forward."""
    with pytest.raises(ValueError, match=pattern):
        ModulatedRMSNorm(D, **kwargs)


def test_forward_is_the_functional_op(device):
    """forward(x, scale, shift) is modulated_rms_norm with the module's weight, eps, offset and mode."""
    kwargs = dict(eps=1e-2, offset=0.5, casting_mode="none")
    m = ModulatedRMSNorm(D, device=device, **kwargs)
    with torch.no_grad():
        m.weight.copy_(randn(D, torch.float32, device))
    x, scale, shift = _inputs(device, torch.bfloat16)
    y = m(x, scale, shift)
    _assert_bitwise(y, modnorm_op.modulated_rms_norm(x, m.weight, scale, shift, **kwargs))
    # the settings above change the result, so dropping any of them in forward would fail the check above
    for name, default in (("eps", 1e-6), ("offset", 0.0), ("casting_mode", "llama")):
        other = modnorm_op.modulated_rms_norm(x, m.weight, scale, shift, **{**kwargs, name: default})
        assert not torch.equal(y, other), name
    # shift is optional, as in the function
    _assert_bitwise(m(x, scale), modnorm_op.modulated_rms_norm(x, m.weight, scale, None, **kwargs))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
def test_device_and_dtype_kwargs(device, dtype):
    m = ModulatedRMSNorm(D, device=device, dtype=dtype)
    assert m.weight.device.type == device and m.weight.dtype == dtype
    x, scale, shift = _inputs(device, dtype)
    assert m(x, scale, shift).dtype == dtype


def test_liger_names_are_aliases():
    """Code written against the Liger-Kernel proposal gets the same objects, not look-alikes."""
    assert modnorm_op.LigerModulatedRMSNorm is ModulatedRMSNorm
    assert modnorm_op.liger_modulated_rms_norm is modnorm_op.modulated_rms_norm


# ---- in_place: never changes a result ----

def _setup(device, in_place, dtype):
    """A module with a non-trivial weight and leaf inputs, the same for every call."""
    torch.manual_seed(5)
    m = ModulatedRMSNorm(D, in_place=in_place, device=device)
    with torch.no_grad():
        m.weight.copy_(randn(D, torch.float32, device))
    x, scale, shift = (t.requires_grad_(True) for t in _inputs(device, dtype, seed=6))
    return m, x, scale, shift


def _run(device, in_place, residual, dtype):
    """Forward and backward through the module (optionally y + x, a residual add that hands the same dy to
    the op and to x's accumulator). Returns y, the grads, and the caller's grad_output before and after."""
    m, x, scale, shift = _setup(device, in_place, dtype)
    y = m(x, scale, shift)
    out = y + x if residual else y
    g = randn(out.shape, dtype, device)
    g_before = g.clone()
    out.backward(g)
    return y.detach(), dict(x=x.grad, weight=m.weight.grad, scale=scale.grad, shift=shift.grad), g_before, g


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
def test_in_place_changes_no_result(device, residual, dtype):
    y_t, grads_t, g_before, g_after = _run(device, True, residual, dtype)
    y_f, grads_f, _, _ = _run(device, False, residual, dtype)
    _assert_bitwise(y_t, y_f)
    for name in grads_f:
        _assert_bitwise(grads_t[name], grads_f[name])
    # the caller's grad_output is theirs: backward must not have written dx into it
    _assert_bitwise(g_after, g_before)


def test_in_place_residual_gradient_is_dx_plus_dy(device):
    """With y + x, x.grad must be the op's dx plus the residual branch's dy. A backward that wrote dx into
    the shared dy would corrupt the residual branch's contribution; this checks the value, not just that
    in_place=True and False agree."""
    _, grads, g, _ = _run(device, True, True, torch.float32)
    m, x, scale, shift = _setup(device, True, torch.float32)
    (dx_alone,) = torch.autograd.grad(m(x, scale, shift), x, g.clone())
    _assert_bitwise(grads["x"], dx_alone + g)
