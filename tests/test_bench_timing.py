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
