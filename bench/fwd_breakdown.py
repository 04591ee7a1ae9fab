"""Where the forward's time goes past a copy's: the forward's tile doing less, step by step.

    python -m bench.fwd_breakdown [--shapes lumina2,z_image]

bench/copy_at_size.py shows our forward taking 1.05-1.12x the time of `y.copy_(x)` at the short shapes. This
times, per shape and in one process (CUDA graphs, inputs rotated as bench.run does), a probe kernel on the
forward's own tile (heuristics.forward_tile: one row per program, its chunks and warps) at four levels:
  copy            each chunk of x loaded and stored (no reduction, no second read; each load waits for the
                  previous chunk's store, which the compiler must assume may alias x);
  norm            x * rstd: every chunk loaded for the sum of squares, then read again (from L2) and stored,
                  with the forward's cache hints; "in registers" keeps the chunks instead of reading them again;
  norm * weight   and the weight, loaded per chunk before its store;
  full            and scale and shift (per batch) too; "in registers" as for norm; "2 rows", "4 rows": that
                  many rows of one batch item per program, each thread on the same columns of each (the
                  warps unchanged), so that it loads the weight, scale and shift once for them; "8 mod
                  copies", "64 mod copies": the weight, scale and shift held that many times over, program
                  p reading copy p % MOD_COPIES, so that fewer programs ask L2 for the same lines at once;
then the shipped forward and torch's copy. The steps between them say what the one-row-per-program layout,
the reduction and second read, and each of the modulation loads cost. Every result is checked before
timing, and every timing starts with x's L2 lines at normal priority (bench/l2.py): the levels' evict_last
reads would otherwise leave part of x in L2 for the levels timed after them (NOTES v24). Needs a GPU.
"""
import argparse
import sys

import torch
import triton
import triton.language as tl

import modnorm_op
from bench.copy_at_size import gpu_bandwidth, graph_us, rotated_inputs
from bench.run import GPU_SHAPES, floor_bytes
from bench.tune import rel_err
from modnorm_op import heuristics

COPY, NORM, WEIGHT, FULL = 0, 1, 2, 3  # probe_kernel's LEVEL
# (label, LEVEL, x read again from L2 in the second pass (else kept in registers), rows per program, copies of
# the weight, scale and shift: probe's mod_copies)
STEPS = [("copy", COPY, False, 1, 1), ("norm", NORM, True, 1, 1), ("norm, in registers", NORM, False, 1, 1),
         ("norm * weight", WEIGHT, True, 1, 1), ("full", FULL, True, 1, 1), ("full, in registers", FULL, False, 1, 1),
         ("full, 2 rows", FULL, True, 2, 1), ("full, 4 rows", FULL, True, 4, 1),
         ("full, 8 mod copies", FULL, True, 1, 8), ("full, 64 mod copies", FULL, True, 1, 64)]


