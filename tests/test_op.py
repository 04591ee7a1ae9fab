"""Forward and every gradient against the float64 contract, over SPEC's broadcast patterns, dtypes and flags."""
import contextlib
import itertools

import pytest
import torch

from helpers import FLOATS, check_against_reference, op_grads, randn
from reference64 import exact64, naive_in_dtype
from modnorm_op import heuristics
from modnorm_op.kernels import launch


def _views(name, d, dtype, device):
    """(x, scale, shift) for each broadcast pattern / view kind SPEC names."""
    r = lambda *shape: randn(shape, dtype, device)
    m = lambda *shape: 0.5 * randn(shape, torch.float32, device)  # modulation, often float32 in DiTs
    if name == "global":
        return r(2, 7, d), m(d), m(d)
    if name == "per_batch_2d":  # rule 2: (B, D) with 3-D x
        return r(3, 5, d), m(3, d), m(3, d)
    if name == "per_batch_3d":
        return r(3, 5, d), m(3, 1, d), m(3, 1, d)
    if name == "per_token":
        return r(2, 5, d), m(2, 5, d), m(2, 5, d)
    if name == "per_token_2d_x":
        return r(9, d), m(9, d), m(9, d)
    if name == "shared_over_batch":
        return r(3, 5, d), m(1, 5, d), m(1, 5, d)
    if name == "sequence_first":
        return r(5, 3, d), m(1, 3, d), m(1, 3, d)
    if name == "per_frame":
        return r(2, 3, 4, d), m(2, 3, 1, d), m(2, 3, 1, d)
    if name == "chunk_of_linear":  # emb(B, 6D).chunk(6)[i][:, None]: strided, read in place
        chunks = m(2, 6 * d).chunk(6, dim=-1)
        return r(2, 5, d), chunks[1][:, None], chunks[0][:, None]
    if name == "unbind":
        scale, shift = m(3, 2, d).unbind(1)
        return r(3, 4, d), scale, shift
    if name == "expanded":
        return r(2, 5, d), m(2, 1, d).expand(2, 5, d), m(1, 5, d).expand(2, 5, d)
    if name == "x_transposed":  # non-contiguous x, sequence-first view of (B, S, D)
        return r(3, 5, d).transpose(0, 1), m(1, 3, d), m(1, 3, d)
    if name == "x_strided_cols":
        return r(4, 3, 2 * d)[..., ::2], m(4, 1, d), m(4, 1, d)
    if name == "x_1d":
        return r(d), m(d), m(d)
    raise KeyError(name)


PATTERNS = ["global", "per_batch_2d", "per_batch_3d", "per_token", "per_token_2d_x", "shared_over_batch",
            "sequence_first", "per_frame", "chunk_of_linear", "unbind", "expanded", "x_transposed",
            "x_strided_cols", "x_1d"]
# Each pattern runs every x dtype; mode, weight and shift rotate so every combination is hit somewhere.
FLAG_CYCLE = list(itertools.product(["llama", "gemma", "none"], [True, False], [True, False]))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns(device, pattern, dtype):
    mode, has_w, has_shift = FLAG_CYCLE[(PATTERNS.index(pattern) + FLOATS.index(dtype)) % len(FLAG_CYCLE)]
    torch.manual_seed(PATTERNS.index(pattern))
    x, scale, shift = _views(pattern, 48, dtype, device)
    weight = 1 + 0.1 * randn(48, dtype, device) if has_w else None
    offset = 0.5 if has_w and mode == "gemma" else 0.0
    check_against_reference(x, weight, scale, shift if has_shift else None, casting_mode=mode, offset=offset)


