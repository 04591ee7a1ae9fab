"""modnorm_op: the modulated RMSNorm of diffusion transformers as one fused PyTorch operator."""
from .api import (LigerModulatedRMSNorm, ModulatedRMSNorm, liger_modulated_rms_norm, modulated_rms_norm,
                  set_eager_fast_path)

__version__ = "0.1.0"
__all__ = ["modulated_rms_norm", "ModulatedRMSNorm", "liger_modulated_rms_norm", "LigerModulatedRMSNorm",
           "set_eager_fast_path"]
