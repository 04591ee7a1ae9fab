"""Forward kernel: y = h * (1 + scale) + shift, h = rms_norm(x) * (weight + offset), one pass over x.

Each program handles BLOCK_R rows. A row that fits one BLOCK_D block stays in registers; a longer row
(CHUNKED) is read twice in BLOCK_D chunks: sum of squares first, then normalize and store. With TAIL_D > 0
the row is two blocks, BLOCK_D columns and then up to TAIL_D more (5120 = 4096 + 1024), so that no lane of a
power-of-two block padded past D idles.
"""
import triton
import triton.language as tl

from .common import cast_to, inv_rms, load_affine, load_rows, normalize, row_coords, row_offsets


@triton.jit
def _store_chunk(xf, rstd, cols, row_ok, n_cols, Y, y_row, W, w_sd, SCALE, sc_row, sc_sd, SHIFT, sh_row, sh_sd,
                 offset, HAS_W: tl.constexpr, HAS_SHIFT: tl.constexpr, MODE: tl.constexpr,
                 COMPUTE: tl.constexpr):
    """Normalize, weight, modulate and store one [BLOCK_R, BLOCK_D] tile of rows."""
    X_DTYPE: tl.constexpr = Y.dtype.element_ty
    col_ok = cols < n_cols
    mask = row_ok[:, None] & col_ok[None, :]
    a = None
    if HAS_W:
        a = load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE)
    _, _, h = normalize(xf, rstd, a, HAS_W, MODE, X_DTYPE, COMPUTE)
    # h * (1 + scale) + shift as one fused multiply-add: h * scale + (h + shift), two roundings, not four
    base = h
    if HAS_SHIFT:
        base += load_rows(SHIFT, sh_row, sh_sd, cols, mask, COMPUTE)
    y = tl.fma(h, load_rows(SCALE, sc_row, sc_sd, cols, mask, COMPUTE), base)
    tl.store(Y + y_row[:, None] + cols[None, :], cast_to(y, X_DTYPE), mask=mask)


@triton.jit
def modnorm_forward_kernel(
    X, Y, W, SCALE, SHIFT,
    n_rows, n_cols, size1, size2, size3,
    x_s0, x_s1, x_s2, x_s3, x_sd,
    y_s0, y_s1, y_s2, y_s3,
    sc_s0, sc_s1, sc_s2, sc_s3, sc_sd,
    sh_s0, sh_s1, sh_s2, sh_s3, sh_sd,
    w_sd, eps, offset,
    MODE: tl.constexpr, HAS_W: tl.constexpr, HAS_SHIFT: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, CHUNKED: tl.constexpr, TAIL_D: tl.constexpr,
):
    X_DTYPE: tl.constexpr = Y.dtype.element_ty
    COMPUTE: tl.constexpr = tl.float64 if X_DTYPE == tl.float64 else tl.float32  # reference.compute_dtype
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = rows < n_rows
    c0, c1, c2, c3 = row_coords(rows, size1, size2, size3)
    x_row = row_offsets(c0, c1, c2, c3, x_s0, x_s1, x_s2, x_s3)
    sc_row = row_offsets(c0, c1, c2, c3, sc_s0, sc_s1, sc_s2, sc_s3)
    sh_row = row_offsets(c0, c1, c2, c3, sh_s0, sh_s1, sh_s2, sh_s3)
    y_row = row_offsets(c0, c1, c2, c3, y_s0, y_s1, y_s2, y_s3)
    if CHUNKED:
        sum_sq = tl.zeros([BLOCK_R], COMPUTE)
        for start in range(0, n_cols, BLOCK_D):
            cols = start + tl.arange(0, BLOCK_D)
            mask = row_ok[:, None] & (cols < n_cols)[None, :]
            xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE)
            sum_sq += tl.sum(xf * xf, 1)
        rstd = inv_rms(sum_sq, n_cols, eps, MODE, X_DTYPE, COMPUTE)
        for start in range(0, n_cols, BLOCK_D):
            cols = start + tl.arange(0, BLOCK_D)
            mask = row_ok[:, None] & (cols < n_cols)[None, :]
            xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE)
            _store_chunk(xf, rstd, cols, row_ok, n_cols, Y, y_row, W, w_sd, SCALE, sc_row, sc_sd, SHIFT, sh_row,
                         sh_sd, offset, HAS_W, HAS_SHIFT, MODE, COMPUTE)
    else:
        cols = tl.arange(0, BLOCK_D)
        mask = row_ok[:, None] & (cols < n_cols)[None, :]
        xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE)
        sum_sq = tl.sum(xf * xf, 1)
        if TAIL_D > 0:
            tail_cols = BLOCK_D + tl.arange(0, TAIL_D)
            x_tail = load_rows(X, x_row, x_sd, tail_cols, row_ok[:, None] & (tail_cols < n_cols)[None, :], COMPUTE)
            sum_sq += tl.sum(x_tail * x_tail, 1)
        rstd = inv_rms(sum_sq, n_cols, eps, MODE, X_DTYPE, COMPUTE)
        _store_chunk(xf, rstd, cols, row_ok, n_cols, Y, y_row, W, w_sd, SCALE, sc_row, sc_sd, SHIFT, sh_row, sh_sd,
                     offset, HAS_W, HAS_SHIFT, MODE, COMPUTE)
        if TAIL_D > 0:
            _store_chunk(x_tail, rstd, tail_cols, row_ok, n_cols, Y, y_row, W, w_sd, SCALE, sc_row, sc_sd, SHIFT,
                         sh_row, sh_sd, offset, HAS_W, HAS_SHIFT, MODE, COMPUTE)
