"""Input validation: every rejected input gets a ValueError/TypeError that names the argument.

Runs in the op itself (and its fake), so torch.ops.modnorm.* callers and torch.compile traces see the
same errors as the Python API.
"""
import math

import torch

from .broadcast import aligned_modulation_shape
from .reference import CASTING_MODES

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_tensor(name, t, x):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    if x is not None and t.device != x.device:
        raise ValueError(f"{name} is on {t.device} but x is on {x.device}; all tensors must be on one device")


def check_inputs(x, weight, scale, shift, eps, offset, casting_mode):
    """Validates the op's arguments; returns scale's shape aligned to x's leading dims."""
    _check_tensor("x", x, None)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have a last (hidden) dim of size >= 1, got x shape {tuple(x.shape)}")
    n_cols = x.shape[-1]
    if weight is not None:
        _check_tensor("weight", weight, x)
        if tuple(weight.shape) != (n_cols,):
            raise ValueError(f"weight must have shape ({n_cols},) for x of shape {tuple(x.shape)}, "
                             f"got {tuple(weight.shape)}")
    _check_tensor("scale", scale, x)
    aligned = aligned_modulation_shape(x.shape, scale.shape, "scale")
    if shift is not None:
        _check_tensor("shift", shift, x)
        if shift.shape != scale.shape:
            raise ValueError(f"shift must have scale's shape {tuple(scale.shape)}, got {tuple(shift.shape)}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number, got {offset!r}")
    if weight is None and offset != 0:
        raise ValueError(f"offset={offset} is added to the weight, but weight is None")
    if casting_mode not in CASTING_MODES:
        raise ValueError(f"casting_mode must be one of {CASTING_MODES}, got {casting_mode!r}")
    return aligned
