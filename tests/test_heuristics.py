"""heuristics.py's tiles at every row length up to MAX_BLOCK_D: each covers the row with no empty chunk and
keeps the rules its comments state. The op's tests run the kernels at a few dozen widths; these are the
widths between them. Pure functions of the shape: no kernel runs here."""
import pytest

from modnorm_op import heuristics as h

WIDTHS = range(1, h.MAX_BLOCK_D + 1)


def _is_power_of_2(n):
    return n > 0 and n & (n - 1) == 0


def _covers(tile, d):
    """The row's d columns fill every chunk but the last, and the last at least partly."""
    return (tile.num_chunks - 1) * tile.block_d < d <= tile.num_chunks * tile.block_d


@pytest.mark.parametrize("elem_bytes", [2, 4])
def test_forward_tiles_cover_the_row(elem_bytes):
    for d in WIDTHS:
        tile = h.forward_tile(d, None, elem_bytes)
        assert _covers(tile, d) and _is_power_of_2(tile.block_d), (d, tile)
        assert _is_power_of_2(tile.num_warps) and tile.num_warps <= 16, (d, tile)
        if tile.num_chunks == 1:  # the row in registers, rows batched up to a tile's worth
            assert tile.block_r * tile.block_d <= max(h.FORWARD_TILE_ELEMS, tile.block_d), (d, tile)
        else:
            assert tile.block_r == 1 and tile.num_chunks <= h.MAX_FORWARD_CHUNKS, (d, tile)


def test_forward_chunked_warps():
    """Chunked rows (2-byte x): the fewest warps that hold at most FORWARD_ROW_ELEMS_PER_THREAD of the row
    per thread, unless a chunk would then give a thread fewer than MIN_CHUNK_ELEMS_PER_THREAD elements."""
    chunked = 0
    for d in WIDTHS:
        tile = h.forward_tile(d)
        if tile.num_chunks == 1:
            continue
        chunked += 1
        threads = 32 * tile.num_warps
        assert tile.block_d >= threads * h.MIN_CHUNK_ELEMS_PER_THREAD, (d, tile)
        capped = tile.block_d < 2 * threads * h.MIN_CHUNK_ELEMS_PER_THREAD
        assert d <= threads * h.FORWARD_ROW_ELEMS_PER_THREAD or capped, (d, tile)
        assert tile.num_warps == 1 or d > threads // 2 * h.FORWARD_ROW_ELEMS_PER_THREAD, (d, tile)
    assert chunked == h.MAX_BLOCK_D - h.FORWARD_ROW_IN_REGISTERS


@pytest.mark.parametrize("column_bytes, row_modulation", [(4, False), (6, True), (16, False), (24, True)])
def test_backward_tiles_cover_the_row_and_fit(column_bytes, row_modulation):
    for d in WIDTHS:
        tile = h.backward_tile(d, None, column_bytes, h.HOPPER_SMEM_PER_PROGRAM, row_modulation)
        assert _covers(tile, d) and _is_power_of_2(tile.block_d), (d, tile)
        assert _is_power_of_2(tile.num_warps) and tile.num_warps <= 16 and tile.programs_per_sm >= 2, (d, tile)
        if tile.num_stages > 1:
            smem = h.pipeline_smem_bytes(tile.num_stages, tile.num_chunks * tile.block_d, column_bytes)
            assert tile.block_r == 1 and smem <= h.HOPPER_SMEM_PER_PROGRAM, (d, tile)
