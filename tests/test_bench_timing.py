"""bench/run.py's timing loop (the figures themselves live in bench/, never in tests): when the inputs are
rotated so that a working set that fits in L2 is not timed from the cache, every call gets its own input
set and its own gradients, and the times are per call."""
import torch

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
