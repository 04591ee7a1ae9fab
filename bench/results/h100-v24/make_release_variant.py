"""Scratch package for NOTES v24 item 5: a forward that gives back the L2 priority its evict_last reads took
(an experiment only: bf16 rows whose start is 128-byte aligned, as at every benchmark shape).

    python bench/results/h100-v24/make_release_variant.py      # from the repository root; writes scratch/<name>

main     main's package (git archive HEAD)
release  after a row's last store, one applypriority.global.L2::evict_normal per 128-byte line of the row of
         x (64 bf16 columns), so the lines the first reads protected (chunk 0, never read again; and the
         others, if their evict_first second read leaves them protected) compete for L2 as normal lines do
Prediction: the forward itself level with main (a few instructions a row); in l2_withheld.py, the state after
the release forward level with fresh; bench.run's forward+backward slower, by what the backward found of x
in L2 after main's forward (v19 item 3: 1.7-2.8 us).
"""
import os
import sys

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", v) for v in ("h100-v21", "h100-v23")]
from make_l1_variants import build, edit  # noqa: E402  (v21's scratch-package editor, v23's builder)

RELEASE = '''

@triton.jit
def _release_rows(X, x_row, x_sd, row_ok, N_COLS: tl.constexpr, BLOCK_D: tl.constexpr, NUM_CHUNKS: tl.constexpr):
    """applypriority L2::evict_normal on each 128-byte line of the rows of x (bf16: 64 columns a line)."""
    for c in tl.static_range(NUM_CHUNKS):
        first = c * BLOCK_D + tl.arange(0, BLOCK_D // 64) * 64
        ok = row_ok[:, None] & (first < N_COLS)[None, :]
        ptrs = X + tl.where(ok, x_row[:, None] + first.to(tl.int64)[None, :] * x_sd, 0)
        tl.inline_asm_elementwise("applypriority.global.L2::evict_normal [$1], 128;\\n mov.u32 $0, 0;", "=r,l",
                                  [ptrs], dtype=tl.int32, is_pure=False, pack=1)
'''
STORE = ("        _store_chunk(xs[c], rstd, ws[c], scs[c], shs[c], cols, mask, Y, y_row, HAS_W, HAS_SHIFT, MODE, "
         "COMPUTE)")


def release(pkg):
    fwd = f"{pkg}/modnorm_op/kernels/forward.py"
    edit(fwd, "\n\n@triton.jit\ndef modnorm_forward_kernel(", RELEASE + "\n\n@triton.jit\ndef modnorm_forward_kernel(")
    edit(fwd, STORE, STORE + "\n    if NUM_CHUNKS > 1:  # the rows whose first reads were hinted evict_last\n"
                           "        _release_rows(X, x_row, x_sd, row_ok, N_COLS, BLOCK_D, NUM_CHUNKS)")


VARIANTS = {"main": [], "release": [release]}

if __name__ == "__main__":
    build(VARIANTS)
