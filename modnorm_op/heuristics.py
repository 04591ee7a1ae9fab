"""Block sizes, warps and grids: pure functions of the shape and device, never autotuned at run time.

That keeps the first call at a new shape fast and lets CUDA graph capture run the kernels as they are.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import triton

# The widest block a kernel holds: the backward processes longer rows in chunks of this many elements (two
# passes over the row); the forward's chunks and rows in registers never exceed it.
MAX_BLOCK_D = 8192
# Forward, rows up to this long: the row (padded to a power of two) in registers, rows batched to reach
# FORWARD_TILE_ELEMS elements per program.
FORWARD_ROW_IN_REGISTERS = 1024
FORWARD_TILE_ELEMS = 2048
# Longer rows: read twice, in chunks of about a third of the row (256 to 1024 columns), the chunk loop unrolled
# so that every chunk's load is in flight at once; about 20 of the row's elements per thread, at least 4 per
# chunk (an 8-byte vector of 2-byte elements). The fastest, or within 1%, at each of D = 1152, 2304, 3072,
# 3840, 5120 on an H100 (bench/NOTES.md v6). At most MAX_FORWARD_CHUNKS chunks (unrolled code): wider
# chunks beyond that.
FORWARD_CHUNK_RANGE = (256, 1024)
ROW_ELEMS_PER_THREAD = 20
MIN_CHUNK_ELEMS_PER_THREAD = 4
MAX_FORWARD_CHUNKS = 16
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


def _block_d(d, max_block_d):
    block_d = min(triton.next_power_of_2(d), max_block_d)
    return block_d, triton.cdiv(d, block_d)


def _prev_power_of_2(n):
    return 1 << (n.bit_length() - 1)


@functools.lru_cache(maxsize=None)
def forward_tile(d, max_block_d=None, elem_bytes=2):
    """elem_bytes: x's element size. The chunked rule was measured with 2-byte x; for float32 the row in
    registers (padded, up to MAX_BLOCK_D) measured 93% (Flux) and 100% (Mochi) of the floor in v4, the
    chunked rule 85% and 92% in v6, so wider elements keep the row in registers."""
    max_block_d = max_block_d or MAX_BLOCK_D
    in_registers = max_block_d if elem_bytes > 2 else min(FORWARD_ROW_IN_REGISTERS, max_block_d)
    if d <= in_registers:
        block_d = triton.next_power_of_2(d)
        block_r = max(1, FORWARD_TILE_ELEMS // block_d)
        return Tile(block_r, block_d, 1, 4 if block_r * block_d <= 8192 else 8)
    low, high = FORWARD_CHUNK_RANGE
    chunk = min(max(_prev_power_of_2(d // 3), low), high, max_block_d)
    chunk = max(chunk, triton.next_power_of_2(triton.cdiv(d, MAX_FORWARD_CHUNKS)))
    num_warps = _prev_power_of_2(max(d // (32 * ROW_ELEMS_PER_THREAD), 1))
    num_warps = max(min(num_warps, chunk // (32 * MIN_CHUNK_ELEMS_PER_THREAD), 16), 1)
    return Tile(1, chunk, triton.cdiv(d, chunk), num_warps)


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
