"""One forward+backward of the op, and a same-size add (1 read + 1 write, the copy's bytes), per shape, for ncu.
Inputs are made on the CPU so that no other add/elementwise kernel runs on the GPU."""
import sys
import torch
import modnorm_op

SHAPES = {"dit_xl": (32, 256, 1152), "lumina2": (2, 4096, 2304), "z_image": (1, 4096, 3840), "flux": (2, 4608, 3072)}
for name in sys.argv[1:]:
    b, t, d = SHAPES[name]
    g = torch.Generator().manual_seed(0)
    cpu = lambda *s, k=1.0, c=0.0: (c + k * torch.randn(s, generator=g)).to(torch.bfloat16)
    x, dy = cpu(b, t, d).cuda().requires_grad_(), cpu(b, t, d).cuda()
    w = cpu(d, k=0.1, c=1.0).cuda().requires_grad_()
    scale, shift = cpu(b, 1, d, k=0.5).cuda().requires_grad_(), cpu(b, 1, d).cuda().requires_grad_()
    out = torch.empty_like(dy)
    torch.cuda.synchronize()
    print(name, (b, t, d), flush=True)
    y = modnorm_op.modulated_rms_norm(x, w, scale, shift)
    y.backward(dy)
    torch.add(dy, 1.0, out=out)  # the same-size stream
    torch.cuda.synchronize()
