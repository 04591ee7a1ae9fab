"""Block sizes, warps and grids: pure functions of the shape and device, never autotuned at run time.

That keeps the first call at a new shape fast and lets CUDA graph capture run the kernels as they are.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import triton

# Rows longer than this are processed in chunks of this many elements (two passes over the row).
MAX_BLOCK_D = 8192
# Elements one program of the forward kernel holds per tile: rows shorter than this are batched to reach it.
# One row per program was the fastest forward for D = 1152 ... 5120 (bench/NOTES.md, v2 and v4).
FORWARD_TILE_ELEMS = 2048
FORWARD_CHUNK = 512
# Backward, by BLOCK_D: (elements per tile, warps, programs per SM of the persistent grid), measured on an
# H100 (bench/tune.py, bench/NOTES.md v4). The row tile, the prefetched next tile and the item's
# accumulators live in registers, so wide rows get few, wide programs.
BACKWARD_CONFIGS = {2048: (4096, 4, 4), 4096: (4096, 4, 2), 8192: (8192, 8, 1)}
# Every row its own modulation row (per-token): a different loop (scale tiles, dweight in registers), whose
# best configurations were measured in v3.
BACKWARD_CONFIGS_PER_ROW = {2048: (4096, 4, 4), 4096: (8192, 8, 1), 8192: (8192, 8, 2)}
# Under the Triton interpreter (CPU) a few programs exercise the same splitting logic cheaply.
INTERPRETER_PROGRAMS = 3


@dataclass(frozen=True)
class Tile:
    block_r: int  # rows per tile
    block_d: int  # columns per tile (a power of two)
    num_chunks: int  # tiles per row: 1 keeps the row in registers
    num_warps: int
    programs_per_sm: int = 0  # backward only: size of the persistent grid
    tail_d: int = 0  # forward, num_chunks == 1: a second block of this many columns after block_d


def _block_d(d, max_block_d):
    block_d = min(triton.next_power_of_2(d), max_block_d)
    return block_d, triton.cdiv(d, block_d)


def two_blocks(d):
    """(head, tail): power-of-two blocks covering d with fewer idle lanes than one padded block
    (5120 = 4096 + 1024, 3072 = 2048 + 1024, 3840 = 2048 + 2048); tail 0 for a power of two."""
    head = triton.next_power_of_2(d + 1) // 2
    return (d, 0) if head == d else (head, triton.next_power_of_2(d - head))


@functools.lru_cache(maxsize=None)
def forward_tile(d, max_block_d=None):
    max_block_d = max_block_d or MAX_BLOCK_D
    block_d, num_chunks = _block_d(d, max_block_d)
    block_r = max(1, FORWARD_TILE_ELEMS // block_d) if num_chunks == 1 else 1
    if num_chunks == 1 and block_d >= 1.5 * d:
        # one padded block would idle a third of its lanes or more. Measured on an H100 (bench/NOTES.md v4):
        # for D = 2304, 512-column two-pass programs that re-read the row from cache; for D = 1152 and 5120,
        # the row as two blocks (1024 + 128, 4096 + 1024). A quarter idle (3072) measured best padded.
        if 2048 < d <= 4096 and FORWARD_CHUNK < max_block_d:
            return Tile(1, FORWARD_CHUNK, triton.cdiv(d, FORWARD_CHUNK), 2)
        head, tail = two_blocks(d)
        return Tile(block_r, head, 1, 2 if block_d <= 2048 else 4, tail_d=tail)
    num_warps = 4 if block_r * block_d <= 8192 else 8
    return Tile(block_r, block_d, num_chunks, num_warps)


@functools.lru_cache(maxsize=None)
def backward_tile(d, max_block_d=None, row_per_mod=False):
    """The backward keeps padded power-of-two blocks: the row as two blocks measured slower for every D
    in the sweep (bench/NOTES.md v4)."""
    block_d, num_chunks = _block_d(d, max_block_d or MAX_BLOCK_D)
    configs = BACKWARD_CONFIGS_PER_ROW if row_per_mod else BACKWARD_CONFIGS
    tile_elems, num_warps, per_sm = configs[min(max(block_d, 2048), 8192)]
    block_r = max(1, tile_elems // block_d) if num_chunks == 1 else 1
    return Tile(block_r, block_d, num_chunks, num_warps, per_sm)


@functools.lru_cache(maxsize=None)
def _sm_count(index):
    return torch.cuda.get_device_properties(index).multi_processor_count


def target_programs(device, programs_per_sm):
    if device.type == "cuda":
        return _sm_count(device.index if device.index is not None else 0) * programs_per_sm
    return INTERPRETER_PROGRAMS


@dataclass(frozen=True)
class Split:
    """How the backward spreads N = M * G rows over programs.

    Each of the M modulation rows' G rows is cut into `splits` items of `rows_per_item` rows; items are
    numbered m * splits + s and each program owns `items_per_program` consecutive items, so a contiguous
    range of rows. splits == 1 means each program sees whole groups and can write dscale/dshift directly.
    """

    splits: int
    rows_per_item: int
    items_per_program: int
    programs: int


def backward_split(num_mod_rows, group, device, programs_per_sm):
    """Integer arithmetic only, no branch on the sizes: under torch.compile with dynamic shapes the row
    counts are symbolic, and the split stays one expression of them instead of a guard per shape."""
    target = target_programs(device, programs_per_sm)
    # enough modulation rows for every program: one item per group (cdiv is then 1)
    splits = torch.sym_min(group, triton.cdiv(target, num_mod_rows))
    rows_per_item = triton.cdiv(group, splits)
    splits = triton.cdiv(group, rows_per_item)  # no empty items
    items = num_mod_rows * splits
    items_per_program = triton.cdiv(items, target)
    return Split(splits, rows_per_item, items_per_program, triton.cdiv(items, items_per_program))


@dataclass(frozen=True)
class ReduceTile:
    block_p: int  # partials added per step
    block_d: int  # columns per program
    num_warps: int


# The partial-sum kernel's tile: 32 columns (128-byte rows of float32) by 64 partials, so a D = 3072 row is
# 96 programs each with 2048 independent loads in flight. Fixed, not sized to the partial count, which is
# symbolic under dynamic shapes; a few partials only mask part of one step.
REDUCE_TILE = ReduceTile(64, 32, 4)
