"""The kernels compiled for an H100 (sm_90) on this machine, no GPU needed (Triton compiles ahead of time).

Under torch.compile, Inductor launches our kernels itself and types Python float arguments (eps, offset) as
fp64 where Triton's own launcher uses fp32. A float64 scalar in the arithmetic would promote every value
it touches to float64: in v4 that made the backward 20x slower under Inductor. The kernels cast both
scalars to float32 first, so the float64 typing may add those two casts and nothing else. Inductor's
mutation analysis compiles the kernels with the scalars as constants: that must compile too (a failure
there makes Inductor assume every argument is written, and copy them).
"""
import os
import re

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                                reason="the interpreter does not compile kernels")

CONSTEXPRS = {
    "modnorm_forward_kernel": dict(MODE=0, HAS_W=True, HAS_SHIFT=True, BLOCK_R=1, BLOCK_D=4096, NUM_CHUNKS=1,
                                   LOAD_AHEAD=0, N_COLS=4000, LINEAR_ROWS=True, GROUP_GRID=True),
    "modnorm_backward_kernel": dict(MODE=0, HAS_W=True, NEED_DX=True, NEED_DW=True, NEED_DS=True, NEED_DSH=True,
                                    BLOCK_R=1, BLOCK_D=1024, NUM_CHUNKS=3, ROW_PER_MOD=False, NUM_STAGES=3,
                                    STRIDED_ROWS=False, DW_PARTS_HOLD_A=False, N_COLS=3000, LINEAR_ROWS=True),
    # FROM_A: the partial sums' one path with float arithmetic on offset
    "sum_partials_kernel": dict(MODE=0, NEED_DW=True, NEED_DS=True, NEED_DSH=True, FROM_A=True, BLOCK_P=64,
                                BLOCK_D=32),
}
PARTIALS = ("DW_PART", "DS_OUT", "DSH_OUT", "DS_PART", "DSH_PART")


