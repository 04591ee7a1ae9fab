"""The op as a native PyTorch operator (SPEC "Composition"): opcheck on the op and its backward, and
torch.compile with fullgraph (no graph breaks, the op one opaque call) and dynamic shapes (no recompiles).
"""
import itertools

import pytest
import torch
from torch._dynamo.testing import CompileCounter, CompileCounterWithBackend
from torch._dynamo.utils import counters

import modnorm_op
from helpers import randn

D = 16
B, T = 2, 3
OP = torch.ops.modnorm.modulated_rms_norm
BACKWARD_OP = torch.ops.modnorm.modulated_rms_norm_backward
SCALE_SHAPES = {"global": (D,), "per_batch": (B, D), "per_token": (B, T, D), "shared_over_batch": (1, T, D)}

# The full matrix (weight x shift x pattern x dtype) is 32 cases per device and op. opcheck calls the op a
# dozen times per case; that is quick with the reference implementation and on CUDA, and about 25 s for
# this whole file under the Triton interpreter (tiny shapes), so both modes run the full matrix.
MATRIX = list(itertools.product([True, False], [True, False], SCALE_SHAPES, [torch.float32, torch.bfloat16]))
MATRIX_IDS = [f"{'w' if w else 'no_w'}-{'shift' if s else 'no_shift'}-{p}-{str(dt)[6:]}" for w, s, p, dt in MATRIX]


def _tensors(device, has_weight, has_shift, pattern, dtype, requires_grad):
    torch.manual_seed(0)
    leaf = lambda t: t.requires_grad_(requires_grad)
    shape = SCALE_SHAPES[pattern]
    x = leaf(randn((B, T, D), dtype, device))
    weight = leaf(randn(D, dtype, device)) if has_weight else None
    scale = leaf(0.5 * randn(shape, dtype, device))
    shift = leaf(randn(shape, dtype, device)) if has_shift else None
    return x, weight, scale, shift


@pytest.mark.parametrize("has_weight,has_shift,pattern,dtype", MATRIX, ids=MATRIX_IDS)
def test_opcheck_forward(device, has_weight, has_shift, pattern, dtype):
    """Schema, autograd registration, fake tensor (shapes, dtypes, strides vs the real op) and AOT dispatch
    with dynamic shapes, forward and backward, with every input requiring grad."""
    x, weight, scale, shift = _tensors(device, has_weight, has_shift, pattern, dtype, requires_grad=True)
    offset = 0.5 if has_weight else 0.0
    torch.library.opcheck(OP.default, (x, weight, scale, shift, 1e-6, offset, "llama", True))


@pytest.mark.parametrize("has_weight,has_shift,pattern,dtype", MATRIX, ids=MATRIX_IDS)
def test_opcheck_backward(device, has_weight, has_shift, pattern, dtype):
    """The backward op (no autograd of its own): schema and fake vs real (which grads, their shapes,
    dtypes and strides)."""
    x, weight, scale, shift = _tensors(device, has_weight, has_shift, pattern, dtype, requires_grad=False)
    dy = randn(x.shape, dtype, device)
    shift_dtype = shift.dtype if shift is not None else scale.dtype
    needs = [True, has_weight, True, has_shift]
    # "gemma" here, "llama" in the forward matrix: the fake must not depend on the mode
    torch.library.opcheck(BACKWARD_OP.default, (dy, x, weight, scale, shift_dtype, 1e-6, 0.0, "gemma", needs))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_opcheck_strided_views(device, dtype):
    """SPEC: x may be non-contiguous and scale/shift are read through their strides (emb.chunk views of a
    conditioning embedding, rule 2). The fake must still describe the real outputs (contiguous y, grads of
    the inputs' shapes)."""
    torch.manual_seed(2)
    x = randn((T, B, D), dtype, device).transpose(0, 1).requires_grad_(True)
    emb = (0.5 * randn((B, 2 * D), dtype, device)).requires_grad_(True)
    scale, shift = emb.chunk(2, dim=-1)
    weight = randn(D, torch.float32, device).requires_grad_(True)
    torch.library.opcheck(OP.default, (x, weight, scale, shift, 1e-6, 0.0, "none", True))
    dy = randn((B, T, D), dtype, device)
    torch.library.opcheck(BACKWARD_OP.default, (dy, x.detach(), weight.detach(), scale.detach(), dtype, 1e-6, 0.0,
                                                "none", [True, True, True, True]))


@pytest.mark.parametrize("needs", [[True, False, False, False], [False, True, False, False],
                                   [False, False, True, True]], ids=str)
def test_opcheck_backward_partial_needs(device, needs):
    """Only the needed gradients are returned (frozen weight: no dweight); the fake must agree on which."""
    x, weight, scale, _ = _tensors(device, True, True, "per_batch", torch.float32, requires_grad=False)
    dy = randn(x.shape, x.dtype, device)
    torch.library.opcheck(BACKWARD_OP.default, (dy, x, weight, scale, torch.bfloat16, 1e-6, 0.0, "llama", needs))
    grads = BACKWARD_OP(dy, x, weight, scale, torch.bfloat16, 1e-6, 0.0, "llama", needs)
    wanted = [t for t, need in zip((x, weight, scale, scale), needs) if need]
    assert [g.shape for g in grads] == [t.shape for t in wanted]


