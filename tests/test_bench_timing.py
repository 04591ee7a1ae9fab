"""The benchmarks' machinery (the figures themselves live in bench/, never in tests): bench/run.py's timing
loop (when the inputs are rotated so that a working set that fits in L2 is not timed from the cache, every
call gets its own input set and its own gradients, and the times are per call), bench/ab.py's import of
another checkout's package, bench/compile_block.py's rounds, and the probes' kernels and replays."""
import os
import re

import pytest
import torch

import modnorm_op

from bench import bwd_breakdown, fwd_breakdown
from bench.run import measure


def test_rotated_timing_calls_once_per_input_set_and_reports_per_call():
    seen = []

    def fn(x, weight, scale, shift, eps):
        seen.append(x.data_ptr())
        return x * weight * (1 + scale) + shift

    inputs = [torch.randn(2, 4, 8, requires_grad=True), torch.randn(8, requires_grad=True),
              torch.randn(2, 1, 8, requires_grad=True), torch.randn(2, 1, 8, requires_grad=True)]
    dy = torch.randn(2, 4, 8)
    res = measure(fn, inputs, dy, 1e-6, "cpu", copies=3)
    assert len(set(seen)) == 3  # three distinct input sets, none of them the caller's
    assert inputs[0].data_ptr() not in seen and inputs[0].grad is None
    assert all(res[k] > 0 for k in ("fwd", "fwd+bwd")) and res["bwd"] >= 0


def test_rotated_timing_gives_each_call_its_own_output():
    """Outputs are kept until a rotation ends: freed at once, the next call would write into the same
    memory, which for a short shape is still in L2 (the writes would be timed from the cache)."""
    outputs = []

    def fn(x, weight, scale, shift, eps):
        y = x * weight * (1 + scale) + shift
        outputs.append(y.data_ptr())
        return y

    inputs = [torch.randn(64, 1024, requires_grad=True), torch.randn(1024, requires_grad=True),
              torch.randn(1024, requires_grad=True), torch.randn(1024, requires_grad=True)]
    measure(fn, inputs, torch.randn(64, 1024), 1e-6, "cpu", copies=3)
    rotations = [outputs[i:i + 3] for i in range(0, len(outputs) - 2, 3)]
    assert rotations and all(len(set(r)) == 3 for r in rotations)


def test_each_timing_starts_with_every_input_sets_l2_lines_reset(monkeypatch):
    """bench.run sets the L2 lines of every input set back to normal priority before each of its timings: an
    earlier kernel's evict_last reads would leave part of them in L2 (bench/l2.py, NOTES v24)."""
    import bench.run

    resets, seen = [], set()
    monkeypatch.setattr(bench.run, "reset_l2_priority", lambda ts: resets.append({t.data_ptr() for t in ts}))

    def fn(x, weight, scale, shift, eps):
        seen.update(t.data_ptr() for t in (x, weight, scale, shift))
        return x * weight * (1 + scale) + shift

    inputs = [torch.randn(2, 4, 8, requires_grad=True), torch.randn(8, requires_grad=True),
              torch.randn(2, 1, 8, requires_grad=True), torch.randn(2, 1, 8, requires_grad=True)]
    measure(fn, inputs, torch.randn(2, 4, 8), 1e-6, "cpu", copies=3)
    assert len(resets) == 3  # forward, forward+backward, forward with autograd recording
    assert len(seen) == 12 and all(seen <= r for r in resets)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="the interpreter runs no inline PTX")