@pytest.mark.parametrize("mode", ["llama", "gemma", "none"])
@pytest.mark.parametrize("has_w,has_shift", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("x_dtype,mod_dtype,w_dtype", [
    (torch.bfloat16, torch.float32, torch.float32),
    (torch.bfloat16, torch.bfloat16, torch.bfloat16),
    (torch.float16, torch.float32, torch.float16),
    (torch.float32, torch.bfloat16, torch.float32),
], ids=str)
def test_modes_and_dtypes(device, mode, has_w, has_shift, x_dtype, mod_dtype, w_dtype):
    torch.manual_seed(1)
    d = 100  # not a power of two: masked columns
    x = randn((3, 6, d), x_dtype, device)
    weight = randn(d, w_dtype, device) if has_w else None
    scale, shift = 0.5 * randn((3, 1, d), mod_dtype, device), randn((3, 1, d), mod_dtype, device)
    check_against_reference(x, weight, scale, shift if has_shift else None, casting_mode=mode,
                            offset=1.0 if has_w else 0.0)


@pytest.mark.parametrize("pattern", ["global", "per_batch_2d", "per_token", "shared_over_batch", "x_transposed"])
def test_rows_longer_than_a_block(device, pattern, monkeypatch):
    """Chunked path: rows are processed in BLOCK_D pieces (lowered here so small rows exercise it)."""
    monkeypatch.setattr(heuristics, "MAX_BLOCK_D", 16)
    torch.manual_seed(2)
    x, scale, shift = _views(pattern, 53, torch.bfloat16, device)
    check_against_reference(x, randn(53, torch.float32, device), scale, shift, casting_mode="llama")
    check_against_reference(x, None, scale, None, casting_mode="none")


@contextlib.contextmanager
def _heuristic(monkeypatch, name, value):
    """heuristics.<name> set to value inside the block, with launch plans made afresh on entry and again after
    it is restored."""
    monkeypatch.setattr(heuristics, name, value)
    launch.clear_plans()
    try:
        yield
    finally:
        monkeypatch.undo()
        launch.clear_plans()


@pytest.mark.parametrize("block_r", [1, 2])
@pytest.mark.parametrize("num_chunks", [1, 4])
@pytest.mark.parametrize("load_ahead", [0, 1, 4])
def test_forward_tiles(device, load_ahead, num_chunks, block_r, monkeypatch):
    """The forward kernel's load orders (inputs loaded at each store, one chunk ahead, or all before the
    first store; the heuristic picks one per D, bench/tune.py times them), on a row of one chunk and of four
    (53 columns as 4 chunks of 16, the last masked), one row per program and two."""
    tile = heuristics.Tile(block_r, 64 // num_chunks, num_chunks, block_r, load_ahead=load_ahead)
    with _heuristic(monkeypatch, "forward_tile", lambda *args, **kwargs: tile):
        torch.manual_seed(5)
        x, scale, shift = _views("per_batch_3d", 53, torch.bfloat16, device)
        check_against_reference(x, randn(53, torch.float32, device), scale, shift, casting_mode="llama")
        check_against_reference(x, None, scale, None, casting_mode="none")


@pytest.mark.parametrize("tile", [heuristics.ReduceTile(2, 16, 1), heuristics.REDUCE_TILE])
@pytest.mark.parametrize("pattern", ["per_batch", "global"])
def test_partial_sum_tiles(device, pattern, tile, monkeypatch):
    """The partial-sum kernel (dweight's row, then dscale's and dshift's) with a tiny tile, so that the
    interpreter's 3 partials per output row take two steps, the second masked, and with the shipped one; one
    modulation row split over every program, 53 columns (a masked column block)."""
    with _heuristic(monkeypatch, "REDUCE_TILE", tile):
        torch.manual_seed(11)
        mod_shape = (1, 1, 53) if pattern == "per_batch" else (53,)
        x = randn((1, 24, 53), torch.bfloat16, device)
        check_against_reference(x, randn(53, torch.float32, device), 0.5 * randn(mod_shape, torch.float32, device),
                                randn(mod_shape, torch.float32, device))


@pytest.mark.parametrize("mode", ["llama", "gemma", "none"])
@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)], ids=["dw_ds", "dw", "ds"])
def test_one_modulation_row_gradient_subsets(device, mode, needs):
    """One scale row shared by every item: the backward keeps A = sum dy * n as dweight's only partials and
    derives dweight and dscale from their sum; each of dweight and dscale wanted alone or both (a frozen
    weight or scale), with dshift beside them."""
    torch.manual_seed(12)
    x = randn((1, 24, 53), torch.bfloat16, device)
    weight = 1 + 0.1 * randn(53, torch.float32, device)
    scale, shift = 0.5 * randn((1, 1, 53), torch.float32, device), randn((1, 1, 53), torch.float32, device)
    frozen = [name for name, need in zip(("weight", "scale"), needs) if not need]
    check_against_reference(x, weight, scale, shift, offset=0.5 if mode == "gemma" else 0.0, casting_mode=mode,
                            frozen=frozen)


