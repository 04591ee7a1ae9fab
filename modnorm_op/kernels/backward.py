"""Backward kernels: dx, and deterministic float32 sums for dweight, dscale and dshift, without atomics.

With h = n * a (n the normalized x as the forward rounded it, a = weight + offset, xhat = x * rstd):
    dshift = sum dy             dscale = sum dy * h           dh = dy * (1 + scale)
    dweight = sum dh * n        dn = dh * a                   dx = rstd * (dn - xhat * mean(dn * xhat))
where the sums run over the rows that share a modulation row (dscale, dshift) or over all rows (dweight).

Rows are visited in the order of broadcast.plan_rows: the G rows of modulation row m are [m*G, (m+1)*G),
cut into `splits` items (heuristics.Split): consecutive rows, or with STRIDED_ROWS the rows s, s + splits,
s + 2 * splits, ... of the group for item s, so that a group's programs read neighbouring rows at the same
time (heuristics says where that is faster). With LINEAR_ROWS, x, dy and dx are addressed as row * spacing,
with no division in the row loop (only an item's modulation row needs coordinates; bench/NOTES.md v28).
Each program owns consecutive items, keeps the current item's sums in registers, and writes one
dscale/dshift partial per item (or the final row when an item is a whole group) and one dweight partial
per program. Within an item (1 + scale) is one row, so the one-block kernel's dscale and dweight sums
share one accumulator, A = sum dy * n:  dscale = a * A, dweight += (1 + scale) * A. With a single
modulation row (DW_PARTS_HOLD_A) the dscale partials would repeat the dweight partials' information, so
the program's partial row holds A alone and `sum_partials_kernel` forms dweight = (1 + scale) * sum A and
dscale = a * sum A: a third fewer partial bytes.
`sum_partials_kernel` then adds the partials in a fixed order, so the result is the same run after run.
"""
import triton
import triton.language as tl

from .common import cast_to, chunk_columns, inv_rms, load_affine, load_rows, normalize, row_coords, row_offsets


@triton.jit
def _grad_terms(xf, dyf, rstd, mod1, a, HAS_W: tl.constexpr, MODE: tl.constexpr, X_DTYPE: tl.constexpr,
                COMPUTE: tl.constexpr):
    """For a [rows, cols] tile with its rows' rstd: xhat, n, h (as the forward computed them), dh, dn."""
    xhat, n, h = normalize(xf, rstd, a, HAS_W, MODE, X_DTYPE, COMPUTE)
    dh = dyf * mod1
    return xhat, n, h, dh, _times_affine(dh, a, HAS_W)


@triton.jit
def _times_affine(dh, a, HAS_W: tl.constexpr):
    """dn = dh * a for a [rows, cols] tile (dn = dh without weight)."""
    if HAS_W:
        dh = dh * a[None, :]
    return dh


@triton.jit
def _store_rows(PTR, row_off, cols, mask, value):
    tl.store(PTR + row_off[:, None] + cols[None, :], cast_to(value, PTR.dtype.element_ty), mask=mask)


@triton.jit
def _add_into(PTR, cols, col_ok, value):
    """PTR[cols] += value: a program's own float32 partial row, so no other program touches it."""
    tl.store(PTR + cols, tl.load(PTR + cols, mask=col_ok, other=0.0) + value, mask=col_ok)


@triton.jit
def _replace(t, i: tl.constexpr, v):
    """Tuple t with element i replaced by v: per-chunk accumulators are tuples, updated in unrolled loops."""
    return t[:i] + (v,) + t[i + 1:]


@triton.jit
def _add_pairs(a0, b0, a1, b1):
    return a0 + a1, b0 + b1


@triton.jit
def _row_sums(squares, dn_x):
    """sum(x^2) and sum(dn * x) per row of two [rows, cols] tiles, in one reduction (one cross-warp
    exchange, not two)."""
    return tl.reduce((squares, dn_x), 1, _add_pairs)


@triton.jit
def _rows_only(row_ok, value, BLOCK_R: tl.constexpr):
    """value with rows past the end zeroed: those may hold NaN (x = 0 with eps = 0). Padded columns may
    too, but they stay in their own lanes of a column sum and are never stored."""
    if BLOCK_R > 1:
        value = tl.where(row_ok[:, None], value, 0.0)
    return value


