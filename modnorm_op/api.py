"""Public functions and the module. Every call is torch.ops.modnorm.modulated_rms_norm; with the opt-in eager fast
path (set_eager_fast_path), in plain eager mode the same bodies and autograd formula without the dispatcher."""
import torch

from . import ops  # registers torch.ops.modnorm.*
from .ops import set_eager_fast_path  # noqa: F401  (public)
from .reference import CASTING_MODES

INIT_FNS = ("ones", "zeros")


def modulated_rms_norm(x, weight, scale, shift=None, eps=1e-6, offset=0.0, casting_mode="llama", in_place=True):
    """y = rms_norm(x, weight + offset, eps) * (1 + scale) + shift, fused; differentiable.

    x: (*L, D). weight: (D,) or None. scale/shift: broadcast to x (SPEC.md rules), shift optional.
    Returns a new contiguous tensor of x's shape and dtype.
    """
    # here, not in ops: Dynamo folds is_compiling(), so compiled code never touches ops (no guard on the setting,
    # nor the Python guard Dynamo adds when it reaches that module through two names)
    if not torch.compiler.is_compiling() and ops.use_eager_fast_path(x, weight, scale, shift):
        return ops.eager_modulated_rms_norm(x, weight, scale, shift, eps, offset, casting_mode, in_place)
    return torch.ops.modnorm.modulated_rms_norm(x, weight, scale, shift, eps, offset, casting_mode, in_place)


class ModulatedRMSNorm(torch.nn.RMSNorm):
    """torch.nn.RMSNorm whose forward also applies the modulation: forward(x, scale, shift=None).

    The parameter is `weight`, so torch.nn.RMSNorm / diffusers RMSNorm state dicts load into it.
    init_fn: "ones" (weight used as is) or "zeros" (with offset=1.0, the Gemma convention).
    """

    def __init__(self, hidden_size, eps=1e-6, offset=0.0, casting_mode="llama", init_fn="ones", in_place=True,
                 elementwise_affine=True, device=None, dtype=None):
        if init_fn not in INIT_FNS:
            raise ValueError(f"init_fn must be one of {INIT_FNS}, got {init_fn!r}")
        if casting_mode not in CASTING_MODES:
            raise ValueError(f"casting_mode must be one of {CASTING_MODES}, got {casting_mode!r}")
        self.init_fn = init_fn
        super().__init__(hidden_size, eps=eps, elementwise_affine=elementwise_affine, device=device, dtype=dtype)
        self.offset, self.casting_mode, self.in_place = offset, casting_mode, in_place

    def reset_parameters(self):
        if self.weight is not None:
            torch.nn.init.ones_(self.weight) if self.init_fn == "ones" else torch.nn.init.zeros_(self.weight)

    def forward(self, x, scale, shift=None):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps  # torch.nn.RMSNorm's eps=None
        return modulated_rms_norm(x, self.weight, scale, shift, eps, self.offset, self.casting_mode, self.in_place)

    def extra_repr(self):
        return f"{super().extra_repr()}, offset={self.offset}, casting_mode={self.casting_mode!r}"


# Drop-in names for code written against the Liger-Kernel proposal.
liger_modulated_rms_norm = modulated_rms_norm
LigerModulatedRMSNorm = ModulatedRMSNorm
