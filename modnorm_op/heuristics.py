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
# Elements one program of the forward kernel holds per tile: small rows are batched to reach it.
FORWARD_TILE_ELEMS = 4096
BACKWARD_TILE_ELEMS = 4096
# Backward programs per streaming multiprocessor (persistent grid).
PROGRAMS_PER_SM = 4
# Under the Triton interpreter (CPU) a few programs exercise the same splitting logic cheaply.
INTERPRETER_PROGRAMS = 3


@dataclass(frozen=True)
class Tile:
    block_r: int  # rows per tile
    block_d: int  # columns per tile (a power of two)
    num_chunks: int  # tiles per row: 1 keeps the row in registers
    num_warps: int


@functools.lru_cache(maxsize=None)
def _tile(d, tile_elems, max_block_d):
    block_d = min(triton.next_power_of_2(d), max_block_d)
    num_chunks = triton.cdiv(d, block_d)
    block_r = max(1, tile_elems // block_d) if num_chunks == 1 else 1
    num_warps = 4 if block_r * block_d <= 4096 else 8 if block_r * block_d <= 8192 else 16
    return Tile(block_r, block_d, num_chunks, num_warps)


def forward_tile(d):
    return _tile(d, FORWARD_TILE_ELEMS, MAX_BLOCK_D)


def backward_tile(d):
    return _tile(d, BACKWARD_TILE_ELEMS, MAX_BLOCK_D)


@functools.lru_cache(maxsize=None)
def _device_programs(device_type, index):
    if device_type == "cuda":
        return torch.cuda.get_device_properties(index).multi_processor_count * PROGRAMS_PER_SM
    return INTERPRETER_PROGRAMS


def target_programs(device):
    return _device_programs(device.type, device.index if device.index is not None else 0)


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


def backward_split(num_mod_rows, group, device):
    target = target_programs(device)
    splits = 1 if num_mod_rows >= target else min(group, triton.cdiv(target, num_mod_rows))
    rows_per_item = triton.cdiv(group, splits)
    splits = triton.cdiv(group, rows_per_item)  # no empty items
    items = num_mod_rows * splits
    items_per_program = triton.cdiv(items, target)
    return Split(splits, rows_per_item, items_per_program, triton.cdiv(items, items_per_program))