def _compile_sm90(kernel, scalar_type="fp32", tensor_type="bf16", num_warps=4, **flags):
    """kernel compiled for sm_90 with tensor_type tensors (the backward's partials float32), its float args
    typed scalar_type, its constexprs CONSTEXPRS' overridden by flags."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {}
    for p in kernel.params:
        if p.is_constexpr:
            signature[p.name] = "constexpr"
        elif p.name.isupper():  # tensors: tensor_type, the backward's float32 partials
            signature[p.name] = "*fp32" if p.name in PARTIALS else f"*{tensor_type}"
        else:
            signature[p.name] = scalar_type if p.name in ("eps", "offset") else "i32"
    constexprs = {**CONSTEXPRS[kernel.fn.__name__], **flags}
    assert {p.name for p in kernel.params if p.is_constexpr} == set(constexprs), \
        "CONSTEXPRS out of date with the kernel's parameters"
    if scalar_type == "constexpr":
        constexprs.update({k: v for k, v in dict(eps=1e-6, offset=0.5).items() if k in signature})
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    return triton.compile(source, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=num_warps))


def _float64_ops(kernel, scalar_type):
    """float64 arithmetic in the sm_90 TTGIR of kernel, its float args typed scalar_type; the fp64 -> fp32
    truncations excepted."""
    ttgir = _compile_sm90(kernel, scalar_type).asm["ttgir"]
    return [line for line in ttgir.splitlines() if re.search(r"= arith\.\w+ .*f64", line) and "truncf" not in line]


@pytest.mark.parametrize("scalar_type", ["fp64", "constexpr"])
@pytest.mark.parametrize("name", list(CONSTEXPRS))
def test_float_arguments_typed_as_inductor_does_leave_the_math_alone(name, scalar_type):
    from modnorm_op.kernels import backward, forward

    kernel = getattr(forward, name, None) or getattr(backward, name)
    assert len(_float64_ops(kernel, scalar_type)) == len(_float64_ops(kernel, "fp32"))


def test_inspect_kernels_compiles_what_a_call_launches_and_restores_the_launcher(capsys):
    """bench/inspect_kernels.py (the no-GPU register and SASS report) keeps working, and leaves launch.py as
    it found it."""
    from bench import inspect_kernels
    from modnorm_op import heuristics
    from modnorm_op.kernels import launch

    patched = lambda: (heuristics.target_programs, heuristics.smem_per_program, heuristics.backward_tile,
                       heuristics.forward_tile, launch._launcher, launch._cached)
    before = patched()
    assert inspect_kernels.main(["2", "8", "64", "--tile", "2:64:1:1", "--fwd-tile", "1:32:2:1"]) == 0
    out = capsys.readouterr().out
    for kernel in ("modnorm_forward_kernel", "modnorm_backward_kernel", "sum_partials_kernel"):
        assert re.search(rf"{kernel}: grid \(\d+(, \d+)?,?\), \d+ warps, \d+ registers", out), out
    assert "1 warps" in out.split("modnorm_backward_kernel")[1].split("\n")[0]  # the --tile was used
    assert "grid (2, 8), 2 warps" in out.split("modnorm_forward_kernel")[1].split("\n")[0]  # and the --fwd-tile
    assert patched() == before


BACKWARD_NEEDS = ((False, True, False, True, True), (True, True, False, False, True), (True, False, True, True, False))
FLAG_CASES = {
    "modnorm_forward_kernel": [dict(HAS_W=w, HAS_SHIFT=sh, NUM_CHUNKS=chunks, LOAD_AHEAD=ahead, BLOCK_D=4096 // chunks)
                               for w in (True, False) for sh in (True, False) for chunks, ahead in ((1, 0), (4, 1))]
    + [dict(LINEAR_ROWS=False, GROUP_GRID=False),  # rows addressed through their coordinates, a 1-D grid
       dict(GROUP_GRID=False), dict(BLOCK_R=4, GROUP_GRID=True)],
    # (HAS_W, NEED_DX, NEED_DW, NEED_DS, NEED_DSH), each with items of a shared modulation row and rows of their own
    "modnorm_backward_kernel": [dict(HAS_W=w, NEED_DX=dx, NEED_DW=dw, NEED_DS=ds, NEED_DSH=dsh, ROW_PER_MOD=per_row,
                                     NUM_STAGES=stages, BLOCK_R=rows)
                                for w, dx, dw, ds, dsh in BACKWARD_NEEDS
                                for per_row, stages, rows in ((False, 3, 1), (True, 1, 2))]
    + [dict(NEED_DS=False, DW_PARTS_HOLD_A=True),  # one modulation row: A's partials only
       dict(LINEAR_ROWS=False), dict(ROW_PER_MOD=True, NUM_STAGES=1, BLOCK_R=2, LINEAR_ROWS=False)],
    "sum_partials_kernel": [dict(NEED_DW=dw, NEED_DS=ds, NEED_DSH=dsh, FROM_A=from_a)
                            for dw, ds, dsh, from_a in ((True, True, True, False), (False, True, False, False),
                                                        (True, True, True, True), (True, False, False, True))],
}


@pytest.mark.parametrize("name, flags", [(n, f) for n, cases in FLAG_CASES.items() for f in cases])
def test_every_flag_combination_compiles(name, flags):
    """Absent weight or shift, gradients not needed, load orders: each specialization compiles for sm_90
    (triton 3.6, the GPU's, rejected a None returned from a jit function that triton 3.9 accepts)."""
    from modnorm_op.kernels import backward, forward

    kernel = getattr(forward, name, None) or getattr(backward, name)
    assert _compile_sm90(kernel, **flags).asm["cubin"]


@pytest.mark.parametrize("chunks, hinted", [(4, True), (1, False)])
def test_forward_hints_the_cache_where_a_row_is_read_twice(chunks, hinted):
    """A row of several chunks is read twice: the first reads ask L2 to keep it (evict_last), the second
    reads and the stores to let it go (evict_first); a row held in registers gets no load hints
    (bench/NOTES.md v18 measured the hints)."""
    from modnorm_op.kernels import forward

    ptx = _compile_sm90(forward.modnorm_forward_kernel, NUM_CHUNKS=chunks, LOAD_AHEAD=1,
                        BLOCK_D=4096 // chunks).asm["ptx"]
    loads = [line for line in ptx.splitlines() if "ld.global" in line]
    stores = [line for line in ptx.splitlines() if "st.global" in line]
    assert any("evict_last" in line for line in loads) == hinted
    assert any("evict_first" in line for line in loads) == hinted
    assert stores and all("evict_first" in line for line in stores)


def test_backward_pipeline_fits_in_shared_memory():
    """The worst case of the one-row backward's pipeline: float64 x, dy and per-row scale at D = 8191, the
    longest row it takes. The heuristic's stage count, compiled for sm_90, stays inside the H100's 227 KB per
    program (3 stages would need 384 KB, a launch failure), and the heuristic's own estimate of it is not
    below what Triton allocates."""
    from modnorm_op import heuristics
    from modnorm_op.kernels import backward

    d, column_bytes = 8191, 3 * 8
    tile = heuristics.backward_tile(d, None, column_bytes, heuristics.HOPPER_SMEM_PER_PROGRAM)
    assert tile.num_stages == 2
    compiled = _compile_sm90(backward.modnorm_backward_kernel, tensor_type="fp64", num_warps=tile.num_warps,
                             BLOCK_R=1, BLOCK_D=tile.block_d, NUM_CHUNKS=tile.num_chunks, ROW_PER_MOD=True,
                             NUM_STAGES=tile.num_stages, N_COLS=d)
    estimate = heuristics.pipeline_smem_bytes(tile.num_stages, tile.num_chunks * tile.block_d, column_bytes)
    assert compiled.metadata.shared <= estimate <= heuristics.HOPPER_SMEM_PER_PROGRAM


def _planned_stages(d, per_row, elem_bytes, rows=4):
    """The pipeline stages launch's backward plan takes for (rows, d) x with a scale row per row or one shared
    (d,) scale, x, dy and scale of elem_bytes, on the CPU device (the H100's limit assumed)."""
    import torch

    from modnorm_op.kernels import launch

    scale_shape = (rows, d) if per_row else (d,)
    scale_strides = (d, 1) if per_row else (1,)
    plan = launch._backward_plan((rows, d), (d, 1), (d, 1), scale_shape, scale_strides, 1, scale_shape[:-1] or (1,),
                                 "llama", (True,) * 4, elem_bytes, torch.device("cpu"), 8192)
    return plan.flags["NUM_STAGES"]


@pytest.mark.parametrize("elem_bytes, per_row, stages", [
    ((2, 2, 4), True, 3),    # bf16 x and dy, float32 per-row scale: 2 x 64 KB
    ((4, 4, 4), True, 3),    # float32: 2 x 96 KB + the reserve still fits
    ((8, 8, 8), True, 2),    # float64: 2 x 192 KB would not
    ((8, 8, 8), False, 2),   # a shared modulation row is not in the pipeline: 2 x 128 KB, still too much
    ((4, 4, 8), False, 3),   # float64 scale, shared: only x and dy count
])
def test_backward_plan_sizes_the_pipeline_from_the_dtypes(elem_bytes, per_row, stages):
    """launch's plan passes the element sizes of x, dy and (per-row only) scale to the heuristic: D = 8191,
    CPU device (the H100's limit assumed)."""
    assert _planned_stages(8191, per_row, elem_bytes) == stages


@pytest.mark.parametrize("d, per_row, stages", [
    (1152, False, 4),  # DiT-XL: 4.5 KB of bf16 x and dy a row
    (2304, False, 4),  # Lumina2: 9 KB
    (3072, False, 3),  # Flux: 12 KB, slower with 4 (bench/NOTES.md v12)
    (1152, True, 3),   # a scale row per row: 3 at every D
])
def test_backward_plan_deepens_the_pipeline_for_short_shared_rows(d, per_row, stages):
    """bf16 x and dy, float32 scale: 4 stages for rows of at most DEEP_STAGES_ROW_BYTES that share a
    modulation row, 3 otherwise."""
    assert _planned_stages(d, per_row, (2, 2, 4)) == stages


@pytest.mark.parametrize("mod_rows, group, per_sm, programs, splits", [
    (32, 256, 4, 512, 16),   # DiT-XL per-batch at the shipped 4/SM: 16 rows an item, one item a program
    (32, 256, 2, 256, 8),    # at 2/SM: 256 programs (rounding up made 288 items on 144 programs)
    (2, 4096, 2, 256, 128),  # Lumina2
    (1, 4096, 2, 256, 256),  # Z-Image: one modulation row split over the grid
    (300, 3, 4, 300, 1),     # more groups than half the target: whole groups, dscale/dshift final
    (1024, 4, 4, 512, 1),    # more groups than the target: two whole groups a program
])
def test_backward_split_fills_the_grid_without_a_second_item(monkeypatch, mod_rows, group, per_sm, programs,
                                                              splits):
    """heuristics.backward_split on an H100's 132 SMs: items rounded down to the target grid, so a program
    owns at most one split item, and every row is in exactly one item."""
    import torch

    from modnorm_op import heuristics

    target = 132 * per_sm
    monkeypatch.setattr(heuristics, "target_programs", lambda device, programs_per_sm: 132 * programs_per_sm)
    split = heuristics.backward_split(mod_rows, group, torch.device("cuda"), per_sm)
    assert (split.programs, split.splits) == (programs, splits)
    assert split.programs <= target
    assert split.splits == 1 or split.items_per_program == 1
    assert (split.splits - 1) * split.rows_per_item < group <= split.splits * split.rows_per_item