def test_l2_reset_kernel_compiles_for_sm90_with_one_applypriority_per_line():
    """bench/l2.py's kernel for an H100: each of a program's 1024 lines (8 per thread of 4 warps) gets its own
    applypriority; a CPU tensor is left alone."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from bench import l2

    source = ASTSource(fn=l2.evict_normal_kernel, signature={"BASE": "*u8", "n_lines": "i32", "BLOCK": "constexpr"},
                       constexprs={"BLOCK": 1024})
    ptx = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4)).asm["ptx"]
    assert ptx.count("applypriority.global.L2::evict_normal") == 8
    l2.reset_l2_priority([torch.ones(3)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_l2_reset_runs_on_cuda_and_leaves_the_data_alone():
    """bench/l2.py on a GPU: every line of a view's whole storage (and an empty tensor) takes the reset, and
    no value changes."""
    from bench.l2 import reset_l2_priority

    x = torch.randn(1000, 77, device="cuda")[:, 3:]
    before = x.clone()
    reset_l2_priority([x, torch.empty(0, device="cuda")])
    torch.cuda.synchronize()
    assert torch.equal(x, before)


def test_ab_runs_a_module_with_the_other_checkouts_package(tmp_path):
    """bench/ab.py imports modnorm_op from the directory it is given, and bench/ from this checkout."""
    import subprocess
    import sys
    from pathlib import Path

    other = tmp_path / "other" / "modnorm_op"  # not importable otherwise: this checkout's is installed
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("MARK = 'other'\n")
    (tmp_path / "probe.py").write_text("import bench, modnorm_op, sys\nprint(modnorm_op.MARK, sys.argv[1:])\n")
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "bench/ab.py", str(other.parent), "probe", "--flag"], cwd=root, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "other ['--flag']", out


def test_compiled_block_rounds_rotate_the_order_and_report_each_rounds_speedup(monkeypatch, tmp_path):
    """bench/compile_block.py --rounds: every variant once per round, the order rotated each round, the
    median over rounds in the row, and the range of the rounds' speedups (round r's plain over round r's
    modnorm_op) in the table. Compiling and timing are replaced by a stub that returns known times."""
    import bench.compile_block as cb

    order, times = [], {"modnorm_op": [10.0, 30.0, 20.0], "modnorm_op[call]": [5.0, 5.0, 5.0],
                        "plain": [20.0, 30.0, 10.0]}

    def stub(part, name, variant, model, x, cond, dy, ref, device, mode):
        order.append(variant)
        t = times[variant][sum(v == variant for v in order) - 1] * 1e-6
        return 1.0, (1e-3, 2e-3), ref, t, 2 * t

    monkeypatch.setattr(cb, "compile_and_time", stub)
    rows = cb.run_case("norm", "cpu_tiny", (2, 4, 16), "cpu", torch.float32, rounds=3)
    assert order == ["modnorm_op", "modnorm_op[call]", "plain", "modnorm_op[call]", "plain", "modnorm_op",
                     "plain", "modnorm_op", "modnorm_op[call]"]
    ours = next(r for r in rows if r["variant"] == "modnorm_op")
    assert ours["fwd_us_rounds"] == pytest.approx([10.0, 30.0, 20.0])
    assert (ours["fwd_us"], ours["fwd_bwd_us"]) == pytest.approx((20.0, 40.0))
    meta = dict(device_name="CPU", torch="t", triton="t", date="d", dtype="float32", timer="stub", mode=None,
                rounds=3)
    cb.write_reports(rows, meta, str(tmp_path))
    table_row = (tmp_path / "compile_block.md").read_text().splitlines()[-1]
    assert "| 1.00x (0.50-2.00) |" in table_row  # medians 20 / 20; rounds 20/10, 30/30, 10/20


def test_run_times_only_the_variants_asked_for(tmp_path):
    import json

    from bench import run

    # the peers only: the op under the Triton interpreter would take minutes of timing loops
    assert run.main(["--out", str(tmp_path), "--shapes", "small", "--variants", "eager,hf_style"]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert sorted(r["variant"] for r in rows) == ["eager", "hf_style"]
    with pytest.raises(SystemExit):
        run.main(["--out", str(tmp_path), "--variants", "modnorm_op,nonesuch"])


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="a Triton kernel: on CPU, interpreter only")
@pytest.mark.parametrize("label, level, reread, rows, mod_copies", fwd_breakdown.STEPS,
                         ids=[s[0] for s in fwd_breakdown.STEPS])
def test_forward_breakdown_probe_computes_each_level(label, level, reread, rows, mod_copies):
    """bench/fwd_breakdown.py's probe kernel, each level against its float64 expectation (D = 1152: the
    forward's five chunks of 256 columns, the last half masked; rows of one batch item per program): bf16
    output, 1e-2 as the script checks. The modulation's copies as the script makes them (all alike)."""
    from bench.run import make_inputs
    from bench.tune import rel_err

    x, w, s, sh = (t.detach() for t in make_inputs((2, 8, 1152), "per_batch", torch.bfloat16, "cpu"))
    mods = fwd_breakdown.spread_modulation(w, s, sh, mod_copies)
    got = fwd_breakdown.probe(level, reread, rows, x, *mods, torch.empty_like(x), mod_copies=mod_copies)
    assert rel_err(got, fwd_breakdown.expected(level, x, w, s, sh)) < 1e-2


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="a Triton kernel: on CPU, interpreter only")
def test_forward_breakdown_probe_reads_its_programs_copy():
    """With the modulation held 4 times over, each different, program p (row p) reads copy p % 4 of the
    weight, scale and shift, and its batch item's scale and shift."""
    from bench.run import make_inputs
    from bench.tune import rel_err

    x, w, s, sh = (t.detach() for t in make_inputs((2, 8, 1152), "per_batch", torch.bfloat16, "cpu"))
    k = 4
    ws, ss, shs = (t.clone() for t in fwd_breakdown.spread_modulation(w, s, sh, k))
    for c in range(k):  # copies that differ, so that reading another program's copy changes the result
        ws[c] *= 1 + c / 4
        ss[:, c] += c / 4
        shs[:, c] -= c / 4
    got = fwd_breakdown.probe(fwd_breakdown.FULL, True, 1, x, ws, ss, shs, torch.empty_like(x), mod_copies=k)
    copy = torch.arange(8) % k  # x's 8 rows per batch item, 16 programs: program 8 b + t reads copy t % 4
    want = torch.stack([fwd_breakdown.expected(fwd_breakdown.FULL, x[b:b + 1], ws[copy].unsqueeze(0),
                                               ss[b:b + 1, copy], shs[b:b + 1, copy])[0] for b in range(2)])
    assert rel_err(got, want) < 1e-2


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="Triton kernels: on CPU, interpreter only")
def test_backward_breakdown_replays_each_kernel_alone(monkeypatch):
    """bench/bwd_breakdown.py times the backward's two kernels apart by recording launch.py's launches and
    replaying one kernel's: nothing runs while recording (the outputs stay NaN), the main kernel's replay
    fills dx alone and the partial-sum kernel's replay then dweight, dscale and dshift, each as float64's."""
    from bench.run import make_inputs
    from bench.tune import ALIGNED, reference64, rel_err
    from modnorm_op.kernels import backward as bwd_kernels
    from modnorm_op import heuristics
    from modnorm_op.kernels import launch

    # 2 modulation rows over 8 programs: each split in 4, so dweight's, dscale's and dshift's partials are summed
    monkeypatch.setattr(heuristics, "INTERPRETER_PROGRAMS", 8)
    launch.clear_plans()
    shape = (2, 16, 96)
    x, w, s, sh = (t.detach() for t in make_inputs(shape, "per_batch", torch.bfloat16, "cpu"))
    dy = torch.randn_like(x)
    _, want = reference64(x, w, s, sh, dy)
    try:
        got = []
        recorded = bwd_breakdown.recorded_launches(lambda: got.extend(launch.backward(
            dy, x, w, s, sh.dtype, 1e-6, 0.0, "llama", ALIGNED["per_batch"](*shape[:2]), bwd_breakdown.ALL_GRADS)))
        assert [k for k, *_ in recorded] == [bwd_kernels.modnorm_backward_kernel, bwd_kernels.sum_partials_kernel]
        for out in got:
            out.fill_(float("nan"))
        bwd_breakdown.replay(recorded, bwd_kernels.modnorm_backward_kernel)
        assert rel_err(got[0], want[0]) < 1e-2 and all(g.isnan().all() for g in got[1:])
        bwd_breakdown.replay(recorded, bwd_kernels.sum_partials_kernel)
        assert all(rel_err(g, r) < 1e-2 for g, r in zip(got[1:], want[1:]))
    finally:
        launch.clear_plans()  # no plan made with the patched program count outlives the test


