"""Forward kernel: y = h * (1 + scale) + shift, h = rms_norm(x) * (weight + offset), x read from memory once.

Each program handles BLOCK_R rows of NUM_CHUNKS blocks of BLOCK_D columns. x is loaded first, for the sum
of squares; a row of several chunks is read a second time for the store (finding it in L2) unless it is kept
in registers. LOAD_AHEAD (heuristics.forward_tile says how many, and why) trades registers for waiting: the
compiler must assume that y may alias an input, so a load written after a store is issued after it, and
loading chunk c's inputs right before storing it costs each chunk a memory round trip. With LOAD_AHEAD = k,
the first k chunks' weight, scale and shift are loaded with x (and x kept), and each later chunk's inputs
go out k chunks before its store; k = NUM_CHUNKS loads everything before the first store.

Rows are found through their coordinates in broadcast.plan_rows' index space, except that with LINEAR_ROWS
(x's and y's rows evenly spaced, the common case) x and y are addressed as row * spacing, so the division
that finds a row's batch (for scale and shift) is not on the path of x's loads: 0.1-0.3 us per call at
B > 1 on an H100 (bench/NOTES.md v28). With GROUP_GRID as well (several modulation rows of several rows
each: per-batch, B > 1) the grid is (modulation rows, blocks of one modulation row's rows), launched
modulation row fastest, so every modulation row is in use from the start (a batch-major order, reading
batch 1's row from half-way, was 0.8-1.1 us slower at (2, 4096, 2304) in a direct launch, NOTES v29); each
program finds its one modulation row from its group index, with no division for a single modulation dim.
On an H100 that took Lumina2 (2, 4096, 2304) from 29.2-29.3 to 28.5 us, DiT-XL and Flux 0.1 us (NOTES v30).

Cache hints, where a row is read twice: its first reads ask to stay (evict_last), its second reads and
the stores of y to go first (evict_first). On an H100 that is 0.2-0.6 us faster at every benchmark shape
than no hints, and faster than hinting only the chunks read again (bench/NOTES.md v18); a memory-bound
kernel reading y right after gives that back, since less of y is left in L2 (NOTES v19). Storing y with no
hint, or reading chunk 0 (kept in registers) with none, made the forward 0.1-0.5 us slower (NOTES v20).
"""
import triton
import triton.language as tl

from .common import cast_to, chunk_columns, inv_rms, load_affine, load_rows, normalize, row_coords, row_offsets


@triton.jit
def _load_modulation(cols, col_ok, mask, W, w_sd, SCALE, sc_row, sc_sd, SHIFT, sh_row, sh_sd, offset,
                     HAS_W: tl.constexpr, HAS_SHIFT: tl.constexpr, MODE: tl.constexpr, X_DTYPE: tl.constexpr,
                     COMPUTE: tl.constexpr):
    """(weight + offset, scale, shift) for one [BLOCK_R, BLOCK_D] tile; in this order, the order the stores'
    math uses them. Triton 3.6 cannot return None from a jit function, so an absent weight's or shift's slot
    holds scale, which _store_chunk never reads (HAS_W / HAS_SHIFT) and the compiler drops."""
    scale = load_rows(SCALE, sc_row, sc_sd, cols, mask, COMPUTE)
    a, shift = scale, scale
    if HAS_W:
        a = load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE)
    if HAS_SHIFT:
        shift = load_rows(SHIFT, sh_row, sh_sd, cols, mask, COMPUTE)
    return a, scale, shift


@triton.jit
def _store_chunk(xf, rstd, a, scale, shift, cols, mask, Y, y_row, HAS_W: tl.constexpr, HAS_SHIFT: tl.constexpr,
                 MODE: tl.constexpr, COMPUTE: tl.constexpr):
    """Normalize, weight, modulate and store one [BLOCK_R, BLOCK_D] tile of rows."""
    X_DTYPE: tl.constexpr = Y.dtype.element_ty
    _, _, h = normalize(xf, rstd, a, HAS_W, MODE, X_DTYPE, COMPUTE)
    # h * (1 + scale) + shift as one fused multiply-add: h * scale + (h + shift), two roundings, not four
    base = h
    if HAS_SHIFT:
        base += shift
    y = tl.fma(h, scale, base)
    tl.store(Y + y_row[:, None] + cols[None, :], cast_to(y, X_DTYPE), mask=mask, eviction_policy="evict_first")


