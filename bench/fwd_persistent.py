"""A forward shape no session has timed: persistent programs that hold their modulation row in registers.

    python -m bench.fwd_persistent [--shapes dit_xl,flux,lumina2,z_image] [--tiles C:W ...] [--per-sm 2,4]
                                   [--stages 1,3,5] [--orders strided,blocked]

The weight, scale and shift cost the shipped forward 1.1-1.5 us per call at Lumina2 and Z-Image (NOTES
v20-v27), and every layout measured so far reloads them for each row: one row per program, 2 or 4 rows per
program, and two persistent forwards (v6, v16) whose loop body reloaded them too; v12 looked at Triton's
shared-memory pipeline statically and set it aside because the modulation loads would be pipelined with x.
Here a program of the grid (modulation rows, P) loads its modulation row's weight, scale and shift once,
before its loop, and then visits rows p, p + P, p + 2P, ... of that modulation row (with --orders blocked,
its own consecutive rows); x is the loop's only load, so Triton's pipeline (`tl.range(num_stages=S)`) keeps
S - 1 rows of x in flight per program in shared memory, and its stores depend on nothing but that row. The
math is the shipped kernel's own (`forward._load_modulation`, `_store_chunk`, `common.inv_rms`), so on the
shipped tile (its chunks and warps) each result must equal the shipped forward's bit for bit (other tiles sum
the squares in another order: within a bf16 rounding of float64), and both are checked against float64 first.
Timed as bench.fwd_breakdown times (CUDA graphs, inputs rotated, x's L2 lines reset before each timing), beside
torch's copy and the shipped forward.
Per-batch bf16 x with contiguous (B, 1, D) scale and shift: a probe, not a kernel of the package. Needs a GPU.
"""
import argparse
import sys

import torch
import triton
import triton.language as tl

import modnorm_op
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.fwd_breakdown import FULL, expected
from bench.run import GPU_SHAPES, floor_bytes
from bench.tune import rel_err
from modnorm_op import heuristics
from modnorm_op.kernels.common import chunk_columns, inv_rms, load_rows
from modnorm_op.kernels.forward import _load_modulation, _store_chunk

LLAMA = tl.constexpr(0)  # common.MODE_IDS["llama"], the default mode
# chunk columns : warps, per shape; the first is the shipped forward's (heuristics.forward_tile)
TILES = {"dit_xl": ["256:2", "128:1"], "flux": ["1024:4", "1024:8"], "lumina2": ["512:4", "256:2"],
         "z_image": ["1024:4", "2048:8"]}


@triton.jit
def persistent_forward_kernel(X, Y, W, SCALE, SHIFT, group, eps, offset, N_COLS: tl.constexpr, BLOCK_D: tl.constexpr,
                              NUM_CHUNKS: tl.constexpr, STAGES: tl.constexpr, BLOCKED: tl.constexpr):
    """Program (m, p): rows m * group + p + k * P of x (B * T, D), P = programs per modulation row; with
    BLOCKED its own consecutive rows instead, [p * R, (p + 1) * R) of the group, R = cdiv(group, P)."""
    X_DTYPE: tl.constexpr = Y.dtype.element_ty
    COMPUTE: tl.constexpr = tl.float32
    m = tl.program_id(0).to(tl.int64)
    one_row = tl.zeros([1], tl.int64)
    mod_row = one_row + m * N_COLS
    # the modulation row, once per program: chunk c's (weight, scale, shift) tiles at index c
    ws, scs, shs = (), (), ()
    for c in tl.static_range(NUM_CHUNKS):
        cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
        a, scale, shift = _load_modulation(cols, col_ok, col_ok[None, :], W, 1, SCALE, mod_row, 1, SHIFT, mod_row,
                                           1, offset, True, True, LLAMA, X_DTYPE, COMPUTE)
        ws, scs, shs = ws + (a,), scs + (scale,), shs + (shift,)
    # then only x is loaded in the loop: the pipeline's stages hold x's rows alone
    if BLOCKED:
        per_program = tl.cdiv(group, tl.num_programs(1))
        first, last, step = tl.program_id(1) * per_program, tl.minimum((tl.program_id(1) + 1) * per_program, group), 1
    else:
        first, last, step = tl.program_id(1), group, tl.num_programs(1)
    for r in tl.range(first, last, step, num_stages=STAGES):
        row = one_row + (m * group + r) * N_COLS
        squares = tl.zeros([1, BLOCK_D], COMPUTE)
        xs = ()
        for c in tl.static_range(NUM_CHUNKS):
            cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
            xf = load_rows(X, row, 1, cols, col_ok[None, :], COMPUTE)
            squares += xf * xf
            xs += (xf,)
        rstd = inv_rms(tl.sum(squares, 1), N_COLS, eps, LLAMA, X_DTYPE, COMPUTE)
        for c in tl.static_range(NUM_CHUNKS):
            cols, col_ok = chunk_columns(c, BLOCK_D, N_COLS)
            _store_chunk(xs[c], rstd, ws[c], scs[c], shs[c], cols, col_ok[None, :], Y, row, True, True, LLAMA,
                         COMPUTE)