def test_size_scan_fit_recovers_a_fixed_cost_and_a_rate():
    """bench/size_scan.py's line: exact on points of one line, and its worst residual says when they are not."""
    from bench.size_scan import fit_line

    sizes = [16e6, 32e6, 64e6, 128e6]
    fixed, rate, worst = fit_line(sizes, [2e-6 + b / 3e12 for b in sizes])
    assert fixed == pytest.approx(2e-6, rel=1e-9) and rate == pytest.approx(3e12, rel=1e-9) and worst < 1e-12
    _, _, worst = fit_line(sizes, [2e-6 + b / 3e12 * (1.1 if b == 16e6 else 1) for b in sizes])
    assert worst > 0.01
    with pytest.raises(ValueError, match="two different sizes"):
        fit_line([16e6, 16e6], [1e-5, 1e-5])


@pytest.mark.parametrize("width", [1152, 2304, 3072, 3840, 5120, 1000, 1001])
def test_size_scan_rows_give_copy_lengths_of_its_granularity(width):
    """bench/size_scan.py's x is a whole number of COPY_ALIGN blocks (torch's copy, a cudaMemcpy, streamed
    ~20% slower at lengths of a coarser 2 KB or less: NOTES v27), within one rounding step of each size."""
    from bench.size_scan import COPY_ALIGN, row_step, rows_for

    step = row_step(width)
    assert step * width * 2 % COPY_ALIGN == 0 and (step == 1 or step // 2 * width * 2 % COPY_ALIGN)
    for megabytes in (0.02, 16, 64, 512):
        rows = rows_for(megabytes, width)
        assert rows > 0 and rows * width * 2 % COPY_ALIGN == 0
        assert abs(rows * width * 4 - megabytes * 1e6) <= step * width * 4 / 2 or rows == step


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="Triton kernels: on CPU, interpreter only")
def test_size_scan_checks_and_times_every_variant_at_every_size(monkeypatch, capsys):
    """bench/size_scan.py on the CPU with the device stubbed: every variant's result passes its check at
    each size and is timed once per rotated input set, and each variant gets a fitted line."""
    from bench import size_scan
    from bench.run import make_inputs

    def cpu_inputs(shape):
        x, w, s, sh = (t.detach() for t in make_inputs(shape, "per_batch", torch.bfloat16, "cpu"))
        return (x, w, s, sh), [x.clone(), x.clone()], [torch.empty_like(x), torch.empty_like(x)]

    calls = []
    fake_us = iter(range(10, 1000))  # strictly increasing: a line through them is not flat

    def timed(fn, reads=()):
        calls.append(len(fn()))
        return float(next(fake_us))

    monkeypatch.setattr(size_scan, "gpu_bandwidth", lambda tool, note="": 3e12)
    monkeypatch.setattr(size_scan, "rotated_inputs", cpu_inputs)
    monkeypatch.setattr(size_scan, "graph_us", timed)
    assert size_scan.main(["--widths", "1152", "--megabytes", "0.08,0.16"]) == 0  # 16 and 32 rows
    assert calls == [2] * (2 * len(size_scan.VARIANTS))
    fits = capsys.readouterr().out.splitlines()[-1]
    assert fits.startswith("| fit:") and len(re.findall(r"[0-9] GB/s", fits)) == len(size_scan.VARIANTS)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="Triton kernels: on CPU, interpreter only")
