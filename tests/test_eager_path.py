"""The op's plain-eager routes. By default the op's own autograd kernel for CPU and CUDA (ops._autograd_kernel)
runs the forward body, and its formula the backward body (ops._backward_op_or_body), where nothing can see
the call (ops.is_plain_eager); with the opt-in fast path (modnorm_op.set_eager_fast_path) the public functions
also skip the dispatch into that kernel. Each must give exactly the op's results and gradients, and must not
be taken where something needs to see the ops (torch.compile, dispatch modes, functorch, subclasses, the
profiler)."""
import contextlib
import sys

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

import modnorm_op
from helpers import randn
from modnorm_op import ops

OP = torch.ops.modnorm.modulated_rms_norm


@contextlib.contextmanager
def _fast_path_set(enabled):
    previous = modnorm_op.set_eager_fast_path(enabled)
    try:
        yield
    finally:
        modnorm_op.set_eager_fast_path(previous)


@pytest.fixture
def fast_path():
    with _fast_path_set(True):
        yield


def _inputs(pattern, dtype, device, has_weight, has_shift, d=96):
    x = randn((3, 5, d), dtype, device)
    mod_shape = {"global": (d,), "per_batch": (3, 1, d), "per_token": (3, 5, d)}[pattern]
    weight = 1 + 0.1 * randn((d,), dtype, device) if has_weight else None
    scale = 0.5 * randn(mod_shape, torch.float32, device)
    shift = randn(mod_shape, torch.float32, device) if has_shift else None
    return x, weight, scale, shift


def _run(fn, inputs, dy):
    leaves = [t.detach().clone().requires_grad_(True) if t is not None else None for t in inputs]
    y = fn(*leaves)
    y.backward(dy)
    return [y] + [t.grad for t in leaves if t is not None]


@pytest.mark.parametrize("pattern", ["global", "per_batch", "per_token"])
@pytest.mark.parametrize("has_weight, has_shift", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_eager_path_equals_the_op_bitwise(fast_path, device, pattern, has_weight, has_shift, dtype):
    """Same bodies, same kernels, same plan: the results and every gradient are bitwise the op's."""
    torch.manual_seed(3)
    inputs = _inputs(pattern, dtype, device, has_weight, has_shift)
    dy = randn(inputs[0].shape, dtype, device)
    eager = _run(lambda *t: modnorm_op.modulated_rms_norm(*t, eps=1e-5, offset=0.0), inputs, dy)
    op = _run(lambda *t: OP(*t, 1e-5, 0.0, "llama", True), inputs, dy)
    for got, want in zip(eager, op, strict=True):
        assert got.dtype == want.dtype and torch.equal(got, want)


def _record_bodies(monkeypatch):
    """The op bodies called directly, not through the op's CPU/CUDA kernel: "forward" (ops._forward) with its
    route, "through the op" (the op's autograd kernel, reached by the dispatcher) or "fast path" (the public
    function called the autograd kernel's route itself), and "backward" (ops._backward_grads). The registered
    ops hold their own references to the bodies, so the bodies' calls from inside those kernels are not
    recorded."""
    seen = []

    def forward(*args, body=ops._forward):
        names = set()
        frame = sys._getframe(1)
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        seen.append("forward, fast path" if "eager_modulated_rms_norm" in names else "forward, through the op")
        return body(*args)

    monkeypatch.setattr(ops, "_forward", forward)
    backward = ops._backward_grads
    monkeypatch.setattr(ops, "_backward_grads", lambda *a: seen.append("backward") or backward(*a))
    return seen


def _public_calls(device):
    """A public call with gradients, one without, a direct call of the op; the first's autograd node."""
    x, weight, scale, shift = (t.requires_grad_(True) for t in _inputs("per_batch", torch.float32, device, True, True))
    y = modnorm_op.modulated_rms_norm(x, weight, scale, shift)
    y.sum().backward()
    with torch.no_grad():
        modnorm_op.modulated_rms_norm(x, weight, scale, shift)
    OP(x, weight, scale, shift, 1e-6, 0.0, "llama", True).sum().backward()
    return type(y.grad_fn).__name__


def test_public_call_goes_through_the_op_by_default(device, monkeypatch):
    """SPEC: the op is what the Python functions call. In plain eager mode the op's autograd kernel
    (ops._autograd_kernel) runs the forward body itself, and its formula the backward body
    (ops._backward_op_or_body), for public calls and direct calls of the op alike."""
    seen = _record_bodies(monkeypatch)
    node = _public_calls(device)
    assert node == "_ModulatedRMSNormFunctionBackward"  # the op's autograd kernel for CPU and CUDA
    assert seen == ["forward, through the op", "backward", "forward, through the op",
                    "forward, through the op", "backward"]


def test_fast_path_skips_the_op_in_plain_eager(fast_path, device, monkeypatch):
    """Enabled: the public calls skip the dispatcher; the direct call of the op still goes through it."""
    seen = _record_bodies(monkeypatch)
    node = _public_calls(device)
    assert node == "_ModulatedRMSNormFunctionBackward"
    assert seen == ["forward, fast path", "backward", "forward, fast path", "forward, through the op", "backward"]


def test_the_op_has_its_own_autograd_kernel_for_cpu_and_cuda():
    """register_autograd's kernel serves the other backends (e.g. meta tensors); CPU and CUDA have ours."""
    for key in ("AutogradCPU", "AutogradCUDA", "Autograd"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key("modnorm::modulated_rms_norm", key)
    x = torch.randn(2, 3, 8, device="meta", requires_grad=True)
    y = OP(x, None, torch.randn(2, 1, 8, device="meta"), None, 1e-6, 0.0, "llama", True)
    assert type(y.grad_fn).__name__.startswith("GeneratedBackwardFor_modnorm_modulated_rms_norm")


def test_set_eager_fast_path_takes_a_bool():
    with pytest.raises(TypeError, match="enabled"):
        modnorm_op.set_eager_fast_path(1)
    assert modnorm_op.set_eager_fast_path(False) is False  # the default, returned as the previous setting


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_not_plain_eager_where_the_op_must_be_seen():
    x = torch.randn(2, 3, 8)
    weight = torch.nn.Parameter(torch.ones(8))
    assert ops.is_plain_eager(x, weight, x, None)  # plain tensors and parameters
    with FakeTensorMode() as mode:
        assert not ops.is_plain_eager(mode.from_tensor(x), None, x, None)
    with _Recorder():
        assert not ops.is_plain_eager(x, None, x, None)
    assert torch.func.vmap(lambda t: torch.tensor(ops.is_plain_eager(t, None, t, None)))(x).tolist() == [False] * 2
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]):
        assert not ops.is_plain_eager(x, None, x, None)

    class Subclass(torch.Tensor):
        pass

    assert not ops.is_plain_eager(x.as_subclass(Subclass), None, x, None)