# ---- torch.compile (skipped under the interpreter by conftest) ----

def _model(device, dtype=torch.float32):
    """A DiT-style block fragment: modulation from a conditioning embedding, the op, then a Linear."""
    torch.manual_seed(1)
    weight = randn(D, dtype, device).requires_grad_(True)
    linear = torch.nn.Linear(D, 8, device=device, dtype=dtype)

    def block(x, emb):
        scale, shift = emb.chunk(2, dim=-1)  # strided (B, D) views: rule 2, per batch
        return linear(modnorm_op.modulated_rms_norm(x, weight, scale, shift))

    return block, [weight, *linear.parameters()]


def _run(fn, params, x, emb):
    """Forward and backward on fresh leaves; returns the output and the grads of inputs and parameters."""
    x, emb = x.detach().requires_grad_(True), emb.detach().requires_grad_(True)
    for p in params:
        p.grad = None
    out = fn(x, emb)
    out.sum().backward()
    return out.detach(), [x.grad, emb.grad] + [p.grad.clone() for p in params]


def _inputs(device, b, t, dtype=torch.float32):
    return randn((b, t, D), dtype, device), 0.5 * randn((b, 2 * D), dtype, device)


class _GraphRecorder:
    """A Dynamo backend that keeps each graph it is given and runs it as is."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        self.graphs.append(gm)
        return gm.forward


@pytest.mark.compile
def test_fullgraph_one_graph_with_the_op_opaque(device):
    """No graph breaks, one graph, and the op appears in it once as a single call (Dynamo did not trace
    into the Python validation or the kernels)."""
    torch._dynamo.reset()
    counters.clear()
    block, params = _model(device)
    recorder = _GraphRecorder()
    compiled = torch.compile(block, backend=recorder, fullgraph=True)
    x, emb = _inputs(device, B, T)
    _run(compiled, params, x, emb)
    assert len(recorder.graphs) == 1
    assert not counters["graph_break"]
    targets = [n.target for n in recorder.graphs[0].graph.nodes if n.op == "call_function"]
    assert sum(t in (OP, OP.default) for t in targets) == 1
    assert BACKWARD_OP not in targets and BACKWARD_OP.default not in targets


@pytest.mark.compile
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_compiled_matches_eager(device, dtype):
    """Inductor around the op (forward and the op's backward inside the compiled backward graph) gives
    the eager results, from one frame compiled once."""
    torch._dynamo.reset()
    block, params = _model(device, dtype)
    x, emb = _inputs(device, B, T, dtype)
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(block, backend=counter, fullgraph=True)
    out_c, grads_c = _run(compiled, params, x, emb)
    assert counter.frame_count == 1
    out_e, grads_e = _run(block, params, x, emb)
    torch.testing.assert_close(out_c, out_e)
    for got, want in zip(grads_c, grads_e):
        torch.testing.assert_close(got, want)


SHAPES = [(b, t) for b in (2, 3) for t in (5, 7, 9)]  # 2 batch sizes x 3 sequence lengths, none 0 or 1


@pytest.mark.compile
def test_dynamic_shapes_compile_once(device):
    """dynamic=True: new batch sizes and sequence lengths reuse the one graph, and stay correct.

    CompileCounter (not inductor) counts frames: with dynamic=True Dynamo traces the float eps as a symbolic
    float, Inductor's tensorify pass must specialize it for any custom op's float argument and restarts
    the first trace once, which CompileCounterWithBackend("inductor") counts as a second frame although
    nothing recompiles (torch behaviour, seen with a trivial custom op too);
    test_dynamic_shapes_inductor_one_graph covers Inductor.
    """
    torch._dynamo.reset()
    block, params = _model(device)
    counter = CompileCounter()
    compiled = torch.compile(block, backend=counter, fullgraph=True, dynamic=True)
    for b, t in SHAPES:
        x, emb = _inputs(device, b, t)
        out_c, grads_c = _run(compiled, params, x, emb)
        out_e, grads_e = _run(block, params, x, emb)
        torch.testing.assert_close(out_c, out_e)
        for got, want in zip(grads_c, grads_e):
            torch.testing.assert_close(got, want)
    assert counter.frame_count == 1


@pytest.mark.compile
def test_dynamic_shapes_inductor_one_graph(device):
    """The same with Inductor: one unique graph and no recompilation over all the shapes."""
    torch._dynamo.reset()
    counters.clear()
    block, params = _model(device)
    compiled = torch.compile(block, backend="inductor", fullgraph=True, dynamic=True)
    for b, t in SHAPES:
        x, emb = _inputs(device, b, t)
        out_c, _ = _run(compiled, params, x, emb)
        torch.testing.assert_close(out_c, block(x, emb).detach())
    assert counters["stats"]["unique_graphs"] == 1
    # a recompile would add a second cache entry to the block's code object
    assert len(torch._dynamo.eval_frame._debug_get_cache_entry_list(block)) == 1