def test_tune_times_the_forward_tiles_asked_for(monkeypatch, capsys):
    """bench.tune --fwd-configs: each tile runs (checked against float64) and is timed after the
    heuristic's, under the label it was asked as; the device stubbed."""
    from bench import run, tune
    from modnorm_op import heuristics
    from modnorm_op.kernels import launch

    seen = []
    original = heuristics.forward_tile
    monkeypatch.setattr(tune, "make_inputs", lambda shape, mod, dtype, device: run.make_inputs(shape, mod, dtype, "cpu"))
    monkeypatch.setattr(tune, "_copies", lambda inputs, dy: 1)
    monkeypatch.setattr(tune, "time_fn", lambda fn, *a, **k: (fn(), seen.append(heuristics.forward_tile(96)), 1e-5)[2])
    tune.tune_forward("t", (2, 4, 96), 3e12, False, [(1, 32, 1, 2), (1, 64, 2, 0)])
    # later tests launch with the heuristic, and no plan made with a tile asked for is left
    assert heuristics.forward_tile is original and launch._forward_plan.cache_info().currsize == 0
    out = capsys.readouterr().out
    assert "WRONG" not in out and "does not fit" not in out
    assert [label in out for label in ("heuristic:", "rows 1 warps 1 chunk 32 load ahead 2:",
                                       "rows 1 warps 2 chunk 64 load ahead 0:")] == [True] * 3
    assert seen == [original(96), heuristics.Tile(1, 32, 3, 1, load_ahead=2), heuristics.Tile(1, 64, 2, 2, load_ahead=0)]


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="a Triton kernel: on CPU, interpreter only")
@pytest.mark.parametrize("chunk,stages,blocked", [(256, 1, False), (1024, 3, False), (1024, 3, True)])
def test_persistent_forward_probe_equals_the_forward(chunk, stages, blocked, monkeypatch):
    """bench/fwd_persistent.py's probe does the shipped forward's math with its own loop: bit for bit the op's
    result, for 3 modulation rows of 7 rows over 2 programs each (a program's rows strided, or consecutive,
    the second one's fewer), D = 2304 in 9 or 3 chunks (the last part-masked at 1024)."""
    from bench.fwd_persistent import persistent_forward
    from bench.run import make_inputs
    from modnorm_op import heuristics

    monkeypatch.setattr(heuristics, "target_programs", lambda device, per_sm: 6)  # 2 per modulation row
    x, w, s, sh = (t.detach() for t in make_inputs((3, 7, 2304), "per_batch", torch.bfloat16, "cpu"))
    got, _ = persistent_forward(x, w, s, sh, torch.full_like(x, float("nan")), chunk, 2, 2, stages, blocked)
    assert torch.equal(got, modnorm_op.modulated_rms_norm(x, w, s, sh))