@pytest.mark.parametrize("enabled", [False, True])
def test_dispatch_modes_see_the_op(enabled):
    """A TorchDispatchMode (as FlopCounterMode, DebugMode, selective checkpointing use) sees the op, forward
    and backward, not the kernels' launches, with or without the fast path."""
    x, weight, scale, shift = (t.requires_grad_(True) for t in _inputs("per_batch", torch.float32, "cpu", True, True))
    with _fast_path_set(enabled), _Recorder() as recorder:
        modnorm_op.modulated_rms_norm(x, weight, scale, shift).sum().backward()
    assert "modnorm.modulated_rms_norm.default" in recorder.ops
    assert "modnorm.modulated_rms_norm_backward.default" in recorder.ops


@pytest.mark.parametrize("enabled", [False, True])
def test_a_dispatch_mode_around_the_backward_alone_sees_the_backward_op(enabled):
    """A forward made in plain eager mode (on the fast path when enabled), its backward under a dispatch
    mode: the one autograd formula both paths share gives the mode the backward op."""
    x, weight, scale, shift = (t.requires_grad_(True) for t in _inputs("per_batch", torch.float32, "cpu", True, True))
    with _fast_path_set(enabled):
        y = modnorm_op.modulated_rms_norm(x, weight, scale, shift)
        with _Recorder() as recorder:
            y.sum().backward()
    assert "modnorm.modulated_rms_norm_backward.default" in recorder.ops


def test_compiled_autograd_sees_the_backward_op(monkeypatch):
    """Compiled autograd traces the backward graph: the formula must take the backward op there, and the
    gradients must be bitwise the eager ones."""
    torch.manual_seed(6)
    inputs = _inputs("per_batch", torch.float32, "cpu", True, True, d=16)
    dy = randn(inputs[0].shape, torch.float32, "cpu")
    fn = lambda *t: modnorm_op.modulated_rms_norm(*t)
    want = _run(fn, inputs, dy)
    seen = _record_bodies(monkeypatch)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(compiled_autograd=True):  # not monkeypatch: its undo deletes the option
        got = torch.compile(_run)(fn, inputs, dy)
    torch._dynamo.reset()
    assert "backward" not in seen  # the gradients below were computed, so by the backward op
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)  # the same op and bodies on CPU, compiled or not


@pytest.mark.parametrize("pattern", ["per_batch", "per_token"])
def test_ops_and_their_bodies_agree_bitwise(device, pattern):
    """The two routes, the bodies in plain eager and the ops (the forward redispatched to its kernel, the
    backward op) under a dispatch mode, give bitwise the same result and gradients."""
    torch.manual_seed(4)
    inputs = _inputs(pattern, torch.bfloat16, device, True, True)
    dy = randn(inputs[0].shape, torch.bfloat16, device)
    fn = lambda *t: OP(*t, 1e-6, 0.0, "llama", True)
    body = _run(fn, inputs, dy)
    with _Recorder() as recorder:
        op = _run(fn, inputs, dy)
    assert recorder.ops.count("modnorm.modulated_rms_norm.default") == 1  # reached below autograd: redispatched
    assert "modnorm.modulated_rms_norm_backward.default" in recorder.ops
    for got, want in zip(body, op, strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("path", ["eager", "op"])
def test_double_backward_is_refused_on_both_paths(fast_path, path):
    """The backward has no autograd formula of its own: a second derivative raises, never a silent zero."""
    x, weight, scale, shift = (t.requires_grad_(True) for t in _inputs("per_batch", torch.float32, "cpu", True, True))
    fn = modnorm_op.modulated_rms_norm if path == "eager" else lambda *t: OP(*t, 1e-6, 0.0, "llama", True)
    (dx,) = torch.autograd.grad(fn(x, weight, scale, shift).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(dx.sum(), x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graph capture needs CUDA")
def test_eager_path_under_manual_cuda_graph_capture(fast_path):
    """The eager path's launches are captured by torch.cuda.graph like any kernel: replays with new input
    values give the op's results."""
    torch.manual_seed(5)
    x, weight, scale, shift = _inputs("per_batch", torch.bfloat16, "cuda", True, True, d=1152)
    with torch.no_grad():
        modnorm_op.modulated_rms_norm(x, weight, scale, shift)  # compile and plan outside the capture
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            y = modnorm_op.modulated_rms_norm(x, weight, scale, shift)
        for _ in range(3):
            x.copy_(torch.randn_like(x))
            graph.replay()
            assert torch.equal(y, OP(x, weight, scale, shift, 1e-6, 0.0, "llama", True))