@triton.jit
def _row_starts(rows, size1, size2, size3, s0, s1, s2, s3, LINEAR: tl.constexpr):
    """Element offset of each row's start in a tensor with lead strides s0..s3 (common.row_offsets)."""
    c0, c1, c2, c3 = row_coords(rows, size1, size2, size3)
    return row_offsets(rows, c0, c1, c2, c3, s0, s1, s2, s3, LINEAR)


@triton.jit
def _row_tiles(PTR, rows, rows_end, n_cols, size1, size2, size3, s0, s1, s2, s3, sd, LINEAR: tl.constexpr,
               BLOCK_D: tl.constexpr, NUM_CHUNKS: tl.constexpr):
    """The rows' NUM_CHUNKS [rows, BLOCK_D] tiles of PTR, in PTR's own dtype (rows >= rows_end masked)."""
    row_off = _row_starts(rows, size1, size2, size3, s0, s1, s2, s3, LINEAR)
    tiles = ()
    for c in tl.static_range(NUM_CHUNKS):
        cols, col_ok = chunk_columns(c, BLOCK_D, n_cols)
        mask = (rows < rows_end)[:, None] & col_ok[None, :]
        tiles += (tl.load(PTR + row_off[:, None] + cols.to(tl.int64)[None, :] * sd, mask=mask, other=0.0),)
    return tiles


