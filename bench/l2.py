"""The L2 state a timing starts from: lines an earlier kernel left protected are reset to normal priority.

A line read with evict_last (our forward's first reads of x, some probe levels) stays in the H100's 50 MB L2
through later kernels' normal and evict_first traffic. A kernel timed later that reads the same memory
unhinted then finds part of it in L2: torch's copy of Z-Image's x took 21.3 us instead of 22.7, a forward
with x read once 23.1 instead of 24.5 (bench/NOTES.md v24). bench.run.time_fn, which every timing loop goes
through, calls reset_l2_priority on the tensors a timing reads, so each starts from the same L2 whatever ran
before it in the process.
"""
import torch
import triton
import triton.language as tl

LINE_BYTES = 128  # an L2 line; applypriority takes one aligned line per instruction
LINES_PER_PROGRAM = 1024


@triton.jit
def evict_normal_kernel(BASE, n_lines, BLOCK: tl.constexpr):
    """applypriority.global.L2::evict_normal on each 128-byte line from BASE (bytes) on; lines not in L2
    are left alone. The padding lanes repeat the last line."""
    lines = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ptrs = BASE + tl.minimum(lines, n_lines - 1) * 128
    tl.inline_asm_elementwise("applypriority.global.L2::evict_normal [$1], 128;\n mov.u32 $0, 0;", "=r,l", [ptrs],
                              dtype=tl.int32, is_pure=False, pack=1)


def reset_l2_priority(tensors):
    """Every line of each CUDA tensor's storage back to normal L2 priority (a no-op for other devices)."""
    for t in tensors:
        if t.device.type != "cuda" or t.untyped_storage().nbytes() == 0:
            continue
        storage = torch.empty(0, dtype=torch.uint8, device=t.device).set_(t.untyped_storage())
        if storage.data_ptr() % LINE_BYTES:
            raise ValueError(f"reset_l2_priority: a tensor's storage starts off a {LINE_BYTES}-byte line")
        n_lines = triton.cdiv(storage.numel(), LINE_BYTES)
        evict_normal_kernel[(triton.cdiv(n_lines, LINES_PER_PROGRAM),)](storage, n_lines, BLOCK=LINES_PER_PROGRAM)
