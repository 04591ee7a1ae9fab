"""Scratch packages for probe_and_bwd_parts.sh's forward A/B: the forward's L1 use (experiments only).

    python bench/results/h100-v23/make_l1_variants.py      # from the repository root; writes scratch/<name>

Hypothesis: x's first reads carry L1::evict_last (Triton's eviction_policy sets the L1 and the L2 policy),
so in each SM's L1 the streamed rows of x outrank the weight, scale and shift rows every program re-reads;
those then come from L2, and their latency is the 1.1-1.9 us that scale and shift cost (NOTES v21 item 3).
main     main's package (git archive HEAD)
mod_el   the weight, scale and shift loads marked evict_last as well (the forward's and the backward's)
x2_cg    the second read of x with cache operator .cg (L2 only, no L1 line) instead of evict_first
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "h100-v21"))
from make_fwd_variants import edit  # noqa: E402  (v21's scratch-package editor)


def mod_evict_last(pkg):
    fwd = f"{pkg}/modnorm_op/kernels/forward.py"
    edit(fwd, "scale = load_rows(SCALE, sc_row, sc_sd, cols, mask, COMPUTE)",
         'scale = load_rows(SCALE, sc_row, sc_sd, cols, mask, COMPUTE, "evict_last")')
    edit(fwd, "shift = load_rows(SHIFT, sh_row, sh_sd, cols, mask, COMPUTE)",
         'shift = load_rows(SHIFT, sh_row, sh_sd, cols, mask, COMPUTE, "evict_last")')
    edit(f"{pkg}/modnorm_op/kernels/common.py", "a = tl.load(W + cols.to(tl.int64) * w_sd, mask=col_ok, other=0.0)",
         'a = tl.load(W + cols.to(tl.int64) * w_sd, mask=col_ok, other=0.0, eviction_policy="evict_last")')


def second_read_cg(pkg):
    edit(f"{pkg}/modnorm_op/kernels/forward.py",
         'xs += (load_rows(X, x_row, x_sd, cols, mask, COMPUTE, "evict_first"),)',
         'xs += (tl.load(X + x_row[:, None] + cols.to(tl.int64)[None, :] * x_sd, mask=mask, other=0.0, '
         'cache_modifier=".cg").to(COMPUTE),)')


VARIANTS = {"main": [], "mod_el": [mod_evict_last], "x2_cg": [second_read_cg]}


def build(variants):
    """scratch/<name> for each variant: main's package (git archive HEAD) with the variant's edits."""
    os.makedirs("scratch", exist_ok=True)
    for name, edits in variants.items():
        pkg = f"scratch/{name}"
        shutil.rmtree(pkg, ignore_errors=True)
        os.makedirs(pkg)
        subprocess.run(f"git archive HEAD modnorm_op | tar -x -C {pkg}", shell=True, check=True)
        for e in edits:
            e(pkg)
        print(pkg)


if __name__ == "__main__":
    build(VARIANTS)
