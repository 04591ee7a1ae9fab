"""NOTES v25 item 5: would Hopper's TMA (Triton tensor descriptors) take the forward's loads off the threads?
Static only: the probe's full level written with descriptors, compiled for sm_90 here (no GPU needed).

    python bench/results/h100-v25/tma_static.py      # with triton 3.6 (the GPU's) or 3.9

Prints, per tile, the shared memory, TMA copies, mbarrier waits, barriers and shared-memory loads in the PTX.
"""
import re

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource


@triton.jit
def tma_full_kernel(X, Y, W, SCALE, SHIFT, n_rows, n_cols, n_mod, rows_per_mod, eps,
                    BLOCK_D: tl.constexpr, NUM_CHUNKS: tl.constexpr):
    """One row per program, per-batch modulation, as fwd_breakdown's probe at its full level."""
    row = tl.program_id(0)
    xd = tl.make_tensor_descriptor(X, [n_rows, n_cols], [n_cols, 1], [1, BLOCK_D])
    yd = tl.make_tensor_descriptor(Y, [n_rows, n_cols], [n_cols, 1], [1, BLOCK_D])
    wd = tl.make_tensor_descriptor(W, [1, n_cols], [n_cols, 1], [1, BLOCK_D])
    sd = tl.make_tensor_descriptor(SCALE, [n_mod, n_cols], [n_cols, 1], [1, BLOCK_D])
    hd = tl.make_tensor_descriptor(SHIFT, [n_mod, n_cols], [n_cols, 1], [1, BLOCK_D])
    squares = tl.zeros([1, BLOCK_D], tl.float32)
    for c in tl.static_range(NUM_CHUNKS):
        xf = xd.load([row, c * BLOCK_D]).to(tl.float32)
        squares += xf * xf
    rstd = 1.0 / tl.sqrt(tl.sum(squares, 1) / n_cols + eps)
    m = row // rows_per_mod
    for c in tl.static_range(NUM_CHUNKS):
        xf = xd.load([row, c * BLOCK_D]).to(tl.float32)
        w = wd.load([0, c * BLOCK_D]).to(tl.float32)
        s = sd.load([m, c * BLOCK_D]).to(tl.float32)
        h = hd.load([m, c * BLOCK_D]).to(tl.float32)
        y = (xf * rstd[:, None]).to(Y.dtype.element_ty).to(tl.float32) * w
        yd.store([row, c * BLOCK_D], (y * (1.0 + s) + h).to(Y.dtype.element_ty))


def main():
    k = tma_full_kernel
    sig = {p.name: "constexpr" if p.is_constexpr else "*bf16" if p.name.isupper() else "fp32" if p.name == "eps"
           else "i32" for p in k.params}
    print(f"triton {triton.__version__}, sm_90")
    for block_d, chunks, warps, shape in [(1024, 4, 4, "Z-Image"), (512, 5, 2, "Lumina2")]:
        src = ASTSource(fn=k, signature=sig, constexprs=dict(BLOCK_D=block_d, NUM_CHUNKS=chunks))
        c = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=warps))
        ptx = c.asm["ptx"]
        counts = {what: len(re.findall(pattern, ptx)) for what, pattern in [
            ("TMA copies", r"cp\.async\.bulk\.tensor"), ("mbarrier waits", r"mbarrier\.try_wait"),
            ("bar.sync", r"bar\.sync"), ("ld.shared", r"ld\.shared")]}
        print(f"{shape} tile ({chunks} x {block_d}, {warps} warps): shared memory {c.metadata.shared} B, "
              + ", ".join(f"{n} {what}" for what, n in counts.items()))


if __name__ == "__main__":
    main()
