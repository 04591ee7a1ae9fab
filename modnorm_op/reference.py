"""The operation in plain PyTorch: the semantics of the kernels, and the CPU implementation of the op.

    y = rms_norm(x, weight + offset, eps, casting_mode) * (1 + scale) + shift

Math runs in float32 (float64 when x is float64). The deliberate roundings to x's dtype are:
  llama: the normalized x * rstd;
  gemma: none before the final store;
  none:  rstd, x * rstd, weight + offset and the weighted value, as PyTorch ops in x's dtype would.
The modulation * (1 + scale) + shift is float32 in every mode and rounded once, at the store.
"""
from __future__ import annotations

import torch

CASTING_MODES = ("llama", "gemma", "none")


def compute_dtype(x_dtype):
    return torch.float64 if x_dtype == torch.float64 else torch.float32


def aligned_view(t, aligned_shape):
    """`t` as a view that broadcasts against x under plain PyTorch rules (no copy)."""
    if t.dim() == 2 and len(aligned_shape) >= 2:  # rule 2: (B, D) -> (B, 1, ..., 1, D)
        return t[(slice(None),) + (None,) * (len(aligned_shape) - 1)]
    return t


def _rounded(t, dtype, compute):
    return t.to(dtype).to(compute)


def _normalize(x, weight, eps, offset, mode):
    """Returns rstd, x * rstd (unrounded), n (the normalized x as the forward multiplies it), a, h."""
    ct = compute_dtype(x.dtype)
    xf = x.to(ct)
    rstd = torch.rsqrt(xf.square().mean(-1, keepdim=True).double() + eps).to(ct)  # rounded once
    if mode == "none":
        rstd = _rounded(rstd, x.dtype, ct)
    xhat = xf * rstd
    n = xhat if mode == "gemma" else _rounded(xhat, x.dtype, ct)
    if weight is None:
        return rstd, xhat, n, None, n
    a = weight.to(ct) + offset
    h = n * a
    if mode == "none":
        a = _rounded(a, x.dtype, ct)
        h = _rounded(n * a, x.dtype, ct)
    return rstd, xhat, n, a, h


def modulated_rms_norm_forward(x, weight, scale, shift, eps, offset, mode, aligned_shape):
    ct = compute_dtype(x.dtype)
    _, _, _, _, h = _normalize(x, weight, eps, offset, mode)
    # h * (1 + scale) + shift, written as (h + shift) + h * scale like the kernel's fused multiply-add
    base = h if shift is None else h + aligned_view(shift, aligned_shape).to(ct)
    y = torch.addcmul(base, h, aligned_view(scale, aligned_shape).to(ct))
    return y.to(x.dtype).contiguous()


def modulated_rms_norm_backward(dy, x, weight, scale, shift_dtype, eps, offset, mode, aligned_shape, needs):
    """Gradients (dx, dweight, dscale, dshift) of the float32 math; None where `needs` says not needed."""
    need_dx, need_dw, need_ds, need_dsh = needs
    ct = compute_dtype(x.dtype)
    rstd, xhat, n, a, h = _normalize(x, weight, eps, offset, mode)
    dyf = dy.to(ct)
    mod_shape = tuple(aligned_shape) + (x.shape[-1],)
    dx = dw = ds = dsh = None
    if need_dsh:
        dsh = dyf.sum_to_size(mod_shape).reshape(scale.shape).to(shift_dtype, copy=True)  # never dy itself
    if need_ds:
        ds = (dyf * h).sum_to_size(mod_shape).reshape(scale.shape).to(scale.dtype)
    dh = dyf * (1 + aligned_view(scale, aligned_shape).to(ct))
    if need_dw:
        dw = (dh * n).reshape(-1, x.shape[-1]).sum(0).to(weight.dtype)
    if need_dx:
        dn = dh if a is None else dh * a
        # d/dx of x * rstd(x): rstd * (dn - xhat * mean(dn * xhat))
        dx = (rstd * (dn - xhat * (dn * xhat).mean(-1, keepdim=True))).to(x.dtype)
    return dx, dw, ds, dsh