def persistent_forward(x, weight, scale, shift, y, chunk, warps, per_sm, stages, blocked=False, eps=1e-6):
    """x (B, T, D) contiguous, scale and shift (B, 1, D) contiguous, into y; per_sm programs per SM in all;
    blocked: each program's rows consecutive, not strided by the programs' count.
    Returns y and the compiled kernel (its registers say how many programs fit on an SM)."""
    b, t, d = x.shape
    if not (x.is_contiguous() and scale.shape == (b, 1, d) and scale.is_contiguous() and shift.is_contiguous()):
        raise ValueError("persistent_forward takes contiguous x (B, T, D) and scale, shift (B, 1, D)")
    per_mod_row = max(1, min(t, heuristics.target_programs(x.device, per_sm) // b))
    kernel = persistent_forward_kernel[(b, per_mod_row)](
        x, y, weight, scale, shift, t, eps, 0.0, N_COLS=d, BLOCK_D=chunk, NUM_CHUNKS=triton.cdiv(d, chunk),
        STAGES=stages, BLOCKED=blocked, num_warps=warps)
    return y, kernel


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="dit_xl,flux,lumina2,z_image",
                   help="bench.run's shape names, or BxTxD (tiles: --tiles, else 128:1 and 256:2)")
    p.add_argument("--tiles", nargs="*", help="C:W tiles for every shape (default: TILES per shape)")
    p.add_argument("--per-sm", default="2,4", help="programs per SM; those that do not fit (registers) skipped")
    p.add_argument("--stages", default="1,3,5", help="1: no pipeline; S: S - 1 rows of x in flight per program")
    p.add_argument("--orders", default="strided", help="a program's rows: strided (by the programs' count) and/or "
                   "blocked (consecutive)")
    args = p.parse_args(argv)
    bandwidth = gpu_bandwidth("fwd_persistent", note="; us, and x torch's copy")
    if bandwidth is None:
        return 0
    per_sm = [int(v) for v in args.per_sm.split(",")]
    stages = [int(v) for v in args.stages.split(",")]
    orders = args.orders.split(",")
    if not set(orders) <= {"strided", "blocked"}:
        p.error(f"--orders: strided and/or blocked, not {args.orders}")
    for name in args.shapes.split(","):
        shape = GPU_SHAPES[name] if name in GPU_SHAPES else tuple(int(v) for v in name.split("x"))
        (x, weight, scale, shift), xs, ys = rotated_inputs(shape)
        copies = len(xs)
        floor_us = floor_bytes(x, weight, scale)["fwd"] / bandwidth * 1e6
        shipped = modnorm_op.modulated_rms_norm(x, weight, scale, shift)
        want = expected(FULL, x, weight, scale, shift)  # float64, once per shape: every check compares with it
        err = rel_err(shipped, want)
        if not err < 1e-2:  # a bf16 output's rounding: 2e-3 to 6e-3 here
            raise SystemExit(f"{name}: the shipped forward is wrong (relative error {err:.1e}): stopping")
        ship_tile = heuristics.forward_tile(shape[2])

        def check(label, got, same_tile):
            """The shipped tile (chunks and warps): bit for bit the shipped forward. Others sum the squares in
            another order (other chunks, or other elements per thread), so rstd may differ in its last bit: then
            within a bf16 rounding of float64, as the shipped."""
            if same_tile and not torch.equal(got, shipped):
                raise SystemExit(f"{name} {label}: differs from the shipped forward")
            if not rel_err(got, want) < 1e-2:
                raise SystemExit(f"{name} {label}: wrong result")

        copy_us = graph_us(lambda: [yi.copy_(xi) for xi, yi in zip(xs, ys)], reads=xs) / copies
        def shipped_us():  # timed first and again last: the spread between them bounds the run's drift
            return graph_us(lambda: [modnorm_op.modulated_rms_norm(xi, weight, scale, shift) for xi in xs],
                            reads=xs) / copies

        ship_us = shipped_us()
        print(f"{name} {shape}, floor {floor_us:.1f} us: torch copy {copy_us:.1f}, shipped forward {ship_us:.1f} "
              f"({ship_us / copy_us:.2f}, {floor_us / ship_us:.0%} of the floor)", flush=True)
        print("| tile (chunk:warps) | rows | stages | registers | shared KB | programs/SM | us | x copy | share of "
              "floor |")
        print("|---|---|---|---|---|---|---|---|---|")
        for tile, order, s in [(t, o, s) for t in args.tiles or TILES.get(name, ["128:1", "256:2"]) for o in orders
                               for s in stages]:
            chunk, warps = (int(v) for v in tile.split(":"))
            blocked = order == "blocked"
            got, kernel = persistent_forward(x, weight, scale, shift, torch.full_like(x, float("nan")), chunk,
                                             warps, 1, s, blocked)
            same_tile = (chunk, warps) == (ship_tile.block_d, ship_tile.num_warps)
            check(f"{tile}, {order}, {s} stages", got, same_tile)
            # registers are given out per warp in blocks of 8 per thread; at most 64 warps an SM
            fit = min(64 // warps, 65536 // (triton.cdiv(kernel.n_regs, 8) * 8 * 32 * warps))
            # and 228 KB of shared memory an SM, 1 KB of it reserved per program
            fit = min(fit, 228 * 1024 // (kernel.metadata.shared + 1024))
            for n in sorted({n for n in per_sm if n < fit} | {fit}):
                out, _ = persistent_forward(x, weight, scale, shift, torch.full_like(x, float("nan")), chunk,
                                            warps, n, s, blocked)
                check(f"{tile}, {order}, {s} stages, {n}/SM", out, same_tile)
                us = graph_us(lambda: [persistent_forward(xi, weight, scale, shift, yi, chunk, warps, n, s, blocked)
                                       for xi, yi in zip(xs, ys)], reads=xs) / copies
                print(f"| {tile} | {order} | {s} | {kernel.n_regs} | {kernel.metadata.shared / 1024:.1f} | {n} | "
                      f"{us:.1f} | {us / copy_us:.2f} | {floor_us / us:.0%} |", flush=True)
        print(f"shipped forward again: {shipped_us():.1f} us\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
