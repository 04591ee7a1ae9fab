"""The kernels' row coordinates computed in int32 (one experiment, NOTES v28): row_coords replaced in both
kernel modules before anything compiles.

    python bench/results/h200-v28/coords32.py bench.bwd_breakdown --shapes dit_xl,lumina2
    python bench/results/h200-v28/coords32.py bench/results/h200-v28/batch_rows.py

runs that bench module or script with the patch (a process of its own: a compiled kernel keeps the coordinates it
was compiled with).
"""
import runpy
import sys

import triton
import triton.language as tl


@triton.jit
def row_coords32(rows, size1, size2, size3):
    r = rows.to(tl.int32)
    c3 = r % size3
    rest = r // size3
    c2 = rest % size2
    rest = rest // size2
    return (rest // size1).to(tl.int64), (rest % size1).to(tl.int64), c2.to(tl.int64), c3.to(tl.int64)


def patch():
    import modnorm_op.kernels.backward as bwd
    import modnorm_op.kernels.forward as fwd
    fwd.row_coords = bwd.row_coords = row_coords32
    print("row coordinates in int32", flush=True)


if __name__ == "__main__":
    patch()
    sys.argv = sys.argv[1:]
    if sys.argv[0].endswith(".py"):
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        runpy.run_module(sys.argv[0], run_name="__main__")
