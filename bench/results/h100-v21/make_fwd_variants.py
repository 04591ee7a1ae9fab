"""Scratch packages for fwd_bisect.sh: the shipped forward moved toward bench/fwd_breakdown.py's probe one
difference at a time (experiments only: each variant is valid for the benchmark shapes, not in general).

    python bench/results/h100-v21/make_fwd_variants.py      # from the repository root; writes scratch/<name>

main     main's package (git archive HEAD)
keepx    x kept in registers between the passes, no second read, first reads unhinted (as the probe's
         "full, in registers"); keepx0: and nothing loaded ahead (FORWARD_LOAD_AHEAD = 0, as the probe)
*_f32    rstd as the probe computes it, in float32 (1 / sqrt), not float64 rounded once
*_nomask no row mask: row_ok a compile-time true (every program's rows exist at BLOCK_R = 1)
*_linear x's and y's row offsets as row * D (contiguous x), not from the 4-D row coordinates and strides
*_nr     rstd_newton_unmeasured.diff's kernels: rstd from float32 rsqrt.approx and two float64 Newton steps
         (no branch to libdevice's slow path; the same float32 rstd, tested bitwise in the diff's test)
"""
import os
import shutil
import subprocess


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise SystemExit(f"{path}: {old!r} not found")
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def keep_x(pkg):
    fwd = f"{pkg}/modnorm_op/kernels/forward.py"
    edit(fwd, 'xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE, "evict_last" if NUM_CHUNKS > 1 else "")',
         'xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE, "")')
    edit(fwd, "if c < LOAD_AHEAD or NUM_CHUNKS == 1:  # a row of one chunk is never read twice\n            xs += (xf,)",
         "xs += (xf,)")
    edit(fwd, '            if NUM_CHUNKS > 1:  # read again, from L2\n                xs += (load_rows(X, x_row, x_sd, cols, '
              'mask, COMPUTE, "evict_first"),)\n', "")


def ahead_0(pkg):
    edit(f"{pkg}/modnorm_op/heuristics.py", "FORWARD_LOAD_AHEAD = 1", "FORWARD_LOAD_AHEAD = 0")


def f32_rstd(pkg):
    common = f"{pkg}/modnorm_op/kernels/common.py"
    edit(common, "    mean_sq = sum_sq.to(tl.float64) * (1.0 / tl.cast(n_cols, tl.float64))\n"
                 "    rstd = tl.math.rsqrt(mean_sq + as_compute(eps, COMPUTE)).to(COMPUTE)",
         "    rstd = 1.0 / tl.sqrt(sum_sq / n_cols + as_compute(eps, COMPUTE))")


def newton_rstd(pkg):
    diff = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rstd_newton_unmeasured.diff")
    subprocess.run(["git", "apply", f"--directory={pkg}", f"--include={pkg}/modnorm_op/*", diff], check=True)
    with open(f"{pkg}/modnorm_op/kernels/common.py") as f:
        if "def rsqrt_to_float32" not in f.read():
            raise SystemExit(f"{pkg}: {diff} did not apply")


def no_row_mask(pkg):
    edit(f"{pkg}/modnorm_op/kernels/forward.py", "row_ok = rows < n_rows", "row_ok = tl.arange(0, BLOCK_R) < BLOCK_R")


def linear_rows(pkg):
    fwd = f"{pkg}/modnorm_op/kernels/forward.py"
    edit(fwd, "x_row = row_offsets(c0, c1, c2, c3, x_s0, x_s1, x_s2, x_s3)", "x_row = rows * N_COLS")
    edit(fwd, "y_row = row_offsets(c0, c1, c2, c3, y_s0, y_s1, y_s2, y_s3)", "y_row = rows * N_COLS")


VARIANTS = {
    "keepx0": (keep_x, ahead_0),
    "keepx0_f32": (keep_x, ahead_0, f32_rstd),
    "keepx0_nomask": (keep_x, ahead_0, no_row_mask),
    "keepx0_linear": (keep_x, ahead_0, linear_rows),
    "keepx0_f32_nomask": (keep_x, ahead_0, f32_rstd, no_row_mask),
    "keepx0_f32_nomask_linear": (keep_x, ahead_0, f32_rstd, no_row_mask, linear_rows),
    "keepx0_nr": (keep_x, ahead_0, newton_rstd),
    "main_f32": (f32_rstd,),
    "main_nr": (newton_rstd,),
    "main_nomask": (no_row_mask,),
}

if __name__ == "__main__":
    shutil.rmtree("scratch/main", ignore_errors=True)
    os.makedirs("scratch/main")
    subprocess.run("git archive HEAD modnorm_op | tar -x -C scratch/main", shell=True, check=True)
    for name, edits in VARIANTS.items():
        shutil.rmtree(f"scratch/{name}", ignore_errors=True)
        shutil.copytree("scratch/main", f"scratch/{name}")
        for e in edits:
            e(f"scratch/{name}")
        print("scratch/" + name)
