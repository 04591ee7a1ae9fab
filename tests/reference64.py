"""An independent float64 evaluation of the contract (SPEC.md), and the error each result may have.

Values: the formula in float64, with the contract's deliberate roundings applied as straight-through
roundings (value rounded to x's dtype, gradient identity), so float64 autograd gives exactly the
contract's gradients ("deliberate roundings treated as identity; dweight uses the rounded n").

Tolerances, elementwise, each term a worst-case bound (u = unit roundoff = finfo.eps / 2):
  * final rounding of a result to its dtype:                 u_out * |value| (+ half the subnormal spacing)
  * float32 arithmetic inside the kernel (a chain of k ops):  k * u_compute * (sum of |terms|)
    where sums of n terms count n ops (recursive summation bound, Higham 2002, eq. 4.4)
  * a deliberate rounding point may land on the other side of a tie because the kernel's float32
    input to it differs from the float64 one: one ulp (2 u_x) of that intermediate, carried through the
    rest of the formula by the absolute values of the factors that follow. llama has one such point
    (n), none four (rstd, n, weight + offset, h), gemma none.
"""
import torch

F64 = torch.float64


def unit_roundoff(dtype):
    return torch.finfo(dtype).eps / 2


def rounding_error(value, dtype):
    """Bound on rounding `value` to dtype: u |value|, or half the subnormal spacing below the normal range."""
    return unit_roundoff(dtype) * value.abs() + unit_roundoff(dtype) * torch.finfo(dtype).smallest_normal


def compute_dtype(x_dtype):
    return F64 if x_dtype == F64 else torch.float32


def _ste_round(t, dtype):
    return t + (t.to(dtype).to(F64) - t).detach()


def align(t, x_dim):
    """(B, D) with x of 3+ dims is per-batch (SPEC rule 2); everything else broadcasts as is."""
    if t.dim() == 2 and x_dim >= 3:
        return t.reshape(t.shape[0], *([1] * (x_dim - 2)), t.shape[1])
    return t


def forward64(x, weight, scale, shift, eps, offset, mode, x_dtype):
    """Float64 tensors in (x already holding x_dtype values); returns y and the pieces it is built of."""
    rstd = (x * x).mean(-1, keepdim=True).add(eps).rsqrt()
    if mode == "none":
        rstd = _ste_round(rstd, x_dtype)
    xhat = x * rstd
    n = xhat if mode == "gemma" else _ste_round(xhat, x_dtype)
    if weight is None:
        a, h = None, n
    else:
        a = weight + offset
        if mode == "none":
            a = _ste_round(a, x_dtype)
        h = n * a
        if mode == "none":
            h = _ste_round(h, x_dtype)
    s1 = 1 + align(scale, x.dim())
    y = h * s1
    if shift is not None:
        y = y + align(shift, x.dim())
    return y, dict(rstd=rstd, xhat=xhat, n=n, a=a, h=h, s1=s1)


def reduce_to(t, like, x_dim):
    """Sum t (x's shape) over the dims that `like` (scale's shape) broadcasts, into like's shape."""
    return t.sum_to_size(align(like, x_dim).shape).reshape(like.shape)


def flip_count(mode):
    return {"llama": 1, "gemma": 0, "none": 4}[mode]


def run(x, weight, scale, shift, dy, eps, offset, mode):
    """Float64 values and error bounds for y and every gradient of the op on these inputs.

    Returns {"y": (value, bound), "x": (dx, bound), "weight": ..., "scale": ..., "shift": ...}.
    """
    x_dtype = x.dtype
    ux, uc = unit_roundoff(x_dtype), unit_roundoff(compute_dtype(x_dtype))
    flips = flip_count(mode) * 2 * ux
    leaves = {k: (t.detach().to(F64).requires_grad_(True) if t is not None else None)
              for k, t in dict(x=x, weight=weight, scale=scale, shift=shift).items()}
    y, p = forward64(leaves["x"], leaves["weight"], leaves["scale"], leaves["shift"], eps, offset, mode, x_dtype)
    dy64 = dy.to(F64)
    wanted = [k for k, t in leaves.items() if t is not None]
    grads = dict(zip(wanted, torch.autograd.grad(y, [leaves[k] for k in wanted], dy64)))

    d = x.shape[-1]
    nd = x.dim()
    with torch.no_grad():
        h, xhat, rstd = p["h"].abs(), p["xhat"].abs(), p["rstd"]
        s1, s_abs = p["s1"].abs(), (p["s1"] - 1).abs()
        a = p["a"].abs() if p["a"] is not None else torch.ones_like(h[..., :1])
        sh = align(shift, nd).to(F64).abs() if shift is not None else 0.0
        ady = dy64.abs()
        out = {}
        # y: final rounding; rstd's sum of D squares (relative error (D - 1) u, halved by the square root);
        # ~8 float32 ops on operands of size |h|, |h * scale|, |h * (1 + scale)|, |shift| (the kernel
        # computes (h + shift) + h * scale); rounding-point flips carried by a * (1 + scale)
        y_mag = h * (s1 + s_abs + 1) + sh
        y_err = (d / 2 + 8) * uc * y_mag + flips * xhat * a * s1
        out["y"] = (y.detach(), rounding_error(y.detach(), x_dtype) + y_err)
        # dx = rstd * (dn - xhat * mean(dn * xhat)), dn = dy * (1 + scale) * a; the mean sums D terms
        dn = ady * s1 * a
        mean_abs = (dn * xhat).mean(-1, keepdim=True)
        dx_mag = rstd * (dn + xhat * mean_abs)
        dx_err = (3 * d / 2 + 8) * uc * dx_mag + (2 * ux if mode == "none" else 0.0) * 2 * dx_mag
        out["x"] = (grads["x"], rounding_error(grads["x"], x.dtype) + dx_err)
        if weight is not None:
            # dweight = sum over N rows of dy * (1 + scale) * n; n carries rstd's (D / 2) u
            rows = x.numel() // d
            terms = (ady * s1 * p["n"].abs()).reshape(-1, d)
            flip = (ady * s1 * xhat * flips).reshape(-1, d).sum(0)
            g = grads["weight"]
            out["weight"] = (g, rounding_error(g, weight.dtype) + (rows + d / 2 + 8) * uc * terms.sum(0) + flip)
        for name, t in (("scale", scale), ("shift", shift)):
            if t is None:
                continue
            count = x.numel() // max(t.numel(), 1)
            terms = ady * h if name == "scale" else ady
            flip = ady * xhat * a * flips if name == "scale" else torch.zeros_like(ady)
            g = grads[name]
            bound = rounding_error(g, t.dtype) + (count + d / 2 + 8) * uc * reduce_to(terms, t, nd) + reduce_to(flip, t, nd)
            out[name] = (g, bound)
    return out


def naive_in_dtype(x, weight, scale, shift, eps, offset):
    """The same formula written with PyTorch ops in x's dtype, as users write it today."""
    dt = x.dtype
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    if weight is not None:
        y = y * (weight.to(dt) + offset)
    y = y * (1 + align(scale, x.dim()).to(dt))
    if shift is not None:
        y = y + align(shift, x.dim()).to(dt)
    return y


def exact64(x, weight, scale, shift, eps, offset):
    """The formula in float64 with no intermediate rounding at all: the target both are measured against."""
    up = lambda t: t.to(F64) if t is not None else None
    return naive_in_dtype(up(x), up(weight), up(scale), up(shift), eps, offset)