@triton.jit
def modnorm_backward_kernel(
    X, DY, DX, W, SCALE, DW_PART, DS_OUT, DSH_OUT,
    group, n_mod, splits, rows_per_item, items_per_program, n_items,
    size1, size2, size3,
    x_s0, x_s1, x_s2, x_s3, x_sd,
    dy_s0, dy_s1, dy_s2, dy_s3, dy_sd,
    dx_s0, dx_s1, dx_s2, dx_s3,
    sc_s0, sc_s1, sc_s2, sc_s3, sc_sd,
    w_sd, eps, offset,
    MODE: tl.constexpr, HAS_W: tl.constexpr,
    NEED_DX: tl.constexpr, NEED_DW: tl.constexpr, NEED_DS: tl.constexpr, NEED_DSH: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, NUM_CHUNKS: tl.constexpr, ROW_PER_MOD: tl.constexpr,
    NUM_STAGES: tl.constexpr, STRIDED_ROWS: tl.constexpr, DW_PARTS_HOLD_A: tl.constexpr, N_COLS: tl.constexpr,
    LINEAR_ROWS: tl.constexpr,
):
    """Rows of up to NUM_CHUNKS * BLOCK_D columns, held in registers as a tuple of NUM_CHUNKS
    [BLOCK_R, BLOCK_D] tiles (chunk loops unrolled), so only the last chunk pads. ROW_PER_MOD: every row has
    its own modulation row (G == 1). Row sums are gathered lane by lane over the chunks and reduced once.

    The next row tile is in flight while the current one is worked on, one of two ways (heuristics says
    which): NUM_STAGES == 1, loaded into registers one iteration ahead (no per-row barrier: multi-row tiles);
    NUM_STAGES >= 2, the row loop software-pipelined by Triton (tl.range), which copies the tiles of the next
    NUM_STAGES - 1 iterations into shared memory (cp.async), costing no registers (one-row tiles)."""
    X_DTYPE: tl.constexpr = X.dtype.element_ty
    COMPUTE: tl.constexpr = tl.float64 if X_DTYPE == tl.float64 else tl.float32  # reference.compute_dtype
    pid = tl.program_id(0)
    tile = tl.arange(0, BLOCK_R)
    first_item = pid.to(tl.int64) * items_per_program
    last_item = tl.minimum(first_item + items_per_program, n_items)
    zeros = (tl.zeros([BLOCK_D], COMPUTE),) * NUM_CHUNKS
    inv_n = 1.0 / tl.cast(N_COLS, COMPUTE)  # 1 / D: a multiply per row, not a division
    if ROW_PER_MOD:
        # items are single rows: walk them BLOCK_R at a time; dscale/dshift rows are stored as computed
        a = (None,) * NUM_CHUNKS
        if HAS_W:
            a = ()
            for c in tl.static_range(NUM_CHUNKS):
                cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
                a += (load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE),)
        dw_acc = zeros
        if NUM_STAGES == 1:
            x_next = _row_tiles(X, first_item + tile, last_item, N_COLS, size1, size2, size3,
                                x_s0, x_s1, x_s2, x_s3, x_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
            dy_next = _row_tiles(DY, first_item + tile, last_item, N_COLS, size1, size2, size3,
                                 dy_s0, dy_s1, dy_s2, dy_s3, dy_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
            sc_next = _row_tiles(SCALE, first_item + tile, last_item, N_COLS, size1, size2, size3,
                                 sc_s0, sc_s1, sc_s2, sc_s3, sc_sd, False, BLOCK_D, NUM_CHUNKS)
            dx_row_next = _row_starts(first_item + tile, size1, size2, size3, dx_s0, dx_s1, dx_s2, dx_s3,
                                      LINEAR_ROWS)
        for start in tl.range(first_item, last_item, BLOCK_R, num_stages=NUM_STAGES):
            rows = start + tile
            row_ok = rows < last_item
            # this iteration's loads: the next tile (NUM_STAGES == 1: it goes out before this one is worked on)
            # or this one (pipelined by Triton)
            fetch = rows + BLOCK_R if NUM_STAGES == 1 else rows
            x_raw = _row_tiles(X, fetch, last_item, N_COLS, size1, size2, size3,
                               x_s0, x_s1, x_s2, x_s3, x_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
            dy_raw = _row_tiles(DY, fetch, last_item, N_COLS, size1, size2, size3,
                                dy_s0, dy_s1, dy_s2, dy_s3, dy_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
            sc_raw = _row_tiles(SCALE, fetch, last_item, N_COLS, size1, size2, size3,
                                sc_s0, sc_s1, sc_s2, sc_s3, sc_sd, False, BLOCK_D, NUM_CHUNKS)
            dx_row = _row_starts(fetch, size1, size2, size3, dx_s0, dx_s1, dx_s2, dx_s3, LINEAR_ROWS)
            if NUM_STAGES == 1:
                x_raw, x_next = x_next, x_raw
                dy_raw, dy_next = dy_next, dy_raw
                sc_raw, sc_next = sc_next, sc_raw
                dx_row, dx_row_next = dx_row_next, dx_row
            # first pass: everything that does not need rstd, and the two row sums
            xs, dys, dhs = (), (), ()
            squares = tl.zeros([BLOCK_R, BLOCK_D], COMPUTE)
            dn_x = tl.zeros([BLOCK_R, BLOCK_D], COMPUTE)
            for c in tl.static_range(NUM_CHUNKS):
                xf = x_raw[c].to(COMPUTE)
                dyf = dy_raw[c].to(COMPUTE)
                dh = dyf * (1.0 + sc_raw[c].to(COMPUTE))
                xs += (xf,)
                dys += (dyf,)
                dhs += (dh,)
                squares += xf * xf
                dn_x += _times_affine(dh, a[c], HAS_W) * xf
            sum_sq, sum_dn_x = _row_sums(squares, dn_x)
            rstd = inv_rms(sum_sq, N_COLS, eps, MODE, X_DTYPE, COMPUTE)
            # mean(dn * xhat) = rstd * sum(dn * x) / D
            mean_dn_xhat = rstd * sum_dn_x * inv_n
            for c in tl.static_range(NUM_CHUNKS):
                cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
                mask = row_ok[:, None] & col_ok[None, :]
                xhat, n, h = normalize(xs[c], rstd, a[c], HAS_W, MODE, X_DTYPE, COMPUTE)
                if NEED_DS:
                    _store_rows(DS_OUT, rows * N_COLS, cols, mask, dys[c] * h)
                if NEED_DSH:
                    _store_rows(DSH_OUT, rows * N_COLS, cols, mask, dys[c])
                if NEED_DW:
                    dw_acc = _replace(dw_acc, c, dw_acc[c] + tl.sum(_rows_only(row_ok, dhs[c] * n, BLOCK_R), 0))
                if NEED_DX:
                    dx = rstd[:, None] * (_times_affine(dhs[c], a[c], HAS_W) - xhat * mean_dn_xhat[:, None])
                    _store_rows(DX, dx_row, cols, mask, dx)
        if NEED_DW:
            for c in tl.static_range(NUM_CHUNKS):
                cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
                tl.store(DW_PART + pid.to(tl.int64) * N_COLS + cols, dw_acc[c], mask=col_ok)
    else:
        # dn = dy * g with g = (1 + scale) * a for the whole item. Only g, A (sum_dy_n) and dshift's sum stay
        # live across the row loop (not a, 1 + scale and three sums): fewer registers. dweight goes into this
        # program's own partial row once per item.
        for item in range(first_item, last_item):
            m = item // splits
            s = item % splits
            if STRIDED_ROWS:
                row_lo, step, row_hi = m * group + s, splits, (m + 1) * group
            else:
                row_lo, step = m * group + s * rows_per_item, 1
                row_hi = tl.minimum(row_lo + rows_per_item, (m + 1) * group)
            # every row of the item shares one modulation row: load it once
            if NUM_STAGES == 1:  # the item's first rows go out before its modulation row is read
                x_next = _row_tiles(X, row_lo + tile * step, row_hi, N_COLS, size1, size2, size3,
                                    x_s0, x_s1, x_s2, x_s3, x_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
                dy_next = _row_tiles(DY, row_lo + tile * step, row_hi, N_COLS, size1, size2, size3,
                                     dy_s0, dy_s1, dy_s2, dy_s3, dy_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
                dx_row_next = _row_starts(row_lo + tile * step, size1, size2, size3, dx_s0, dx_s1, dx_s2, dx_s3,
                                          LINEAR_ROWS)
            g0, g1, g2, g3 = row_coords(row_lo, size1, size2, size3)
            sc_item = SCALE + row_offsets(row_lo, g0, g1, g2, g3, sc_s0, sc_s1, sc_s2, sc_s3, False)
            g = ()
            for c in tl.static_range(NUM_CHUNKS):
                cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
                gc = 1.0 + tl.load(sc_item + cols.to(tl.int64) * sc_sd, mask=col_ok, other=0.0).to(COMPUTE)
                if HAS_W:
                    gc *= load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE)
                g += (gc,)
            sum_dy_n, dsh_acc = zeros, zeros
            for start in tl.range(row_lo, row_hi, BLOCK_R * step, num_stages=NUM_STAGES):
                rows = start + tile * step
                row_ok = rows < row_hi
                # this iteration's loads: the next tile (NUM_STAGES == 1: it goes out before this one is worked on)
                # or this one (pipelined by Triton)
                fetch = rows + BLOCK_R * step if NUM_STAGES == 1 else rows
                x_raw = _row_tiles(X, fetch, row_hi, N_COLS, size1, size2, size3,
                                   x_s0, x_s1, x_s2, x_s3, x_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
                dy_raw = _row_tiles(DY, fetch, row_hi, N_COLS, size1, size2, size3,
                                    dy_s0, dy_s1, dy_s2, dy_s3, dy_sd, LINEAR_ROWS, BLOCK_D, NUM_CHUNKS)
                dx_row = _row_starts(fetch, size1, size2, size3, dx_s0, dx_s1, dx_s2, dx_s3, LINEAR_ROWS)
                if NUM_STAGES == 1:
                    x_raw, x_next = x_next, x_raw
                    dy_raw, dy_next = dy_next, dy_raw
                    dx_row, dx_row_next = dx_row_next, dx_row
                xs, dys = (), ()
                squares = tl.zeros([BLOCK_R, BLOCK_D], COMPUTE)
                dn_x = tl.zeros([BLOCK_R, BLOCK_D], COMPUTE)
                for c in tl.static_range(NUM_CHUNKS):
                    xf = x_raw[c].to(COMPUTE)
                    dyf = dy_raw[c].to(COMPUTE)
                    xs += (xf,)
                    dys += (dyf,)
                    squares += xf * xf
                    if NEED_DX:
                        dn_x += dyf * g[c][None, :] * xf
                sum_sq, sum_dn_x = _row_sums(squares, dn_x)
                rstd = inv_rms(sum_sq, N_COLS, eps, MODE, X_DTYPE, COMPUTE)
                # mean(dn * xhat) = rstd * sum(dn * x) / D
                mean_dn_xhat = rstd * sum_dn_x * inv_n
                for c in tl.static_range(NUM_CHUNKS):
                    cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
                    mask = row_ok[:, None] & col_ok[None, :]
                    xhat, n, _ = normalize(xs[c], rstd, None, False, MODE, X_DTYPE, COMPUTE)
                    if NEED_DX:
                        dx = rstd[:, None] * (dys[c] * g[c][None, :] - xhat * mean_dn_xhat[:, None])
                        _store_rows(DX, dx_row, cols, mask, dx)
                    sum_dy_n = _replace(sum_dy_n, c, sum_dy_n[c] + tl.sum(_rows_only(row_ok, dys[c] * n, BLOCK_R), 0))
                    dsh_acc = _replace(dsh_acc, c, dsh_acc[c] + tl.sum(dys[c], 0))
            out_row = (s * n_mod + m) * N_COLS  # this item's dscale/dshift partial rows (or final rows)
            dw_row = pid.to(tl.int64) * N_COLS  # this program's dweight partial
            for c in tl.static_range(NUM_CHUNKS):
                cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
                if NEED_DS:
                    ds = sum_dy_n[c]
                    if HAS_W:
                        ds *= load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE)
                    tl.store(DS_OUT + out_row + cols, cast_to(ds, DS_OUT.dtype.element_ty), mask=col_ok)
                if NEED_DSH:
                    tl.store(DSH_OUT + out_row + cols, cast_to(dsh_acc[c], DSH_OUT.dtype.element_ty), mask=col_ok)
                if NEED_DW:
                    dw = sum_dy_n[c]
                    if not DW_PARTS_HOLD_A:
                        dw *= 1.0 + tl.load(sc_item + cols.to(tl.int64) * sc_sd, mask=col_ok, other=0.0).to(COMPUTE)
                    if item == first_item:
                        tl.store(DW_PART + dw_row + cols, dw, mask=col_ok)
                    else:
                        _add_into(DW_PART + dw_row, cols, col_ok, dw)


@triton.jit
def modnorm_backward_chunked_kernel(
    X, DY, DX, W, SCALE, DW_PART, DS_OUT, DSH_OUT,
    group, n_mod, splits, rows_per_item, items_per_program, n_items,
    size1, size2, size3,
    x_s0, x_s1, x_s2, x_s3, x_sd,
    dy_s0, dy_s1, dy_s2, dy_s3, dy_sd,
    dx_s0, dx_s1, dx_s2, dx_s3,
    sc_s0, sc_s1, sc_s2, sc_s3, sc_sd,
    w_sd, eps, offset,
    MODE: tl.constexpr, HAS_W: tl.constexpr,
    NEED_DX: tl.constexpr, NEED_DW: tl.constexpr, NEED_DS: tl.constexpr, NEED_DSH: tl.constexpr,
    BLOCK_D: tl.constexpr, ROW_PER_MOD: tl.constexpr,
    N_COLS: tl.constexpr, LINEAR_ROWS: tl.constexpr,
):
    """Rows longer than one block, one row at a time in BLOCK_D chunks: a first pass gathers sum(x^2) and
    sum(dn * x), a second writes dx and adds into this program's own zero-initialized float32 partial rows
    (DW_PART row pid; the DS_OUT/DSH_OUT rows of its items; with ROW_PER_MOD, final rows, stored directly)."""
    X_DTYPE: tl.constexpr = X.dtype.element_ty
    COMPUTE: tl.constexpr = tl.float64 if X_DTYPE == tl.float64 else tl.float32  # reference.compute_dtype
    pid = tl.program_id(0)
    first_item = pid.to(tl.int64) * items_per_program
    last_item = tl.minimum(first_item + items_per_program, n_items) - 1
    # consecutive items are consecutive row ranges: this program's rows are [row_lo, row_hi)
    row_lo = (first_item // splits) * group + (first_item % splits) * rows_per_item
    last_m = last_item // splits
    row_hi = tl.minimum(last_m * group + (last_item % splits + 1) * rows_per_item, (last_m + 1) * group)
    for row in range(row_lo, row_hi):
        rows = tl.zeros([1], tl.int64) + row
        out_row = (((row % group) // rows_per_item) * n_mod + row // group) * N_COLS
        c0, c1, c2, c3 = row_coords(rows, size1, size2, size3)
        x_row = row_offsets(rows, c0, c1, c2, c3, x_s0, x_s1, x_s2, x_s3, LINEAR_ROWS)
        dy_row = row_offsets(rows, c0, c1, c2, c3, dy_s0, dy_s1, dy_s2, dy_s3, LINEAR_ROWS)
        dx_row = row_offsets(rows, c0, c1, c2, c3, dx_s0, dx_s1, dx_s2, dx_s3, LINEAR_ROWS)
        sc_row = row_offsets(rows, c0, c1, c2, c3, sc_s0, sc_s1, sc_s2, sc_s3, False)
        sum_sq = tl.zeros([1], COMPUTE)
        sum_dnx = tl.zeros([1], COMPUTE)
        for start in range(0, N_COLS, BLOCK_D):
            cols = start + tl.arange(0, BLOCK_D)
            col_ok = cols < N_COLS
            xf = load_rows(X, x_row, x_sd, cols, col_ok[None, :], COMPUTE)
            dn = load_rows(DY, dy_row, dy_sd, cols, col_ok[None, :], COMPUTE)
            dn *= 1.0 + load_rows(SCALE, sc_row, sc_sd, cols, col_ok[None, :], COMPUTE)
            if HAS_W:
                dn *= load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE)[None, :]
            sum_sq += tl.sum(xf * xf, 1)
            sum_dnx += tl.sum(dn * xf, 1)
        rstd = inv_rms(sum_sq, N_COLS, eps, MODE, X_DTYPE, COMPUTE)
        mean_dn_xhat = rstd * sum_dnx / N_COLS
        for start in range(0, N_COLS, BLOCK_D):
            cols = start + tl.arange(0, BLOCK_D)
            col_ok = cols < N_COLS
            mask = col_ok[None, :]
            a = None
            if HAS_W:
                a = load_affine(W, cols, col_ok, w_sd, offset, MODE, X_DTYPE, COMPUTE)
            xf = load_rows(X, x_row, x_sd, cols, mask, COMPUTE)
            dyf = load_rows(DY, dy_row, dy_sd, cols, mask, COMPUTE)
            mod1 = 1.0 + load_rows(SCALE, sc_row, sc_sd, cols, mask, COMPUTE)
            xhat, n, h, dh, dn = _grad_terms(xf, dyf, rstd, mod1, a, HAS_W, MODE, X_DTYPE, COMPUTE)
            if NEED_DX:
                dx = rstd[:, None] * (dn - xhat * mean_dn_xhat[:, None])
                _store_rows(DX, dx_row, cols, mask, dx)
            if NEED_DW:
                _add_into(DW_PART + pid.to(tl.int64) * N_COLS, cols, col_ok, tl.sum(dh * n, 0))
            if ROW_PER_MOD:
                if NEED_DS:
                    tl.store(DS_OUT + out_row + cols, cast_to(tl.sum(dyf * h, 0), DS_OUT.dtype.element_ty), mask=col_ok)
                if NEED_DSH:
                    tl.store(DSH_OUT + out_row + cols, cast_to(tl.sum(dyf, 0), DSH_OUT.dtype.element_ty), mask=col_ok)
            else:
                if NEED_DS:
                    _add_into(DS_OUT + out_row, cols, col_ok, tl.sum(dyf * h, 0))
                if NEED_DSH:
                    _add_into(DSH_OUT + out_row, cols, col_ok, tl.sum(dyf, 0))


@triton.jit
def _sum_partials(PART, first, n_parts, part_stride, cols, col_ok, BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    """sum over j of PART[first + j * part_stride + cols]. BLOCK_P partials are loaded at a time into a
    [BLOCK_P, BLOCK_D] accumulator summed once at the end: a fixed order for a fixed tile (deterministic),
    with BLOCK_P independent loads in flight instead of one dependent chain."""
    parts = tl.arange(0, BLOCK_P).to(tl.int64)
    acc = tl.zeros([BLOCK_P, BLOCK_D], PART.dtype.element_ty)
    # step i + 1's tile is loaded before step i's is added (same order of adds): a step's loads go out
    # together instead of waiting on the previous adds; H100, partial sums 0.5-0.6 us faster (NOTES v18).
    # The loop's last load is masked off entirely: no memory traffic.
    mask = (parts < n_parts)[:, None] & col_ok[None, :]
    tile = tl.load(PART + first + (parts * part_stride)[:, None] + cols[None, :], mask=mask, other=0.0)
    for start in range(BLOCK_P, n_parts + BLOCK_P, BLOCK_P):
        j = start + parts
        mask = (j < n_parts)[:, None] & col_ok[None, :]
        following = tl.load(PART + first + (j * part_stride)[:, None] + cols[None, :], mask=mask, other=0.0)
        acc += tile
        tile = following
    return tl.sum(acc, 0)


@triton.jit
def sum_partials_kernel(DW_PART, DS_PART, DSH_PART, DW, DS, DSH, X, W, SCALE, n_dw_parts, splits, n_mod, n_cols,
                        w_sd, sc_sd, offset, MODE: tl.constexpr,
                        NEED_DW: tl.constexpr, NEED_DS: tl.constexpr, NEED_DSH: tl.constexpr, FROM_A: tl.constexpr,
                        BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    """The final dweight, dscale and dshift rows from the main kernel's float32 partials, in one launch.

    Output rows: row 0 (if NEED_DW) is dweight, the sum of n_dw_parts partial rows; the next n_mod rows (if
    NEED_DS) are dscale's rows m, each the sum over s of partial [s, m]; then dshift's. One program per
    (row, column block), numbered row-major on a 1-D grid: dweight's programs, which sum the most partials,
    are the first to start, not scattered through the launch (where the last would start in its last wave).

    FROM_A (one modulation row, DW_PARTS_HOLD_A): row 0's partials are A's; its programs write dweight =
    (1 + scale) * sum A and (if NEED_DS) dscale = a * sum A, and dscale has no rows of its own. X is passed
    only for its dtype (load_affine rounds a to it in "none" mode)."""
    col_blocks = tl.cdiv(n_cols, BLOCK_D)
    pid = tl.program_id(0).to(tl.int64)
    k = pid // col_blocks
    cols = (pid % col_blocks) * BLOCK_D + tl.arange(0, BLOCK_D)
    col_ok = cols < n_cols
    if NEED_DW:
        if k == 0:
            if FROM_A:  # loaded before the partials, so that their wait overlaps the sum's
                COMPUTE: tl.constexpr = DW_PART.dtype.element_ty
                mod1 = 1.0 + tl.load(SCALE + cols * sc_sd, mask=col_ok, other=0.0).to(COMPUTE)
                if NEED_DS:
                    a = load_affine(W, cols, col_ok, w_sd, offset, MODE, X.dtype.element_ty, COMPUTE)
            total = _sum_partials(DW_PART, 0, n_dw_parts, n_cols, cols, col_ok, BLOCK_P, BLOCK_D)
            if FROM_A:
                if NEED_DS:
                    tl.store(DS + cols, cast_to(a * total, DS.dtype.element_ty), mask=col_ok)
                total *= mod1
            tl.store(DW + cols, cast_to(total, DW.dtype.element_ty), mask=col_ok)
        k -= 1
    if NEED_DS and not FROM_A:
        if (k >= 0) & (k < n_mod):
            total = _sum_partials(DS_PART, k * n_cols, splits, n_mod * n_cols, cols, col_ok, BLOCK_P, BLOCK_D)
            tl.store(DS + k * n_cols + cols, cast_to(total, DS.dtype.element_ty), mask=col_ok)
        k -= n_mod
    if NEED_DSH:
        if (k >= 0) & (k < n_mod):
            total = _sum_partials(DSH_PART, k * n_cols, splits, n_mod * n_cols, cols, col_ok, BLOCK_P, BLOCK_D)
            tl.store(DSH + k * n_cols + cols, cast_to(total, DSH.dtype.element_ty), mask=col_ok)
