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
# Longer rows: read twice, in chunks of about a third of the row (256 to 1024 columns), the chunk loop
# unrolled so that every chunk's load is in flight at once; the fewest warps that hold at most 32 of the row's
# elements per thread (the backward's rule), at least 4 per chunk (an 8-byte vector of 2-byte elements).
# Chunks: the fastest, or within 1%, at each of D = 1152, 2304, 3072, 3840, 5120 on an H100 (bench/NOTES.md
# v6); warps: 36 elements per thread were 0.1-0.3 us slower than 18 at D = 1152 and 2304 (v30), 15 slower than
# 30 at 3840 (v27); at 1088, 2240, 2432 and 4608 the rule's warps were within 0.3 us at 64-128 MB and 0.2-0.5
# us faster at 32 MB (v30). At most MAX_FORWARD_CHUNKS chunks (unrolled code): wider chunks beyond that. The next
# chunk's inputs are loaded one store ahead (kernels/forward.py): on an H100, DiT-XL 17.9 -> 16.6 us, Flux,
# Lumina2 and Z-Image under 2% faster; loading all ahead gained nothing (NOTES v10).
FORWARD_LOAD_AHEAD = 1
FORWARD_CHUNK_RANGE = (256, 1024)
FORWARD_ROW_ELEMS_PER_THREAD = 32
MIN_CHUNK_ELEMS_PER_THREAD = 4
MAX_FORWARD_CHUNKS = 16
# Backward, rows up to MAX_BLOCK_D: the row in registers as NUM_CHUNKS unrolled chunks of about a third of the
# row (a power of two, at most 1024 columns; rows up to 512 padded to one chunk and batched to
# BACKWARD_TILE_ELEMS per tile), one 16-byte vector per thread per chunk, warps doubled while a thread would
# hold more than BACKWARD_ROW_ELEMS_PER_THREAD of the row; about 8 warps per SM, at least 2 programs. The fastest
# configuration of the sweep at D = 1152, 2304, 3072, 5120, within 1% at 3840, on an H100 (bench/NOTES.md v7).
# One-row tiles: a shared-memory pipeline keeps NUM_STAGES - 1 rows in flight per program; multi-row tiles
# (D <= 512): the next tile prefetched in registers (stages 1). v7 gave rows up to 2560 the register prefetch,
# timed with inputs in L2; from DRAM (rotated inputs, H100) the pipeline is faster: DiT-XL 34.2 -> 31.1 us,
# Lumina2 56.8 -> 51.8 (NOTES v11). Short rows of a shared modulation row take 4 stages (three rows in flight):
# H100, DiT-XL (4.5 KB of x and dy a row) 31.1 -> 30.0 us, Lumina2 (9 KB) 51.9 -> 49.2; not Flux (12 KB,
# 70.3 -> 75.0), Z-Image (15 KB, 43.2 -> 44.4) or rows with their own scale row (DiT-XL per-token 50.1 ->
# 50.9) (NOTES v12). The other one-row tiles of a shared modulation row visit their item's rows strided by the
# split count (a group's programs read neighbouring rows at once, not each its own block): H100, Flux 70.2 ->
# 66.9 us, Z-Image 42.9 -> 41.8, Mochi 299 -> 296; not the deep-stage tiles (DiT-XL 30.0 -> 30.0, Lumina2
# 49.2 -> 50.1) (NOTES v13).
BACKWARD_MAX_CHUNK = 1024
BACKWARD_ROW_ELEMS_PER_THREAD = 32
BACKWARD_TILE_ELEMS = 2048
# The pipeline keeps NUM_STAGES - 1 row tiles of x, dy and (per-row modulation) scale in shared memory. Where 3
# stages would not fit in the device's shared memory per program, fewer: a launch would fail otherwise
# (float64 rows of 4K-8K columns on an H100; long rows on GPUs with less shared memory). SMEM_RESERVE is
# left for the compiler's own scratch (the row reductions).
BACKWARD_STAGES = 3
BACKWARD_DEEP_STAGES = 4
DEEP_STAGES_ROW_BYTES = 10 * 1024  # the longest row (D x column_bytes) that takes BACKWARD_DEEP_STAGES
SMEM_RESERVE = 8 * 1024
HOPPER_SMEM_PER_PROGRAM = 227 * 1024  # the limit assumed where there is no CUDA device (interpreter)
# Longer rows: two passes over each row in MAX_BLOCK_D chunks, one program per SM (v4's configuration).
BACKWARD_TWO_PASS = (8, 1)  # (warps, programs per SM)
# Under the Triton interpreter (CPU) a few programs exercise the same splitting logic cheaply.
INTERPRETER_PROGRAMS = 3


