"""Pieces both kernels share: row addressing, the casting-mode roundings, the normalization.

Every value is loaded and then converted to COMPUTE (float32, or float64 for float64 x) before any
arithmetic; roundings to x's dtype are explicit (`round_to`), at the points reference.py names.
"""
import os

import triton
import triton.language as tl

MODE_IDS = {"llama": 0, "gemma": 1, "none": 2}
GEMMA = tl.constexpr(MODE_IDS["gemma"])
NONE = tl.constexpr(MODE_IDS["none"])
# The Triton interpreter truncates float32 -> bfloat16 (seen with triton 3.9); the GPU's conversion rounds
# to nearest even in one instruction. Only the interpreter gets the rounding spelled out.
SOFT_BF16_ROUNDING = tl.constexpr(os.environ.get("TRITON_INTERPRET") == "1")


@triton.jit
def row_coords(rows, size1, size2, size3):
    """Coordinates of int64 row indices in the (size0, size1, size2, size3) leading index space."""
    c3 = rows % size3
    rest = rows // size3
    c2 = rest % size2
    rest = rest // size2
    return rest // size1, rest % size1, c2, c3


@triton.jit
def row_offsets(rows, c0, c1, c2, c3, s0, s1, s2, s3, LINEAR: tl.constexpr):
    """Element offsets of rows (coordinates c0..c3) in a tensor with strides s0..s3. LINEAR: its rows are
    evenly spaced, s3 apart (broadcast.linear_row_strides), so rows * s3 needs no coordinates and the
    divisions that find them stay off its loads' path."""
    if LINEAR:
        return rows * s3
    else:
        return c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3


@triton.jit
def cast_to(v, DTYPE: tl.constexpr):
    """v converted to DTYPE, rounding to nearest even (spelled out for bfloat16 under the interpreter)."""
    if SOFT_BF16_ROUNDING and DTYPE == tl.bfloat16:
        bits = v.to(tl.float32).to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        rounded = bits.to(tl.float32, bitcast=True)
        return tl.where(v != v, v, rounded).to(tl.bfloat16)  # keep NaN payloads out of the carry
    else:
        return v.to(DTYPE)


@triton.jit
def as_compute(scalar, COMPUTE: tl.constexpr):
    """A float argument in COMPUTE. Triton's launcher passes Python floats as fp32, Inductor's as fp64,
    which would carry every value that touches it into float64 (v4: backward 20x slower under Inductor)."""
    if COMPUTE == tl.float32:
        return tl.cast(scalar, tl.float32)  # tl.cast, not .to: the scalar may also arrive as a constant
    else:
        return scalar  # float64 math: used as given (a cast would round a constant through float32)


@triton.jit
def round_to(v, DTYPE: tl.constexpr, COMPUTE: tl.constexpr):
    return cast_to(v, DTYPE).to(COMPUTE)


@triton.jit
def inv_rms(sum_sq, n_cols, eps, MODE: tl.constexpr, X_DTYPE: tl.constexpr, COMPUTE: tl.constexpr):
    """rstd = 1 / sqrt(mean(x^2) + eps), per row; rounded to x's dtype in "none" mode.

    Evaluated in float64 (an error of about 1e-16) and rounded once, so rstd is the correctly rounded value
    but in vanishingly rare ties. One reciprocal square root and one multiply: this sits on the backward's
    per-row critical path, where a float64 division and square root cost about 30 dependent operations."""
    # n_cols is a constexpr in every kernel: the float64 reciprocal is folded at compile time, not a ~20-step
    # division on each row's critical path (bench/NOTES.md v9)
    mean_sq = sum_sq.to(tl.float64) * (1.0 / tl.cast(n_cols, tl.float64))
    rstd = tl.math.rsqrt(mean_sq + as_compute(eps, COMPUTE)).to(COMPUTE)
    if MODE == NONE:
        rstd = round_to(rstd, X_DTYPE, COMPUTE)
    return rstd


@triton.jit
def load_affine(W, cols, col_ok, w_sd, offset, MODE: tl.constexpr, X_DTYPE: tl.constexpr, COMPUTE: tl.constexpr):
    """a = weight + offset for one block of columns; in x's dtype in "none" mode."""
    a = tl.load(W + cols.to(tl.int64) * w_sd, mask=col_ok, other=0.0).to(COMPUTE) + as_compute(offset, COMPUTE)
    if MODE == NONE:
        a = round_to(a, X_DTYPE, COMPUTE)
    return a


@triton.jit
def normalize(xf, rstd, a, HAS_W: tl.constexpr, MODE: tl.constexpr, X_DTYPE: tl.constexpr, COMPUTE: tl.constexpr):
    """For a [rows, cols] tile: xhat = x * rstd, n = xhat as the forward rounds it, h = n * a."""
    xhat = xf * rstd[:, None]
    if MODE == GEMMA:
        n = xhat
    else:
        n = round_to(xhat, X_DTYPE, COMPUTE)
    if HAS_W:
        h = n * a[None, :]
        if MODE == NONE:
            h = round_to(h, X_DTYPE, COMPUTE)
    else:
        h = n
    return xhat, n, h


@triton.jit
def chunk_columns(c: tl.constexpr, BLOCK_D: tl.constexpr, n_cols):
    """Columns of chunk c of a row, and which of them are in the row."""
    cols = c * BLOCK_D + tl.arange(0, BLOCK_D)
    return cols, cols < n_cols


@triton.jit
def load_rows(PTR, row_off, col_stride, cols, mask, COMPUTE: tl.constexpr,
              EVICTION: tl.constexpr = tl.constexpr("")):  # wrapped: triton 3.6 passes a plain default as is
    """A [rows, cols] tile of a row-strided tensor, converted to COMPUTE. EVICTION: the cache eviction hint
    ("evict_last", "evict_first"; "" for none)."""
    ptrs = PTR + row_off[:, None] + cols.to(tl.int64)[None, :] * col_stride
    return tl.load(ptrs, mask=mask, other=0.0, eviction_policy=EVICTION).to(COMPUTE)