@pytest.mark.parametrize("strided", [False, True])
@pytest.mark.parametrize("block_r,stages", [(1, 1), (1, 3), (2, 1)])
def test_backward_row_orders(device, strided, block_r, stages, monkeypatch):
    """The backward's items as consecutive rows and as rows strided by the split count, with the next rows in
    registers or in Triton's pipeline, one row per tile and two: one shared scale row over enough rows that each
    item has several (3 programs under the interpreter, 264 or more on a GPU)."""
    tile = heuristics.Tile(block_r, 64, 1, 1, 2, stages, strided_rows=strided)
    with _heuristic(monkeypatch, "backward_tile", lambda *args, **kwargs: tile):
        torch.manual_seed(6)
        x = randn((2, 700 if device == "cuda" else 20, 53), torch.bfloat16, device)
        scale, shift = (0.5 * randn(53, torch.float32, device) for _ in range(2))
        check_against_reference(x, randn(53, torch.float32, device), scale, shift, casting_mode="llama")


@pytest.mark.parametrize("d", [1, 2, 3, 17, 64, 127])
def test_hidden_sizes(device, d):
    torch.manual_seed(d)
    x = randn((4, 3, d), torch.bfloat16, device)
    check_against_reference(x, randn(d, torch.float32, device), 0.3 * randn((4, d), torch.float32, device),
                            randn((4, d), torch.float32, device))


@pytest.mark.parametrize("lead", [(0,), (0, 5), (4, 0)])
def test_empty_rows(device, lead):
    x = randn(lead + (32,), torch.bfloat16, device)
    scale = randn((4, 1, 32) if lead == (4, 0) else (32,), torch.float32, device)
    y, grads = op_grads(x, randn(32, torch.float32, device), scale, scale.clone(),
                        torch.zeros(lead + (32,), dtype=torch.bfloat16, device=device))
    assert y.shape == x.shape
    assert grads["weight"].abs().sum() == 0 and grads["scale"].abs().sum() == 0
    assert grads["scale"].shape == scale.shape


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("mode", ["llama", "gemma", "none"])
def test_never_less_accurate_than_pytorch_in_x_dtype(device, dtype, mode):
    """SPEC: ||op - exact|| <= ||same formula in x's dtype - exact||, exact = float64 with no rounding."""
    torch.manual_seed(3)
    x = 3 * randn((8, 16, 256), dtype, device)
    weight, scale, shift = (1 + 0.2 * randn(256, dtype, device), 0.5 * randn((8, 1, 256), dtype, device),
                            randn((8, 1, 256), dtype, device))
    import modnorm_op
    y = modnorm_op.modulated_rms_norm(x, weight, scale, shift, casting_mode=mode)
    exact = exact64(x, weight, scale, shift, 1e-6, 0.0)
    naive = naive_in_dtype(x, weight, scale, shift, 1e-6, 0.0)
    assert (y.double() - exact).norm() <= (naive.double() - exact).norm()


def test_frozen_inputs_get_no_gradient(device):
    torch.manual_seed(4)
    x = randn((2, 3, 32), torch.bfloat16, device).requires_grad_(True)
    weight, scale = randn(32, torch.float32, device), randn((2, 32), torch.float32, device).requires_grad_(True)
    import modnorm_op
    modnorm_op.modulated_rms_norm(x, weight, scale).sum().backward()
    assert weight.grad is None and x.grad is not None and scale.grad is not None