@dataclass(frozen=True)
class Tile:
    block_r: int  # rows per tile
    block_d: int  # columns per tile (a power of two)
    num_chunks: int  # tiles per row (forward: 1 keeps the row in registers; backward: in registers up to MAX_BLOCK_D)
    num_warps: int
    programs_per_sm: int = 0  # backward only: size of the persistent grid
    num_stages: int = 1  # backward only: row tiles in flight per program (software pipeline depth)
    load_ahead: int = 0  # forward only: chunks whose inputs are loaded ahead of the stores (kernels/forward.py)
    strided_rows: bool = False  # backward only: an item's rows strided by the split count, not consecutive


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
    num_warps = triton.next_power_of_2(triton.cdiv(d, 32 * FORWARD_ROW_ELEMS_PER_THREAD))
    num_warps = max(min(num_warps, chunk // (32 * MIN_CHUNK_ELEMS_PER_THREAD), 16), 1)
    return Tile(1, chunk, triton.cdiv(d, chunk), num_warps, load_ahead=FORWARD_LOAD_AHEAD)


@functools.lru_cache(maxsize=None)
def backward_tile(d, max_block_d=None, column_bytes=4, smem_bytes=HOPPER_SMEM_PER_PROGRAM, row_modulation=False):
    """Rows up to max_block_d: in registers as num_chunks chunks of block_d columns (modnorm_backward_kernel);
    longer rows: two passes in max_block_d chunks (modnorm_backward_chunked_kernel). Per-token rows follow
    the same rule: within 1% of their sweep's best at D = 3072. column_bytes: what one column of a row costs
    in each pipeline stage (the element sizes of x, dy and a per-row scale); smem_bytes: the device's shared
    memory per program; row_modulation: every row has its own scale row."""
    max_block_d = max_block_d or MAX_BLOCK_D
    if d > max_block_d:
        num_warps, per_sm = BACKWARD_TWO_PASS
        return Tile(1, max_block_d, triton.cdiv(d, max_block_d), num_warps, per_sm)
    padded = triton.next_power_of_2(d)
    if padded <= BACKWARD_MAX_CHUNK // 2:
        chunk, block_r = padded, max(1, BACKWARD_TILE_ELEMS // padded)
    else:
        chunk, block_r = min(triton.next_power_of_2(triton.cdiv(d, 3)), BACKWARD_MAX_CHUNK, max_block_d), 1
    num_warps = max(1, block_r * chunk // 256)
    while num_warps < 16 and block_r * d > 32 * num_warps * BACKWARD_ROW_ELEMS_PER_THREAD:
        num_warps *= 2
    stages, strided = 1, False
    if block_r == 1:
        row_cols = triton.cdiv(d, chunk) * chunk
        deep = not row_modulation and d * column_bytes <= DEEP_STAGES_ROW_BYTES
        deepest = BACKWARD_DEEP_STAGES if deep else BACKWARD_STAGES
        fits = [s for s in range(2, deepest + 1) if pipeline_smem_bytes(s, row_cols, column_bytes) <= smem_bytes]
        stages = max(fits, default=1)
        strided = not row_modulation and not deep
    return Tile(block_r, chunk, triton.cdiv(d, chunk), num_warps, max(2, 8 // num_warps), stages,
                strided_rows=strided)


def pipeline_smem_bytes(stages, row_cols, column_bytes):
    """Shared memory a one-row backward tile asks for: stages - 1 rows of row_cols columns in flight, and the
    compiler's own scratch."""
    return (stages - 1) * row_cols * column_bytes + SMEM_RESERVE


@functools.lru_cache(maxsize=None)
def _cuda_properties(index):
    return torch.cuda.get_device_properties(index)


def _properties(device):
    return _cuda_properties(device.index if device.index is not None else 0)


def smem_per_program(device):
    """Shared memory one program may use (opt-in maximum) on device."""
    if device.type != "cuda":
        return HOPPER_SMEM_PER_PROGRAM
    props = _properties(device)
    return getattr(props, "shared_memory_per_block_optin", props.shared_memory_per_block)


def target_programs(device, programs_per_sm):
    if device.type == "cuda":
        return _properties(device).multi_processor_count * programs_per_sm
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
    # as many items as fit in the target grid, rounded down: rounding up (v1-v11) could leave items for a
    # second one per program, half the programs with the same partial rows (32 groups, a 264 target: 288
    # items on 144 programs). More modulation rows than half the target: one item per group.
    splits = torch.sym_min(group, torch.sym_max(1, target // num_mod_rows))
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