@triton.jit
def probe_kernel(X, Y, W, SCALE, SHIFT, n_cols, rows_per_mod, eps, LEVEL: tl.constexpr, REREAD: tl.constexpr,
                 BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, NUM_CHUNKS: tl.constexpr, MOD_COPIES: tl.constexpr):
    """BLOCK_R rows of one modulation row per program (the caller checks that they share it): weight, scale
    and shift are loaded once per program as [BLOCK_D] vectors and broadcast over the rows. They are held
    MOD_COPIES times over (weight (MOD_COPIES, D), scale and shift (B, MOD_COPIES, D)); program p reads copy
    p % MOD_COPIES."""
    pid = tl.program_id(0)
    first = pid.to(tl.int64) * BLOCK_R
    x_rows = (first + tl.arange(0, BLOCK_R))[:, None] * n_cols
    copy = pid % MOD_COPIES
    w_row = copy * n_cols
    mod_row = ((first // rows_per_mod) * MOD_COPIES + copy) * n_cols
    if LEVEL == 0:  # COPY
        for c in tl.static_range(NUM_CHUNKS):
            cols = c * BLOCK_D + tl.arange(0, BLOCK_D)
            ok = (cols < n_cols)[None, :]
            tl.store(Y + x_rows + cols[None, :], tl.load(X + x_rows + cols[None, :], mask=ok), mask=ok)
    else:
        squares = tl.zeros([BLOCK_R, BLOCK_D], tl.float32)
        xs = ()
        for c in tl.static_range(NUM_CHUNKS):
            cols = c * BLOCK_D + tl.arange(0, BLOCK_D)
            xf = tl.load(X + x_rows + cols[None, :], mask=(cols < n_cols)[None, :], other=0.0,
                         eviction_policy="evict_last" if REREAD else "").to(tl.float32)
            squares += xf * xf
            if not REREAD:
                xs += (xf,)
        rstd = (1.0 / tl.sqrt(tl.sum(squares, 1) / n_cols + eps))[:, None]
        for c in tl.static_range(NUM_CHUNKS):
            cols = c * BLOCK_D + tl.arange(0, BLOCK_D)
            ok = cols < n_cols
            if REREAD:
                xf = tl.load(X + x_rows + cols[None, :], mask=ok[None, :], other=0.0,
                             eviction_policy="evict_first").to(tl.float32)
            else:
                xf = xs[c]
            y = xf * rstd
            if LEVEL >= 2:  # WEIGHT, at the "llama" rounding point
                w = tl.load(W + w_row + cols, mask=ok, other=0.0).to(tl.float32)
                y = y.to(Y.dtype.element_ty).to(tl.float32) * w[None, :]
            if LEVEL == 3:  # FULL
                scale = tl.load(SCALE + mod_row + cols, mask=ok, other=0.0).to(tl.float32)
                shift = tl.load(SHIFT + mod_row + cols, mask=ok, other=0.0).to(tl.float32)
                y = y * (1.0 + scale[None, :]) + shift[None, :]
            tl.store(Y + x_rows + cols[None, :], y.to(Y.dtype.element_ty), mask=ok[None, :],
                     eviction_policy="evict_first")


def probe(level, reread, rows, x, weight, scale, shift, y, eps=1e-6, mod_copies=1):
    """probe_kernel on x (B, T, D) with per-batch scale and shift, `rows` rows per program with the forward's
    tile otherwise; with mod_copies > 1, weight, scale and shift as spread_modulation makes them."""
    tile = heuristics.forward_tile(x.shape[-1])
    if x.shape[1] % rows:
        raise ValueError(f"rows={rows} must divide T={x.shape[1]}: a program's rows share one modulation row")
    if weight.numel() != mod_copies * x.shape[-1] or scale.shape[1] != mod_copies or shift.shape[1] != mod_copies:
        raise ValueError(f"mod_copies={mod_copies}: weight (mod_copies, D), scale and shift (B, mod_copies, D) "
                         "expected (spread_modulation)")
    n_rows = x.numel() // x.shape[-1]
    probe_kernel[(n_rows // rows,)](x, y, weight, scale, shift, x.shape[-1], x.shape[1], eps, LEVEL=level,
                                    REREAD=reread, BLOCK_R=rows, BLOCK_D=tile.block_d, NUM_CHUNKS=tile.num_chunks,
                                    MOD_COPIES=mod_copies, num_warps=tile.num_warps)
    return y


def spread_modulation(weight, scale, shift, mod_copies):
    """weight (D,) and per-batch scale, shift (B, 1, D) held `mod_copies` times over, for probe."""
    return (weight.expand(mod_copies, -1).contiguous(), scale.expand(-1, mod_copies, -1).contiguous(),
            shift.expand(-1, mod_copies, -1).contiguous())


def expected(level, x, weight, scale, shift, eps=1e-6):
    if level == COPY:
        return x.double()
    n = x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + eps)
    if level == NORM:
        return n
    h = n.to(x.dtype).double() * weight.double()
    return h if level == WEIGHT else h * (1 + scale.double()) + shift.double()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="dit_xl,flux,lumina2,z_image")
    args = p.parse_args(argv)
    bandwidth = gpu_bandwidth("fwd_breakdown", note="; us, and x the copy's time")
    if bandwidth is None:
        return 0
    print("| shape | tile | torch copy | " + " | ".join(s[0] for s in STEPS) + " | modnorm_op forward |")
    print("|---|---|---|" + "---|" * len(STEPS) + "---|")
    for name in args.shapes.split(","):
        shape = GPU_SHAPES[name]
        (x, weight, scale, shift), xs, ys = rotated_inputs(shape)
        copies = len(xs)

        def check(label, got, level):
            err = rel_err(got, expected(level, x, weight, scale, shift))
            if not err < 1e-2:  # a bf16 output's rounding: 2e-3 to 6e-3 here
                raise SystemExit(f"{name} {label}: wrong result (relative error {err:.1e}): stopping")

        check("torch copy", torch.empty_like(x).copy_(x), COPY)
        mods = {k: spread_modulation(weight, scale, shift, k) for k in {step[4] for step in STEPS}}
        for label, level, reread, rows, k in STEPS:
            check(label, probe(level, reread, rows, x, *mods[k], torch.empty_like(x), mod_copies=k), level)
        check("modnorm_op forward", modnorm_op.modulated_rms_norm(x, weight, scale, shift), FULL)
        times = [graph_us(lambda: [yi.copy_(xi) for xi, yi in zip(xs, ys)], reads=xs) / copies]
        for label, level, reread, rows, k in STEPS:
            times.append(graph_us(lambda: [probe(level, reread, rows, xi, *mods[k], yi, mod_copies=k)
                                           for xi, yi in zip(xs, ys)], reads=xs) / copies)
        times.append(graph_us(lambda: [modnorm_op.modulated_rms_norm(xi, weight, scale, shift) for xi in xs],
                              reads=xs) / copies)
        tile = heuristics.forward_tile(shape[2])
        floor_us = floor_bytes(x, weight, scale)["fwd"] / bandwidth * 1e6
        cells = " | ".join(f"{t:.1f} ({t / times[0]:.2f})" for t in times)
        print(f"| {name} {shape}, floor {floor_us:.1f} | {tile.num_chunks} x {tile.block_d}, {tile.num_warps} warps | "
              f"{cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