@triton.jit
def modnorm_forward_kernel(
    X, Y, W, SCALE, SHIFT,
    n_rows, size1, size2, size3,
    x_s0, x_s1, x_s2, x_s3, x_sd,
    y_s0, y_s1, y_s2, y_s3,
    sc_s0, sc_s1, sc_s2, sc_s3, sc_sd,
    sh_s0, sh_s1, sh_s2, sh_s3, sh_sd,
    w_sd, group, eps, offset,
    MODE: tl.constexpr, HAS_W: tl.constexpr, HAS_SHIFT: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, NUM_CHUNKS: tl.constexpr, LOAD_AHEAD: tl.constexpr,
    N_COLS: tl.constexpr, LINEAR_ROWS: tl.constexpr, GROUP_GRID: tl.constexpr,
):
    X_DTYPE: tl.constexpr = Y.dtype.element_ty
    COMPUTE: tl.constexpr = tl.float64 if X_DTYPE == tl.float64 else tl.float32  # reference.compute_dtype
    if GROUP_GRID:  # program (g, j): block j of modulation row g's `group` rows; launched g-fastest
        in_group = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
        g = tl.program_id(0).to(tl.int64)
        rows = g * group + in_group
        row_ok = in_group < group
        # sizes and scale/shift strides here are the modulation rows' own (launch.py): one program's rows
        # share one modulation row, and for one modulation dim (per-batch) every size is 1: no division
        g0, g1, g2, g3 = row_coords(g, size1, size2, size3)
        no_rows = tl.zeros([BLOCK_R], tl.int64)
        sc_row = no_rows + row_offsets(g, g0, g1, g2, g3, sc_s0, sc_s1, sc_s2, sc_s3, False)
        sh_row = no_rows + row_offsets(g, g0, g1, g2, g3, sh_s0, sh_s1, sh_s2, sh_s3, False)
        x_row, y_row = rows * x_s3, rows * y_s3  # GROUP_GRID implies LINEAR_ROWS
    else:
        rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
        row_ok = rows < n_rows
        c0, c1, c2, c3 = row_coords(rows, size1, size2, size3)
        x_row = row_offsets(rows, c0, c1, c2, c3, x_s0, x_s1, x_s2, x_s3, LINEAR_ROWS)
        sc_row = row_offsets(rows, c0, c1, c2, c3, sc_s0, sc_s1, sc_s2, sc_s3, False)
        sh_row = row_offsets(rows, c0, c1, c2, c3, sh_s0, sh_s1, sh_s2, sh_s3, False)
        y_row = row_offsets(rows, c0, c1, c2, c3, y_s0, y_s1, y_s2, y_s3, LINEAR_ROWS)
    # Chunk j's weight, scale and shift (and x, re-read, in a row of several chunks) are loaded in the first
    # pass when j < LOAD_AHEAD, otherwise right before chunk j - LOAD_AHEAD's store (see the module docstring).
    # The chunk loops are unrolled and the squares summed lane by lane, then across the row once: every
    # chunk's load is in flight at once, with no barrier between them.
    squares = tl.zeros([BLOCK_R, BLOCK_D], COMPUTE)
    xs, ws, scs, shs = (), (), (), ()  # chunk j's tiles at index j
    for c in tl.static_range(NUM_CHUNKS):
        cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
        mask = row_ok[:, None] & col_ok[None, :]
        xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE, "evict_last" if NUM_CHUNKS > 1 else "")
        squares += xf * xf
        if c < LOAD_AHEAD or NUM_CHUNKS == 1:  # a row of one chunk is never read twice
            xs += (xf,)
        if c < LOAD_AHEAD:
            a, scale, shift = _load_modulation(cols, col_ok, mask, W, w_sd, SCALE, sc_row, sc_sd, SHIFT, sh_row,
                                               sh_sd, offset, HAS_W, HAS_SHIFT, MODE, X_DTYPE, COMPUTE)
            ws, scs, shs = ws + (a,), scs + (scale,), shs + (shift,)
    rstd = inv_rms(tl.sum(squares, 1), N_COLS, eps, MODE, X_DTYPE, COMPUTE)
    for c in tl.static_range(NUM_CHUNKS):
        if c + LOAD_AHEAD < NUM_CHUNKS:  # chunk c + LOAD_AHEAD's inputs
            cols, col_ok = chunk_columns(c + LOAD_AHEAD, BLOCK_D, N_COLS)
            mask = row_ok[:, None] & col_ok[None, :]
            if NUM_CHUNKS > 1:  # read again, from L2
                xs += (load_rows(X, x_row, x_sd, cols, mask, COMPUTE, "evict_first"),)
            a, scale, shift = _load_modulation(cols, col_ok, mask, W, w_sd, SCALE, sc_row, sc_sd, SHIFT, sh_row,
                                               sh_sd, offset, HAS_W, HAS_SHIFT, MODE, X_DTYPE, COMPUTE)
            ws, scs, shs = ws + (a,), scs + (scale,), shs + (shift,)
        cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
        mask = row_ok[:, None] & col_ok[None, :]
        _store_chunk(xs[c], rstd, ws[c], scs[c], shs[c], cols, mask, Y, y_row, HAS_W, HAS_SHIFT, MODE, COMPUTE)
